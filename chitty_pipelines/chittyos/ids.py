"""The id.chitty.cc client (contracts §4): mint, batch mint, validate.

Ids are never invented here: a minted id is accepted only when it passes the canonical format and
checksum (identity.py). The token travels only in the Authorization header; it is never put in an
exception message, a log line or metadata.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote as urlquote

import dagster as dg
import requests
from pydantic import Field, PrivateAttr

from chitty_pipelines import config
from chitty_pipelines.chittyos.identity import validate as validate_format
from chitty_pipelines.kernel.retry import call_with_retry, parse_retry_after

log = logging.getLogger(__name__)

ID_FIELDS = ("chittyId", "chitty_id", "id")  # §4.2: in this order of preference
DEFAULT_ENTITY_CODES = {"project": "PROP", "session": "CONTEXT", "topic": "INFO"}


class ChittyIdError(RuntimeError):
    """The id service answered something unusable (no id field, an invalid id, a 4xx)."""


class ChittyIdAuthError(ChittyIdError):
    """401/403: the token is missing or wrong. Not retried; the message names the variable."""


class ChittyIdUnavailable(ChittyIdError):
    """5xx, timeouts, refused connections after the retries: callers fall back to local ids."""


class _Transient(Exception):
    def __init__(self, status: int, retry_after: float | None):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Transient | requests.ConnectionError | requests.Timeout)


def _retryable_but_timeouts(exc: BaseException) -> bool:
    return _retryable(exc) and not isinstance(exc, requests.Timeout)


def _unavailable_reason(exc: BaseException) -> str:
    if isinstance(exc, _Transient):
        return f"HTTP {exc.status}"
    if isinstance(exc, requests.Timeout):
        return f"timed out ({type(exc).__name__})"
    return f"connection refused or host unknown ({type(exc).__name__})"


def extract_id(body: Any) -> str:
    """The minted id from a reply, whichever of the three field names it uses."""
    if isinstance(body, dict):
        for name in ID_FIELDS:
            value = body.get(name)
            if isinstance(value, str) and value:
                return value
        keys = ", ".join(sorted(map(str, body))) or "none"
    else:
        keys = type(body).__name__
    raise ChittyIdError(f"mint reply has none of {', '.join(ID_FIELDS)} (fields: {keys})")


@dataclass(frozen=True)
class IdValidation:
    chitty_id: str
    format_valid: bool
    reason: str = ""
    service_valid: bool | None = None  # None: the service was not asked or not reachable

    @property
    def valid(self) -> bool:
        return self.format_valid and self.service_valid is not False


class ChittyIdClient:
    """Plain client (usable outside Dagster, e.g. by the CLI); the resource below builds it."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout_s: float = 10.0,
        attempts: int = 4,
        max_wait_s: float = 10.0,
        retry_timeouts: bool = True,
    ):
        self.base_url = base_url.rstrip("/")
        self.retry_timeouts = retry_timeouts
        self._token = token
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.max_wait_s = max_wait_s
        self.session = requests.Session()
        self.requests_made = 0

    @property
    def configured(self) -> bool:
        # Offline (CHITTY_OFFLINE=1) a real id host is never called: entities keep local ids.
        return bool(self._token) and config.may_reach(self.base_url)

    def close(self) -> None:
        self.session.close()

    def _call(self, method: str, path: str, payload: Any = None, auth: bool = True) -> Any:
        url = f"{self.base_url}{path}"
        if not config.may_reach(url):
            raise ChittyIdError("offline (CHITTY_OFFLINE=1): the id service is not contacted")
        headers = {"Accept": "application/json"}
        if auth:
            if not self._token:
                raise ChittyIdAuthError("CHITTY_ID_TOKEN is not set: id.chitty.cc mints only with a token")
            headers["Authorization"] = f"Bearer {self._token}"

        def once() -> Any:
            self.requests_made += 1
            resp = self.session.request(method, url, json=payload, headers=headers, timeout=self.timeout_s)
            if resp.status_code in (401, 403):
                raise ChittyIdAuthError(
                    f"id service refused the token (HTTP {resp.status_code} on {method} {path}): "
                    "check CHITTY_ID_TOKEN"
                )
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _Transient(resp.status_code, parse_retry_after(resp.headers.get("Retry-After")))
            if not 200 <= resp.status_code < 300:
                raise ChittyIdError(f"{method} {path} answered HTTP {resp.status_code}: {resp.text[:200]}")
            try:
                return resp.json()
            except ValueError as exc:
                raise ChittyIdError(f"{method} {path} answered non-JSON: {resp.text[:120]!r}") from exc

        try:
            return call_with_retry(
                once,
                retryable=_retryable if self.retry_timeouts else _retryable_but_timeouts,
                retry_after=lambda e: getattr(e, "retry_after", None),
                attempts=self.attempts,
                max_wait=self.max_wait_s,
                describe=f"id service {method} {path}",
            )
        except (_Transient, requests.ConnectionError, requests.Timeout) as exc:
            # Never the exception's text: only the status or the kind of transport error.
            raise ChittyIdUnavailable(
                f"id service unavailable at {self.base_url}: {_unavailable_reason(exc)} (check CHITTY_ID_URL)"
            ) from None

    def _checked(self, chitty_id: str) -> str:
        v = validate_format(chitty_id)
        if not v.valid:
            raise ChittyIdError(f"id service returned an invalid ChittyID {chitty_id!r}: {v.reason}")
        return chitty_id

    def mint(self, entity: str, name: str | None = None, metadata: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"entity": entity}
        if name is not None:
            body["name"] = name
        if metadata:
            body["metadata"] = metadata
        return self._checked(extract_id(self._call("POST", "/v1/mint", body)))

    def mint_batch(self, requests_: list[dict[str, Any]]) -> list[str]:
        """``POST /v1/mint/batch {requests}`` -> ``{chittyIds}``, one id per request in order.
        Items may be strings or objects carrying one of the three id fields."""
        if not requests_:
            return []
        reply = self._call("POST", "/v1/mint/batch", {"requests": requests_})
        items = reply.get("chittyIds") if isinstance(reply, dict) else None
        if not isinstance(items, list) or len(items) != len(requests_):
            raise ChittyIdError(
                f"batch mint answered {len(items) if isinstance(items, list) else 'no'} ids "
                f"for {len(requests_)} requests"
            )
        return [self._checked(item if isinstance(item, str) else extract_id(item)) for item in items]

    def validate(self, chitty_id: str, remote: bool = True) -> IdValidation:
        """Format and checksum locally; then ``GET /v1/validate/{id}`` when the service answers."""
        local = validate_format(chitty_id)
        if not local.valid or not remote:
            return IdValidation(chitty_id, local.valid, local.reason)
        try:
            reply = self._call("GET", f"/v1/validate/{urlquote(chitty_id, safe='')}", auth=bool(self._token))
        except ChittyIdError as exc:
            log.info("remote validation skipped: %s", exc)
            return IdValidation(chitty_id, True)
        service = bool(reply.get("valid")) if isinstance(reply, dict) else None
        return IdValidation(chitty_id, True, "" if service else "rejected by the id service", service)

    def health(self) -> dict[str, Any]:
        try:
            self._call("GET", "/health", auth=False)
            return {"ok": True, "reason": "", "configured": self.configured}
        except ChittyIdError as exc:
            return {"ok": False, "reason": str(exc), "configured": self.configured}


