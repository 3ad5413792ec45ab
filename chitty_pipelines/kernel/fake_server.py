"""A small threaded HTTP server on 127.0.0.1 that each platform fake builds on.

A fake subclasses ``FakeService`` and registers routes; the base gives it a random free port,
request counting, latency and fault injection (429 with Retry-After, 5xx, dropped connections),
and a context manager that stops it. Faults are drawn from a seeded RNG so a test that injects
20% faults is repeatable.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes/str -> as is
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Handler = Callable[[Request], Response]


def echo_request_headers(resp: Response, req: Request) -> Response:
    """``resp`` with the request's headers added to its body (JSON: an ``echo`` field, kept in
    the fake's error envelope; text: appended)."""
    headers = dict(req.headers)
    if isinstance(resp.body, dict):
        body: Any = {**resp.body, "message": f"{resp.body.get('message', '')} request headers: {headers}",
                     "echo": {"headers": headers}}  # fmt: skip
    elif isinstance(resp.body, bytes | str):
        text = resp.body.decode() if isinstance(resp.body, bytes) else resp.body
        body = f"{text}\nrequest headers: {json.dumps(headers)}"
    else:
        body = {"message": f"request headers: {headers}", "echo": {"headers": headers}}
    return Response(resp.status, body, resp.headers)


@dataclass
class Faults:
    """Fault injection: each request fails with probability ``rate`` (429 or 5xx, or a drop)."""

    rate: float = 0.0
    retry_after_s: float = 0.0
    latency_s: float = 0.0
    statuses: tuple[int, ...] = (429, 500, 502, 503)
    drop: bool = False  # also close some connections without answering
    seed: int = 7
    # The faulted answer's body quotes the request's headers (Authorization included), as some
    # real servers and proxies do: what a client puts in its error text must not leak them.
    echo_headers: bool = False
    # A request that never gets an answer: the fake holds the connection for ``timeout_hold_s``
    # (longer than the client's read timeout, bounded so the fake can still shut down), then
    # closes it. Drawn independently of ``rate`` so 429/5xx and timeout runs can be separate.
    timeout_rate: float = 0.0
    timeout_hold_s: float = 3.0


class FakeService:
    """Base of every fake. Subclasses call ``self.route(method, pattern, handler)`` in __init__."""

    def __init__(self, faults: Faults | None = None):
        self.faults = faults or Faults()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: Counter[str] = Counter()  # "METHOD /path" -> count (answered or faulted)
        self.log: list[tuple[str, str, int]] = []  # (method, path+query, status)
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- routes -------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """``pattern`` is a path with ``{name}`` placeholders matching one segment
        (``{name:path}`` matches the rest of the path)."""
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append((method.upper(), re.compile(f"^{regex}$"), handler))

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeService:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are separate writes; with Nagle on, keep-alive clients wait for a
            # delayed ACK (~40 ms) on every response.
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeService:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.log.clear()

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    # --- dispatch -----------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        req = Request(
            h.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            {k.lower(): v for k, v in h.headers.items()},
            body,
        )
        with self._lock:
            self.requests[f"{req.method} {req.path}"] += 1
            roll = self._rng.random()
            status_pick = self._rng.choice(self.faults.statuses)
            drop_roll = self._rng.random()
            # Drawn only when enabled, so existing seeded fault sequences stay as they were.
            timeout_roll = self._rng.random() if self.faults.timeout_rate else 1.0
        if timeout_roll < self.faults.timeout_rate:
            self._hold_unanswered(h, req)
            return
        if self.faults.latency_s:
            time.sleep(self.faults.latency_s)
        if roll < self.faults.rate:
            if self.faults.drop and drop_roll < 0.25:
                h.close_connection = True
                self._record(req, h.path, 0)
                return
            headers = {"Retry-After": str(self.faults.retry_after_s)} if status_pick == 429 else {}
            resp = self.fault_response(status_pick, headers)
            self._send(h, req, self.echo_response(resp, req) if self.faults.echo_headers else resp)
            return
        self._send(h, req, self._route(req))

    def _hold_unanswered(self, h: BaseHTTPRequestHandler, req: Request) -> None:
        """The timeout fault: accept the request, say nothing until the client has given up."""
        time.sleep(self.faults.timeout_hold_s)
        h.close_connection = True
        self._record(req, h.path, 0)

    def fault_response(self, status: int, headers: dict[str, str]) -> Response:
        """What an injected fault looks like; fakes override it to use their error envelope."""
        return Response(status, {"message": f"injected fault {status}"}, headers)

    def echo_response(self, resp: Response, req: Request) -> Response:
        """A faulted answer that quotes the request's headers (``Faults.echo_headers``); fakes
        override it to put them where their clients read the error's text."""
        return echo_request_headers(resp, req)

    def _route(self, req: Request) -> Response:
        for method, regex, handler in self._routes:
            m = regex.match(req.path)
            if m and method == req.method:
                req.params = m.groupdict()
                try:
                    return handler(req)
                except Exception as exc:  # a bug in the fake shows as a 500 with its reason
                    return Response(500, {"message": f"fake error: {type(exc).__name__}: {exc}"})
        return Response(404, {"message": f"no route for {req.method} {req.path}"})

    def _send(self, h: BaseHTTPRequestHandler, req: Request, resp: Response) -> None:
        payload = resp.encoded()
        # Recorded before the answer leaves: a client that has its answer (and a test asserting
        # on the log right after) must find the request logged.
        self._record(req, h.path, resp.status)
        h.send_response(resp.status)
        headers = {"Content-Type": "application/json", **resp.headers}
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if req.method != "HEAD" and payload:
            h.wfile.write(payload)

    def _record(self, req: Request, full_path: str, status: int) -> None:
        with self._lock:
            self.log.append((req.method, full_path, status))
