"""A client of the sync service (``chitty-sync serve``, or any host speaking contracts section 1):
what the CLI and the Claude Code hooks use when ``CHITTY_SYNC_URL`` is set.

* One ``httpx.Client`` with a timeout (``CHITTY_SYNC_TIMEOUT_S``) and bounded retries
  (kernel/retry.py) on transport errors, 429 and 502/503/504, honouring ``Retry-After``. A read
  (or write) timeout is not retried: the hub took the connection and did not answer within the
  timeout (stopped, wedged), and waiting twice more only made a 10 s failure a 31 s one.
  Every call it retries is idempotent on the server (a repeated registration answers 200; a
  repeated todo list is one more identical list in the merge).
* Errors name the variable to fix (``CHITTY_SYNC_URL``, ``CHITTY_SYNC_TOKEN``,
  ``CHITTY_SYNC_TIMEOUT_S``) and never contain the token (messages are scrubbed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from chitty_pipelines import config
from chitty_pipelines.kernel.retry import call_with_retry, parse_retry_after

DEFAULT_TIMEOUT_S = 10.0
# The hub's id rule, here for both sides (the API's models take it from here): letters, digits
# and . _ : @ - only, starting with a letter or digit, at most 128 characters. Ids go into URL
# paths: checked here, "../todos/P" as a session id can no longer become DELETE /api/todos/P.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
ID_RE = re.compile(ID_PATTERN)
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class SyncServiceError(Exception):
    """A call to the sync service failed; the message says what to fix (never the token)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(config.scrub(message))
        self.status = status
        self.body = body


