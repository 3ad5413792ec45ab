"""HTTP plumbing shared by the ChittyOS clients, and the generic ``/health`` probe.

A reply is judged on its parsed JSON, never on substrings of the body (ChittyCheck passed on
``"success":false`` because it grepped for ``success``). "Reachable" (any HTTP answer) and
"healthy" (200 and a healthy status field) are kept apart, and latency is recorded.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import httpx

from chitty_pipelines.kernel.retry import call_with_retry, parse_retry_after

MAX_TIMEOUT_S = 10.0
HEALTHY_STATUSES = frozenset({"healthy", "ok", "operational"})  # compared lowercased
_RETRY_STATUSES = {429, 500, 502, 503, 504}


class TransientHTTPError(Exception):
    """A 429/5xx reply worth retrying; carries the response for the final report."""

    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (TransientHTTPError, httpx.TransportError))


def _retryable_but_timeouts(exc: BaseException) -> bool:
    return _retryable(exc) and not isinstance(exc, httpx.TimeoutException)


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, TransientHTTPError):
        return parse_retry_after(exc.response.headers.get("retry-after"))
    return None


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    attempts: int = 3,
    max_wait: float = 5.0,
    describe: str = "request",
    retry_timeouts: bool = True,
    **kwargs: Any,
) -> httpx.Response:
    """One request with bounded retries on transport errors, 429 and 5xx (Retry-After honoured).
    ``retry_timeouts=False`` (a probe: ``check``, the health sensor) sends a request that timed
    out only once, so a silent service costs one timeout, not ``attempts`` of them.

    After the last attempt a 5xx reply is returned (the caller reports it); a transport error
    is raised.
    """

    def once() -> httpx.Response:
        response = client.request(method, url, **kwargs)
        if response.status_code in _RETRY_STATUSES:
            raise TransientHTTPError(response)
        return response

    try:
        return call_with_retry(
            once,
            retryable=_retryable if retry_timeouts else _retryable_but_timeouts,
            retry_after=_retry_after,
            attempts=attempts,
            max_wait=max_wait,
            describe=describe,
        )
    except TransientHTTPError as exc:
        return exc.response


def parse_json(response: httpx.Response) -> Any:
    """The parsed body, or None when it is not JSON (a placeholder page, an HTML error)."""
    try:
        return response.json()
    except ValueError:
        return None


def transport_reason(exc: BaseException) -> str:
    """A transport error as text without the URL's query or any header (type and short cause)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unknown (ConnectError)"
    return f"unreachable ({type(exc).__name__})"


@cache
def ssl_context() -> ssl.SSLContext:
    """One verifying context per process: building one loads the CA bundle (~50 ms), and every
    probe would otherwise pay it."""
    return ssl.create_default_context()


def client(**kwargs: Any) -> httpx.Client:
    return httpx.Client(verify=ssl_context(), **kwargs)


def timeout(seconds: float) -> float:
    """Every ChittyOS probe has its own timeout, never more than 10 s (ChittyCheck had none)."""
    return max(0.1, min(float(seconds), MAX_TIMEOUT_S))


@dataclass
class HealthResult:
    name: str
    url: str
    reachable: bool
    healthy: bool
    http_status: int | None
    latency_ms: float
    status_text: str | None  # the status field of the body, as sent
    version: str | None
    reason: str
    # Not probed (no connection made): "not_configured" or "offline"; None when probed.
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def judge_health(name: str, url: str, status: int, body: Any, latency_ms: float) -> HealthResult:
    """200 and ``{"status": healthy|ok|HEALTHY|operational}`` (case-insensitive) is healthy."""
    status_text = body.get("status") if isinstance(body, dict) else None
    version = body.get("version") if isinstance(body, dict) else None
    if status != 200:
        reason = f"HTTP {status}"
        healthy = False
    elif not isinstance(body, dict):
        reason, healthy = "200 but the body is not a JSON object", False
    elif not isinstance(status_text, str):
        reason, healthy = "200 but the JSON has no status field", False
    elif status_text.lower() not in HEALTHY_STATUSES:
        reason, healthy = f"status {status_text!r}", False
    else:
        reason, healthy = f"status {status_text!r}", True
    return HealthResult(
        name=name,
        url=url,
        reachable=True,
        healthy=healthy,
        http_status=status,
        latency_ms=round(latency_ms, 1),
        status_text=status_text if isinstance(status_text, str) else None,
        version=version if isinstance(version, str) else None,
        reason=reason,
    )


def skipped_health(name: str, url: str, why: str, reason: str) -> HealthResult:
    """A service that was not probed (not configured, or offline): neither healthy nor failed."""
    return HealthResult(name, url, False, False, None, 0.0, None, None, reason, skipped=why)


def probe_health(
    name: str,
    url: str,
    *,
    timeout_s: float = MAX_TIMEOUT_S,
    client_factory: Callable[[], httpx.Client] | None = None,
) -> HealthResult:
    """GET ``url`` once (a probe measures, it does not retry) and judge the answer."""
    http = client_factory() if client_factory else client(timeout=timeout(timeout_s))
    started = time.monotonic()
    try:
        with http:
            response = http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        latency = (time.monotonic() - started) * 1000
        return HealthResult(
            name, url, False, False, None, round(latency, 1), None, None, transport_reason(exc)
        )
    latency = (time.monotonic() - started) * 1000
    return judge_health(name, url, response.status_code, parse_json(response), latency)