def entity_codes() -> dict[str, str]:
    """Entity type -> entity code; CHITTY_ID_ENTITY_CODES overrides the defaults key by key."""
    raw = config.env("CHITTY_ID_ENTITY_CODES")
    try:
        overrides = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        overrides = None
    if not isinstance(overrides, dict):
        raise config.ConfigError(
            f"CHITTY_ID_ENTITY_CODES={raw!r} is not a JSON object: set it to entity type -> code, "
            'e.g. {"session": "CONTEXT", "project": "PROP"}, or unset it'
        )
    return {**DEFAULT_ENTITY_CODES, **{str(k): str(v) for k, v in overrides.items()}}


class ChittyIdResource(dg.ConfigurableResource):
    """id.chitty.cc for the unified assets. Without a token, entities keep local ids."""

    base_url: str = Field(default="https://id.chitty.cc", description="CHITTY_ID_URL")
    token: str | None = Field(default=None, description="CHITTY_ID_TOKEN (an EnvVar; never logged)")
    timeout_s: float = Field(default=10.0, description="Per-request timeout (ChittyCheck: at most 10 s).")
    attempts: int = Field(default=4, description="Attempts per request on 429/5xx/timeouts.")
    max_wait_s: float = Field(default=10.0, description="Longest wait between attempts.")
    max_mints_per_run: int = Field(default=500, description="CHITTY_ID_MAX_MINTS")
    batch_size: int = Field(default=100, description="Ids per batch mint request.")
    entity_codes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ENTITY_CODES))

    _client: ChittyIdClient | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls) -> ChittyIdResource:
        return cls(
            base_url=config.env("CHITTY_ID_URL") or "https://id.chitty.cc",
            token=config.secret("CHITTY_ID_TOKEN"),
            max_mints_per_run=config.number("CHITTY_ID_MAX_MINTS", 500, int, minimum=0),
            timeout_s=min(config.number("CHITTY_OPS_TIMEOUT", 10, positive=True), 10.0),
            entity_codes=entity_codes(),
        )

    def client(self) -> ChittyIdClient:
        if self._client is None:
            self._client = ChittyIdClient(
                self.base_url, self.token, self.timeout_s, self.attempts, self.max_wait_s
            )
        return self._client

    def entity_code(self, entity_type: str) -> str:
        return self.entity_codes.get(entity_type, "INFO")

    def health(self) -> dict[str, Any]:
        return self.client().health()
