"""Workers KV and D1 through the official ``cloudflare`` SDK, with our retry and pacing policy.

The SDK does the HTTP; this module adds what a sync needs around it:

* every call is paced (one schedule per base URL and account, shared by KV and D1 across
  processes, because the 1,200 requests / 5 min budget is per token, and going over blocks the
  token for 5 minutes; see ``cloudflare_pacing``) and retried through ``retry.call_with_retry``
  (429 honours Retry-After, 5xx and connection errors back off); the SDK's own retries are off
  so there is one policy;
* the v4 envelope is checked, ``success: false`` included (it can come with HTTP 200), and turned
  into ``CloudflareError`` carrying the code and message, never the token;
* 401/403 and authentication codes fail fast with ``CloudflareAuthError`` naming the variable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chitty_pipelines.kernel.retry import call_with_retry, parse_retry_after
from chitty_pipelines.platforms.cloudflare.pacing import pacer_for

TOKEN_VAR = "CLOUDFLARE_API_TOKEN"
ACCOUNT_VAR = "CLOUDFLARE_ACCOUNT_ID"
BASE_URL_VAR = "CLOUDFLARE_API_BASE_URL"
KV_VAR = "CLOUDFLARE_KV_NAMESPACE_IDS"
D1_VAR = "CLOUDFLARE_D1_DATABASE_IDS"
DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
KV_PAGE = 1000  # the API's maximum (and default) for KV key listings
_AUTH_CODES = {1000, 1001, 6003, 6111, 9103, 9106, 9109, 10000}
_RATE_CODES = {971, 10429}


class CloudflareError(RuntimeError):
    """A Cloudflare API failure with the envelope's code and message (never request headers)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


class CloudflareAuthError(CloudflareError):
    """The token is missing, wrong, revoked or lacks a permission: retrying cannot help."""


