"""A fake Cloudflare v4 REST API for Workers KV and D1, on 127.0.0.1.

It speaks the wire protocol the official ``cloudflare`` SDK expects: the JSON envelope
(``success``, ``errors``, ``messages``, ``result``, ``result_info``), cursor pagination of KV keys
(at most 1,000 a page), raw value bytes with an ``expiration`` header, and D1's ``query`` and
``raw`` endpoints backed by a real SQLite database per D1 id (D1 *is* SQLite, so the SQL the
client sends is executed, not pattern-matched).

Besides the base's fault injection it enforces a bearer token (403 + code 10000, as the real API
answers a bad or revoked token) and a sliding-window rate limit (429 + Retry-After + code 971,
as the real API does past 1,200 requests per 5 minutes).
"""

from __future__ import annotations

import base64
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from chitty_pipelines.kernel.fake_server import FakeService, Faults, Request, Response

_ACCOUNT = "/accounts/{account}"
D1_MAX_PARAMS = 100


def envelope(result: Any = None, result_info: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return body


def error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    return Response(status, body, headers or {})


@dataclass
class KvEntry:
    value: bytes
    expiration: int | None = None
    metadata: Any = None


class FakeCloudflare(FakeService):
    """Seed with ``put_kv`` / ``d1_execute``; point ``cloudflare.Cloudflare(base_url=fake.base_url)``
    at it. ``d1_statements`` records every SQL statement the client sent."""

    def __init__(
        self,
        *,
        account_id: str = "acc123",
        token: str = "cf-test-token",
        faults: Faults | None = None,
        rate_limit: int | None = None,
        rate_window_s: float = 1.0,
        rate_retry_after_s: float = 0.2,
    ):
        super().__init__(faults)
        self.account_id = account_id
        self.token = token
        self.rate_limit = rate_limit
        self.rate_window_s = rate_window_s
        self.rate_retry_after_s = rate_retry_after_s
        self.rate_limited = 0  # 429s sent by the rate limiter (not by fault injection)
        self._hits: deque[float] = deque()
        self.kv: dict[str, dict[str, KvEntry]] = {}
        self.kv_titles: dict[str, str] = {}
        self._d1: dict[str, sqlite3.Connection] = {}
        self._d1_lock = threading.Lock()
        self.d1_statements: list[str] = []
        kv = _ACCOUNT + "/storage/kv/namespaces"
        self.route("GET", "/user/tokens/verify", self._verify)
        self.route("GET", _ACCOUNT + "/tokens/verify", self._verify)
        self.route("GET", kv, self._namespaces)
        self.route("GET", kv + "/{ns}/keys", self._keys)
        self.route("GET", kv + "/{ns}/values/{key:path}", self._value)
        self.route("GET", kv + "/{ns}/metadata/{key:path}", self._metadata)
        self.route("GET", _ACCOUNT + "/d1/database", self._databases)
        self.route("POST", _ACCOUNT + "/d1/database/{db}/query", lambda r: self._d1_query(r, raw=False))
        self.route("POST", _ACCOUNT + "/d1/database/{db}/raw", lambda r: self._d1_query(r, raw=True))

    # --- seeding ------------------------------------------------------------------------
    def put_kv(
        self,
        namespace: str,
        key: str,
        value: bytes | str,
        *,
        expiration: int | None = None,
        metadata: Any = None,
    ) -> None:
        self.kv_titles.setdefault(namespace, f"ns-{namespace}")
        raw = value.encode() if isinstance(value, str) else value
        self.kv.setdefault(namespace, {})[key] = KvEntry(raw, expiration, metadata)

    def delete_kv(self, namespace: str, key: str) -> None:
        del self.kv[namespace][key]

    def d1(self, database_id: str) -> sqlite3.Connection:
        with self._d1_lock:
            if database_id not in self._d1:
                con = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
                self._d1[database_id] = con
            return self._d1[database_id]

    def d1_execute(self, database_id: str, sql: str, params: Any = ()) -> None:
        con = self.d1(database_id)
        with self._d1_lock:
            if params and isinstance(params, list) and params and isinstance(params[0], tuple | list):
                con.executemany(sql, params)
            elif params:
                con.execute(sql, params)
            else:
                con.executescript(sql)

    # --- protocol -----------------------------------------------------------------------
    def fault_response(self, status: int, headers: dict[str, str]) -> Response:
        if status == 429:
            return error(429, 971, "Please wait and consider throttling your request speed", headers)
        return error(status, 10001 if status >= 500 else 10000, f"Internal error ({status})", headers)

    def _route(self, req: Request) -> Response:
        if req.headers.get("authorization") != f"Bearer {self.token}":
            # The real API answers a malformed, wrong or revoked token on an account route like this.
            return error(403, 10000, "Authentication error")
        limited = self._rate_limited()
        if limited:
            return limited
        if req.path.startswith("/accounts/") and not req.path.startswith(f"/accounts/{self.account_id}/"):
            return error(403, 10000, "Authentication error")
        return super()._route(req)

    def _rate_limited(self) -> Response | None:
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            while self._hits and self._hits[0] <= now - self.rate_window_s:
                self._hits.popleft()
            if len(self._hits) >= self.rate_limit:
                self.rate_limited += 1
                headers = {"Retry-After": f"{self.rate_retry_after_s}"}
                return error(429, 971, "Please wait and consider throttling your request speed", headers)
            self._hits.append(now)
        return None

    def _verify(self, _req: Request) -> Response:
        return Response(200, envelope({"id": "tok-1", "status": "active"}))

    def _namespaces(self, req: Request) -> Response:
        page = int(req.arg("page", "1") or 1)
        per_page = int(req.arg("per_page", "20") or 20)
        ids = sorted(self.kv_titles)
        chunk = ids[(page - 1) * per_page : page * per_page]
        result = [{"id": i, "title": self.kv_titles[i], "supports_url_encoding": True} for i in chunk]
        info = {"page": page, "per_page": per_page, "count": len(result), "total_count": len(ids)}
        return Response(200, envelope(result, info))

    def _namespace(self, req: Request) -> dict[str, KvEntry] | None:
        return self.kv.get(req.params["ns"])

    def _keys(self, req: Request) -> Response:
        entries = self._namespace(req)
        if entries is None:
            return error(404, 10013, "list keys: 'namespace not found'")
        limit = int(float(req.arg("limit", "1000") or 1000))
        if limit < 10 or limit > 1000:
            return error(400, 10026, "limit must be between 10 and 1000")
        prefix = req.arg("prefix", "") or ""
        cursor = req.arg("cursor", "") or ""
        # The cursor is opaque to clients; here it encodes the last key returned.
        after = base64.urlsafe_b64decode(cursor.encode()).decode() if cursor else None
        names = sorted(k for k in entries if k.startswith(prefix) and (after is None or k > after))
        page, more = names[:limit], len(names) > limit
        result = []
        for name in page:
            item: dict[str, Any] = {"name": name}
            entry = entries[name]
            if entry.expiration is not None:
                item["expiration"] = entry.expiration
            if entry.metadata is not None:
                item["metadata"] = entry.metadata
            result.append(item)
        next_cursor = base64.urlsafe_b64encode(page[-1].encode()).decode() if more else ""
        return Response(200, envelope(result, {"count": len(result), "cursor": next_cursor}))

    def _entry(self, req: Request) -> KvEntry | None:
        entries = self._namespace(req)
        return None if entries is None else entries.get(unquote(req.params["key"]))

    def _value(self, req: Request) -> Response:
        entry = self._entry(req)
        if entry is None:
            return error(404, 10009, "get: 'key not found'")
        headers = {"Content-Type": "application/octet-stream"}
        if entry.expiration is not None:
            headers["expiration"] = str(entry.expiration)
        return Response(200, entry.value, headers)

    def _metadata(self, req: Request) -> Response:
        entry = self._entry(req)
        if entry is None:
            return error(404, 10009, "get: 'key not found'")
        return Response(200, envelope(entry.metadata))

    def _databases(self, _req: Request) -> Response:
        result = [{"uuid": db, "name": f"db-{db}", "version": "production"} for db in sorted(self._d1)]
        return Response(200, envelope(result, {"page": 1, "per_page": 100, "count": len(result)}))

    def _d1_query(self, req: Request, *, raw: bool) -> Response:
        db = req.params["db"]
        if db not in self._d1:
            return error(404, 7404, f"The database {db} could not be found")
        body = req.json() or {}
        sql, params = body.get("sql", ""), body.get("params") or []
        if len(params) > D1_MAX_PARAMS:
            return error(400, 7500, f"D1_ERROR: too many SQL variables (max {D1_MAX_PARAMS}): SQLITE_ERROR")
        self.d1_statements.append(sql)
        started = time.perf_counter()
        try:
            with self._d1_lock:
                cur = self._d1[db].execute(sql, params)
                columns = [d[0] for d in cur.description or ()]
                rows = [list(r) for r in cur.fetchall()]
        except sqlite3.Error as exc:
            return error(400, 7500, f"D1_ERROR: {exc}: SQLITE_ERROR")
        rows = [[_d1_value(v) for v in r] for r in rows]
        results: Any = (
            {"columns": columns, "rows": rows} if raw else [dict(zip(columns, r, strict=True)) for r in rows]
        )
        meta = {
            "changed_db": False,
            "changes": 0,
            "duration": round((time.perf_counter() - started) * 1000, 3),
            "last_row_id": 0,
            "rows_read": len(rows),
            "rows_written": 0,
            "size_after": 0,
        }
        return Response(200, envelope([{"results": results, "success": True, "meta": meta}]))


def _d1_value(value: Any) -> Any:
    # D1 returns BLOBs as arrays of byte values in JSON.
    return list(value) if isinstance(value, bytes) else value


class FaultyS3Proxy(FakeService):
    """R2's fault injection: a pass-through HTTP proxy in front of an S3 server (moto in tests).

    moto has no seeded 429/5xx/timeout faults, so this proxy adds the base's (S3's XML error
    envelope, ``SlowDown`` for 503) and forwards everything else to ``upstream`` unchanged.
    """

    _HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})

    def __init__(self, upstream: str, faults: Faults | None = None):
        super().__init__(faults)
        self.upstream = upstream.rstrip("/")
        for method in ("GET", "PUT", "POST", "DELETE", "HEAD"):
            self.route(method, "{rest:path}", self._forward)

    def _forward(self, req: Request) -> Response:
        import http.client
        from urllib.parse import urlencode, urlsplit

        target = urlsplit(self.upstream)
        query = urlencode([(k, v) for k, values in req.query.items() for v in values])
        headers = {k: v for k, v in req.headers.items() if k not in self._HOP_BY_HOP}
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
        try:
            conn.request(req.method, req.path + (f"?{query}" if query else ""), req.body or None, headers)
            upstream = conn.getresponse()
            body = upstream.read()
            out = {k: v for k, v in upstream.getheaders() if k.lower() not in self._HOP_BY_HOP}
        finally:
            conn.close()
        # The base sets Content-Type to JSON unless the answer names its own.
        out.setdefault("Content-Type", out.pop("content-type", "application/octet-stream"))
        return Response(upstream.status, body, out)

    def fault_response(self, status: int, headers: dict[str, str]) -> Response:
        code = {429: "SlowDown", 503: "SlowDown"}.get(status, "InternalError")
        xml = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>x</Message></Error>'
        return Response(status, xml, {**headers, "Content-Type": "application/xml"})
