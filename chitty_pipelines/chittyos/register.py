"""register.chitty.cc (Foundation, canonical registration): the v1 contract, and the original's
``/api/register`` form behind CHITTY_REGISTER_API=legacy (chittyos-contracts.md §2).

Every attempt ends in a state, never a bare boolean: ``registered``, ``pending``,
``already_registered``, ``invalid`` (400 with errors), ``auth_failed``, ``contract_mismatch``
(404/405, or a 2xx whose body does not say success), ``unavailable`` (5xx, DNS, timeout).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from chitty_pipelines.chittyos.catalogue import CoreService
from chitty_pipelines.chittyos.health import client, parse_json, send, timeout, transport_reason
from chitty_pipelines.config import ConfigError

SUCCESS_STATES = frozenset({"registered", "pending", "already_registered", "discoverable"})
TOKEN_VAR = "CHITTY_REGISTER_TOKEN"


@dataclass
class Outcome:
    service: str
    target: str  # register | registry
    status: str
    http_status: int | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS_STATES

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def http_failure(service: str, target: str, response: httpx.Response, token_var: str) -> Outcome:
    """The state of a non-success reply that is not specific to one contract."""
    code = response.status_code
    body = parse_json(response)
    if code in (401, 403):
        hint = body.get("code") if isinstance(body, dict) else None
        if hint == "READ_ONLY":
            return Outcome(service, target, "read_only", code, f"{target} is read-only for clients")
        return Outcome(
            service, target, "auth_failed", code, f"{target} refused the request ({code}): check {token_var}"
        )
    if code in (404, 405):
        return Outcome(service, target, "contract_mismatch", code, f"{target} has no such route ({code})")
    if code >= 500 or code == 429:
        return Outcome(service, target, "unavailable", code, f"{target} answered {code}")
    return Outcome(service, target, "failed", code, f"{target} answered {code}")


def v1_body(service: CoreService, version: str | None = None) -> dict[str, Any]:
    """The catalogue entry in Register v1's shape (mapping proposed in contracts §2.3)."""
    return {
        "name": service.name,
        "version": version or "1.0.0",
        "type": "worker",
        "category": service.category,
        "description": f"ChittyOS {service.name} service: " + ", ".join(service.features),
        "owner": service.provider,
        "endpoints": {"api": service.url, "health": service.health_url},
        "metadata": {"tags": list(service.features)},
    }


def legacy_body(service: CoreService) -> dict[str, Any]:
    """The flat body the original sync service sent (§2.2)."""
    return {
        "name": service.name,
        "url": service.url,
        "type": service.type,
        "provider": service.provider,
        "health_endpoint": service.health_url,
        "features": list(service.features),
    }


class RegisterClient:
    def __init__(
        self,
        base_url: str,
        *,
        api: str = "v1",
        token: str | None = None,
        timeout_s: float = 10,
        attempts: int = 3,
        retry_timeouts: bool = True,
    ):
        if api not in ("v1", "legacy"):
            raise ConfigError(
                f"CHITTY_REGISTER_API={api!r} is not known: set it to v1 or legacy (default v1)"
            )
        self.base_url = base_url.rstrip("/")
        self.attempts = max(1, attempts)
        self.retry_timeouts = retry_timeouts
        self.api = api
        headers = {"Accept": "application/json", "User-Agent": "chitty-pipelines"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = client(base_url=self.base_url, headers=headers, timeout=timeout(timeout_s))

    def close(self) -> None:
        self._client.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return send(
            self._client, method, url, attempts=self.attempts, retry_timeouts=self.retry_timeouts, **kwargs
        )

    def __enter__(self) -> RegisterClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- reads -------------------------------------------------------------------------------
    def lookup(self, name: str) -> dict[str, Any] | None:
        """The registration of ``name`` (parsed JSON, name compared exactly), or None."""
        if self.api == "legacy":
            return next((s for s in self.list() if s.get("name") == name), None)
        response = self._send("GET", f"/api/v1/services/{quote(name, safe='')}", describe="register lookup")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body = parse_json(response)
        entry = body.get("service") if isinstance(body, dict) else None
        return entry if isinstance(entry, dict) and entry.get("name") == name else None

    def list(self, limit: int = 500) -> list[dict[str, Any]]:
        path = "/api/services" if self.api == "legacy" else "/api/v1/services"
        params = {} if self.api == "legacy" else {"limit": limit}
        response = self._send("GET", path, params=params, describe="register list")
        response.raise_for_status()
        body = parse_json(response)
        services = body.get("services") if isinstance(body, dict) else body
        if not isinstance(services, list):
            raise ValueError("register list: the JSON has no services array")
        return [s for s in services if isinstance(s, dict)]

    def status(self) -> dict[str, Any]:
        response = self._send("GET", "/api/v1/status", describe="register status")
        response.raise_for_status()
        body = parse_json(response)
        return body if isinstance(body, dict) else {}

    # -- writes ------------------------------------------------------------------------------
    def register(self, service: CoreService, version: str | None = None) -> Outcome:
        """Register ``service``; an existing registration is success (``already_registered``)."""
        path, body = (
            ("/api/register", legacy_body(service))
            if self.api == "legacy"
            else ("/api/v1/register", v1_body(service, version))
        )
        try:
            response = self._send("POST", path, json=body, describe=f"register {service.name}")
        except httpx.HTTPError as exc:
            return Outcome(service.name, "register", "unavailable", None, transport_reason(exc))
        parsed = parse_json(response)
        code = response.status_code
        if 200 <= code < 300:
            if not (isinstance(parsed, dict) and parsed.get("success") is True):
                return Outcome(
                    service.name, "register", "contract_mismatch", code, "2xx without success:true"
                )
            registration = parsed.get("registration") or parsed.get("service") or {}
            state = registration.get("status") if isinstance(registration, dict) else None
            if state == "pending":
                return Outcome(service.name, "register", "pending", code, "registered, pending approval")
            return Outcome(service.name, "register", "registered", code, f"registered ({state or 'active'})")
        if code == 400:
            return self._after_refusal(service, parsed, code)
        return http_failure(service.name, "register", response, TOKEN_VAR)

    def _after_refusal(self, service: CoreService, parsed: Any, code: int) -> Outcome:
        """v1 answers a duplicate name with 400; the stored registration is the proof."""
        errors = parsed.get("errors") if isinstance(parsed, dict) else None
        try:
            existing = self.lookup(service.name)
        except (httpx.HTTPError, ValueError):
            existing = None
        if existing is not None:
            state = existing.get("status") or "unknown"
            return Outcome(
                service.name, "register", "already_registered", code, f"already registered ({state})"
            )
        text = "; ".join(str(e) for e in errors) if isinstance(errors, list) else "validation failed"
        return Outcome(service.name, "register", "invalid", code, text[:500])