def _first_error(body: Any) -> tuple[int | None, str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        return (int(code) if isinstance(code, int | float) else None), str(errors[0].get("message", ""))
    return None, ""


def _not_found(exc: CloudflareError, variable: str) -> CloudflareError:
    """A 404 on a namespace or database the user listed: the id is a setting to fix."""
    if exc.status != 404 or isinstance(exc, CloudflareAuthError):
        return exc
    return CloudflareError(
        f"{exc}: check {variable} (ids of account {ACCOUNT_VAR}, comma-separated)",
        status=exc.status,
        code=exc.code,
    )


class CloudflareApi:
    """A KV and D1 client for one account. Thread-safe; values are fetched from several threads."""

    def __init__(
        self,
        *,
        account_id: str,
        token: str,
        base_url: str,
        rate_per_s: float = 3.5,
        attempts: int = 6,
        max_wait: float = 60.0,
        timeout_s: float = 30.0,
        pace_dir: Path | None = None,
    ):
        self.account_id = account_id
        self._token = token
        # The SDK (and httpx) are imported when a client is made, not when the code location loads.
        from cloudflare import Cloudflare

        self._client = Cloudflare(api_token=token, base_url=base_url, max_retries=0, timeout=timeout_s)
        self.base_url = base_url  # named when it does not answer
        self.timeout_s = timeout_s
        self.pacer = pacer_for(base_url, account_id, rate_per_s, pace_dir)
        self.attempts = attempts
        self.max_wait = max_wait
        self._count_lock = threading.Lock()
        self.requests = 0  # HTTP requests sent, retries included

    # --- the policy around every call ---------------------------------------------------------
    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _error(self, describe: str, status: int | None, body: Any) -> CloudflareError:
        code, message = _first_error(body)
        detail = self._scrub(f"HTTP {status}" + (f", code {code}: {message}" if code or message else ""))
        if status in (401, 403) or code in _AUTH_CODES:
            return CloudflareAuthError(
                f"Cloudflare {describe} was refused ({detail}). Check {TOKEN_VAR}: it must be valid, not "
                f"revoked, and allowed to read Workers KV and D1 in the account {ACCOUNT_VAR} names.",
                status=status,
                code=code,
            )
        retryable = status == 429 or code in _RATE_CODES or (status is not None and status >= 500)
        return CloudflareError(
            f"Cloudflare {describe} failed ({detail})", status=status, code=code, retryable=retryable
        )

    def _call(self, describe: str, fn: Callable[[], Any], *, envelope: bool = True) -> Any:
        """Run one SDK request under pacing and retries; returns the SDK's raw response."""
        from cloudflare import APIConnectionError, APIStatusError

        def once() -> Any:
            self.pacer.wait()
            with self._count_lock:
                self.requests += 1
            try:
                raw = fn()
            except APIStatusError as exc:
                err = self._error(describe, exc.status_code, exc.body)
                err.retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
                raise err from None  # the SDK exception holds the request and its headers
            except APIConnectionError as exc:
                # The SDK's own text ("Connection error.") names neither host nor setting.
                raise CloudflareError(
                    f"Cloudflare {describe}: no answer from {self.base_url} ({type(exc).__name__}) after "
                    f"{self.attempts} attempts (check {BASE_URL_VAR}, default {DEFAULT_BASE_URL}, and the "
                    f"network; CLOUDFLARE_API_TIMEOUT_S is {self.timeout_s:g} s)",
                    retryable=True,
                ) from None
            if envelope:
                try:
                    body = raw.http_response.json()
                except ValueError:
                    raise CloudflareError(
                        f"Cloudflare {describe}: response is not JSON", retryable=True
                    ) from None
                if not isinstance(body, dict) or body.get("success") is not True:
                    raise self._error(describe, raw.http_response.status_code, body)
            return raw

        return call_with_retry(
            once,
            retryable=lambda e: isinstance(e, CloudflareError) and e.retryable,
            retry_after=lambda e: getattr(e, "retry_after", None),
            attempts=self.attempts,
            max_wait=self.max_wait,
            describe=f"cloudflare {describe}",
        )

    # --- endpoints ------------------------------------------------------------------------------
    def verify_token(self) -> dict[str, Any]:
        raw = self._call("token verify", lambda: self._client.user.tokens.with_raw_response.verify())
        return raw.http_response.json().get("result") or {}

    def list_keys_page(
        self, namespace_id: str, cursor: str | None, limit: int = KV_PAGE
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of at most 1,000 keys: ``[{name, expiration, metadata}]`` and the next cursor."""
        kwargs: dict[str, Any] = {"account_id": self.account_id, "limit": max(10, min(limit, KV_PAGE))}
        if cursor:
            kwargs["cursor"] = cursor
        try:
            raw = self._call(
                f"KV list keys of namespace {namespace_id}",
                lambda: self._client.kv.namespaces.keys.with_raw_response.list(namespace_id, **kwargs),
            )
        except CloudflareError as exc:
            raise _not_found(exc, KV_VAR) from None
        page = raw.parse()
        items = [
            {"name": k.name, "expiration": k.expiration, "metadata": k.metadata} for k in page.result or []
        ]
        info = page.result_info
        return items, (info.cursor or None) if info is not None else None

    def get_value(self, namespace_id: str, key: str) -> tuple[bytes, float | None] | None:
        """The raw value bytes and the ``expiration`` header; None when the key vanished."""

        def fetch() -> Any:
            return self._client.kv.namespaces.values.get(
                key, account_id=self.account_id, namespace_id=namespace_id
            )

        try:
            resp = self._call(f"KV read value in namespace {namespace_id}", fetch, envelope=False)
        except CloudflareError as exc:
            if exc.status == 404:  # deleted between listing and reading: the next listing drops it
                return None
            raise
        expiration = resp.headers.get("expiration")
        return resp.read(), (float(expiration) if expiration else None)

    def d1_raw(self, database_id: str, sql: str, params: list[Any]) -> tuple[list[str], list[list[Any]]]:
        """Run one statement through D1's ``raw`` endpoint: column names and row arrays."""
        try:
            raw = self._call(
                f"D1 query on database {database_id}",
                lambda: self._client.d1.database.with_raw_response.raw(
                    database_id,
                    account_id=self.account_id,
                    sql=sql,
                    params=params,  # JSON values: D1 binds numbers as numbers
                ),
            )
        except CloudflareError as exc:
            raise _not_found(exc, D1_VAR) from None
        # Rows are read from the JSON itself: the SDK's model types cells as float|str and would
        # turn integer keys into floats.
        result = raw.http_response.json().get("result") or []
        first = result[0] if result else {}
        if first.get("success") is False:
            raise self._error(f"D1 query on database {database_id}", 200, first)
        results = first.get("results") or {}
        return list(results.get("columns") or []), list(results.get("rows") or [])
