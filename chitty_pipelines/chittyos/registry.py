"""registry.chitty.cc (Corp, discovery): list, discover, and register where a token allows
(chittyos-contracts.md §3).

Routes are configurable: ``stub`` (the platform worker: ``GET /api/v1/services``,
``POST /register``) or ``v1`` (chittyrouter's client: ``GET /api/v1/discover/:name``,
``POST /api/v1/register``). The auth mode picks the header the token travels in.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from chitty_pipelines.chittyos.catalogue import CoreService
from chitty_pipelines.chittyos.health import client, parse_json, send, timeout, transport_reason
from chitty_pipelines.chittyos.register import Outcome, http_failure
from chitty_pipelines.config import ConfigError

TOKEN_VAR = "CHITTY_REGISTRY_TOKEN"


class RegistryContractError(ValueError):
    """The registry answered, but not in the shape of the contract."""


class RegistryClient:
    def __init__(
        self,
        base_url: str,
        *,
        routes: str = "stub",
        auth: str = "bearer",
        token: str | None = None,
        timeout_s: float = 10,
        attempts: int = 3,
        retry_timeouts: bool = True,
    ):
        if routes not in ("stub", "v1"):
            raise ConfigError(
                f"CHITTY_REGISTRY_ROUTES={routes!r} is not known: set it to stub or v1 (default stub)"
            )
        if auth not in ("none", "bearer", "chittyid-token"):
            raise ConfigError(
                f"CHITTY_REGISTRY_AUTH={auth!r} is not known: set it to none, bearer or chittyid-token "
                "(default bearer)"
            )
        self.base_url = base_url.rstrip("/")
        self.attempts = max(1, attempts)
        self.retry_timeouts = retry_timeouts
        self.routes = routes
        self.auth = auth
        self.has_token = bool(token)
        headers = {"Accept": "application/json", "User-Agent": "chitty-pipelines"}
        if token and auth == "bearer":
            headers["Authorization"] = f"Bearer {token}"
        elif token and auth == "chittyid-token":
            headers["X-ChittyID-Token"] = token
        self._client = client(base_url=self.base_url, headers=headers, timeout=timeout(timeout_s))

    def close(self) -> None:
        self._client.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return send(
            self._client, method, url, attempts=self.attempts, retry_timeouts=self.retry_timeouts, **kwargs
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def can_write(self) -> bool:
        """Writes are attempted with a token, or when the auth mode says none is needed."""
        return self.has_token or self.auth == "none"

    def list(self) -> tuple[list[dict[str, Any]], int]:
        """``(services, total)`` from ``GET /api/v1/services``; ``total`` must be an integer at
        least as large as the list (ChittyCheck only grepped for the word)."""
        response = self._send("GET", "/api/v1/services", describe="registry list")
        response.raise_for_status()
        body = parse_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("services"), list):
            raise RegistryContractError("registry list: the JSON has no services array")
        services = [s for s in body["services"] if isinstance(s, dict)]
        total = body.get("total")
        if not isinstance(total, int) or isinstance(total, bool) or total < len(services):
            raise RegistryContractError(
                f"registry list: total {total!r} is not an integer >= {len(services)}"
            )
        return services, total

    def names(self) -> set[str]:
        return {s["name"] for s in self.list()[0] if isinstance(s.get("name"), str)}

    def discover(self, name: str) -> dict[str, Any] | None:
        if self.routes == "v1":
            response = self._send("GET", f"/api/v1/discover/{quote(name, safe='')}", describe="discover")
            if response.status_code == 404:
                return None
            response.raise_for_status()
            body = parse_json(response)
            entry = body.get("service", body) if isinstance(body, dict) else None
            return entry if isinstance(entry, dict) and entry.get("name") == name else None
        return next((s for s in self.list()[0] if s.get("name") == name), None)

    def register(self, service: CoreService) -> Outcome:
        path = "/register" if self.routes == "stub" else "/api/v1/register"
        body = {
            "name": service.name,
            "url": service.url,
            "type": service.type,
            "health_endpoint": service.health_url,
        }
        try:
            response = self._send("POST", path, json=body, describe=f"registry register {service.name}")
        except httpx.HTTPError as exc:
            return Outcome(service.name, "registry", "unavailable", None, transport_reason(exc))
        parsed = parse_json(response)
        code = response.status_code
        if 200 <= code < 300:
            if isinstance(parsed, dict) and parsed.get("success") is True:
                return Outcome(service.name, "registry", "registered", code, "registered with the registry")
            return Outcome(service.name, "registry", "contract_mismatch", code, "2xx without success:true")
        if code == 409:
            return Outcome(service.name, "registry", "already_registered", code, "already in the registry")
        return http_failure(service.name, "registry", response, TOKEN_VAR)