class _Retryable(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any

    @property
    def created(self) -> bool:
        return self.status == 201


def remote_url() -> str | None:
    """CHITTY_SYNC_URL without its trailing slash, or None (the CLI then works locally)."""
    url = config.env("CHITTY_SYNC_URL")
    return url.rstrip("/") if url else None


class SyncClient:
    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        attempts: int = 3,
        max_wait_s: float = 5.0,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise SyncServiceError(f"CHITTY_SYNC_URL must start with http:// or https:// (got {base_url!r})")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.attempts = max(1, attempts)
        self.max_wait_s = max_wait_s
        headers = {"Accept": "application/json", "User-Agent": "chitty-sync-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._token_set = bool(token)
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    @classmethod
    def from_env(cls, timeout_s: float | None = None, attempts: int = 3) -> SyncClient | None:
        url = remote_url()
        if url is None:
            return None
        try:
            timeout = config.number("CHITTY_SYNC_TIMEOUT_S", DEFAULT_TIMEOUT_S, float, positive=True)
        except config.ConfigError as exc:
            raise SyncServiceError(str(exc)) from None
        return cls(
            url,
            config.env("CHITTY_SYNC_TOKEN"),
            timeout_s=timeout_s if timeout_s is not None else timeout,
            attempts=attempts,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport --------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (),
    ) -> Reply:
        """The reply of a 2xx (or of a status in ``ok``); SyncServiceError otherwise."""

        def once() -> httpx.Response:
            response = self._http.request(method, path, json=json, params=params)
            if response.status_code in RETRY_STATUSES:
                raise _Retryable(response)
            return response

        try:
            response = call_with_retry(
                once,
                retryable=_retryable,
                retry_after=lambda e: (
                    parse_retry_after(e.response.headers.get("Retry-After"))
                    if isinstance(e, _Retryable)
                    else None
                ),
                attempts=self.attempts,
                max_wait=self.max_wait_s,
                describe=f"{method} {self.base_url}{path}",
            )
        except _Retryable as exc:
            response = exc.response
        except httpx.TimeoutException as exc:
            tries = self.attempts if isinstance(exc, httpx.ConnectTimeout) else 1
            raise SyncServiceError(
                f"{method} {self.base_url}{path}: no answer within {self.timeout_s:g} s "
                f"({tries} attempt{'s' if tries > 1 else ''}); check CHITTY_SYNC_URL (is the hub "
                "running and answering?) or raise CHITTY_SYNC_TIMEOUT_S"
            ) from None
        except httpx.TransportError as exc:
            raise SyncServiceError(
                f"cannot reach the sync service at CHITTY_SYNC_URL={self.base_url} "
                f"({type(exc).__name__}, {self.attempts} attempts); is `chitty-sync serve` running there?"
            ) from None
        body = _json(response)
        if 200 <= response.status_code < 300 or response.status_code in ok:
            return Reply(response.status_code, body)
        raise SyncServiceError(
            self._explain(method, path, response.status_code, body), response.status_code, body
        )

    def _explain(self, method: str, path: str, status: int, body: Any) -> str:
        said = body.get("error") if isinstance(body, dict) else None
        where = f"{method} {self.base_url}{path}"
        if status == 401:
            fix = (
                "CHITTY_SYNC_TOKEN was refused (unknown or revoked): set it to a token from "
                "`chitty-sync token create` on the hub"
                if self._token_set
                else "the hub requires a token: set CHITTY_SYNC_TOKEN (`chitty-sync token create` on the hub)"
            )
            return f"{where}: 401, {fix}"
        if status == 403:
            return f"{where}: 403, the token in CHITTY_SYNC_TOKEN lacks the scope ({said or 'forbidden'})"
        if status == 404 and not isinstance(body, dict):
            return f"{where}: 404, is CHITTY_SYNC_URL a chitty-sync hub?"
        return f"{where}: HTTP {status}" + (f": {said}" if said else "")

    # --- the routes the CLI and hooks use ------------------------------------------------------
    def health(self) -> Reply:
        return self.request("GET", "/health")

    def status(self) -> Reply:
        return self.request("GET", "/api/status")

    def platform_health(self, platform: str) -> Reply:
        # 503 is an answer here (the platform's probe failed), not a reason to stop.
        return self.request("GET", f"/{_segment(platform, 'platform')}/health", ok=(503,))

    def register_project(self, key: str, name: str, path: str | None, git_remote: str | None) -> Reply:
        body = {"id": key, "name": name, "path": path, "gitRemote": git_remote}
        return self.request("POST", "/api/project", json={k: v for k, v in body.items() if v is not None})

    def register_session(
        self,
        session_id: str,
        project: str | None,
        platform: str,
        machine: str | None,
        metadata: dict[str, Any] | None,
    ) -> Reply:
        body = {
            "id": session_id,
            "projectId": project,
            "aiPlatform": platform,
            "machineId": machine,
            "metadata": metadata,
        }
        return self.request("POST", "/api/session", json={k: v for k, v in body.items() if v is not None})

    def heartbeat(
        self, session_id: str, metadata: dict[str, Any] | None = None, reopen: bool = False
    ) -> Reply:
        body: dict[str, Any] = {"metadata": metadata} if metadata else {}
        if reopen:
            body["reopen"] = True
        return self.request("PUT", f"/api/session/{_segment(session_id, 'session id')}", json=body or None)

    def end_session(self, session_id: str) -> Reply:
        return self.request("DELETE", f"/api/session/{_segment(session_id, 'session id')}")

    def sessions(self, limit: int = 100, project: str | None = None) -> Reply:
        params: dict[str, Any] = {"limit": limit}
        if project:
            params["projectId"] = project
        return self.request("GET", "/api/session", params=params)

    def sync_todos(
        self, project: str, session_id: str, todos: list[dict[str, Any]], platform: str | None
    ) -> Reply:
        body: dict[str, Any] = {"sessionId": session_id, "todos": todos}
        if platform:
            body["aiPlatform"] = platform
        return self.request("PUT", f"/api/todos/{_segment(project, 'project')}/sync", json=body)

    def todos(self, project: str | None = None) -> Reply:
        return self.request("GET", f"/api/todos/{_segment(project, 'project')}" if project else "/api/todos")

    def post_topic(self, conversation_id: str, content: str, file: str | None) -> Reply:
        body = {"id": conversation_id, "content": content, "file": file}
        return self.request("POST", "/api/topic", json={k: v for k, v in body.items() if v is not None})


def _segment(value: str, what: str) -> str:
    """``value`` as one URL path segment, or SyncServiceError before anything is sent."""
    if not ID_RE.fullmatch(value):
        raise SyncServiceError(
            f"invalid {what} {value[:140]!r}: use 1-128 of A-Z a-z 0-9 . _ : @ - "
            "(starting with a letter or digit), as the hub requires",
            400,  # the hub would refuse it the same way: never worth a retry or the hooks' spool
        )
    return value


def _retryable(exc: BaseException) -> bool:
    """429/502-504 and transport errors, but not a read or write timeout (module docstring)."""
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return False
    return isinstance(exc, (_Retryable, httpx.TransportError))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


__all__ = ["Reply", "SyncClient", "SyncServiceError", "remote_url"]
