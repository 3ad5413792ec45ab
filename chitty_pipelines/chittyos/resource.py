"""The core ChittyOS services as one Dagster resource: the catalogue with this machine's URLs,
and Register / Registry clients built from the environment (tokens as EnvVars)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.chittyos.catalogue import (
    CoreService,
    bundled_catalogue,
    core_services,
    setup_hint,
    url_overrides,
)
from chitty_pipelines.chittyos.health import MAX_TIMEOUT_S, HealthResult, probe_health, skipped_health
from chitty_pipelines.chittyos.register import RegisterClient
from chitty_pipelines.chittyos.registry import RegistryClient

OFFLINE_REASON = "offline (CHITTY_OFFLINE=1): not contacted"


class ChittyServicesResource(dg.ConfigurableResource):
    """Register, Registry and the ``/health`` of every core service."""

    register_url: str = Field(default="https://register.chitty.cc", description="CHITTY_REGISTER_URL")
    register_api: str = Field(default="v1", description="CHITTY_REGISTER_API: v1 or legacy")
    register_token: str | None = Field(default=None, description="CHITTY_REGISTER_TOKEN (EnvVar)")
    registry_url: str = Field(default="https://registry.chitty.cc", description="CHITTY_REGISTRY_URL")
    registry_routes: str = Field(default="stub", description="CHITTY_REGISTRY_ROUTES: stub or v1")
    registry_auth: str = Field(default="bearer", description="CHITTY_REGISTRY_AUTH")
    registry_token: str | None = Field(default=None, description="CHITTY_REGISTRY_TOKEN (EnvVar)")
    service_urls: dict[str, str] = Field(default_factory=dict, description="Base-URL overrides by name.")
    timeout_s: float = Field(default=MAX_TIMEOUT_S, description="Per request; capped at 10 s.")
    attempts: int = Field(default=3, description="Attempts per request on 429/5xx/transport errors.")
    confirm_s: float = Field(
        default=15.0, description="How long registration waits for services to appear in Registry."
    )
    services_project: str = Field(default="chittyos-services", description="CHITTY_SERVICES_PROJECT")

    @classmethod
    def from_settings(cls, **overrides: Any) -> ChittyServicesResource:
        settings: dict[str, Any] = dict(
            register_url=config.env("CHITTY_REGISTER_URL") or "https://register.chitty.cc",
            register_api=config.env("CHITTY_REGISTER_API") or "v1",
            register_token=config.secret("CHITTY_REGISTER_TOKEN"),  # type: ignore[arg-type]
            registry_url=config.env("CHITTY_REGISTRY_URL") or "https://registry.chitty.cc",
            registry_routes=config.env("CHITTY_REGISTRY_ROUTES") or "stub",
            registry_auth=config.env("CHITTY_REGISTRY_AUTH") or "bearer",
            registry_token=config.secret("CHITTY_REGISTRY_TOKEN"),  # type: ignore[arg-type]
            service_urls=url_overrides(),
            timeout_s=min(config.number("CHITTY_OPS_TIMEOUT", MAX_TIMEOUT_S, positive=True), MAX_TIMEOUT_S),
            services_project=config.env("CHITTY_SERVICES_PROJECT") or "chittyos-services",
        )
        return cls(**{**settings, **overrides})

    def services(self) -> tuple[CoreService, ...]:
        overrides = {**self.service_urls, "register": self.register_url, "registry": self.registry_url}
        return core_services({k: v.rstrip("/") for k, v in overrides.items()})

    def register_client(self, retry_timeouts: bool = True) -> RegisterClient:
        return RegisterClient(
            self.register_url,
            api=self.register_api,
            token=config.secret_value(self.register_token),
            timeout_s=self.timeout_s,
            attempts=self.attempts,
            retry_timeouts=retry_timeouts,
        )

    def registry_client(self, retry_timeouts: bool = True) -> RegistryClient:
        return RegistryClient(
            self.registry_url,
            routes=self.registry_routes,
            auth=self.registry_auth,
            token=config.secret_value(self.registry_token),
            timeout_s=self.timeout_s,
            attempts=self.attempts,
            retry_timeouts=retry_timeouts,
        )

    def configured(self, service: CoreService) -> bool:
        """A core service is configured when this machine names it: its URL is set (CHITTY_ID_URL,
        CHITTY_REGISTER_URL, CHITTY_REGISTRY_URL, or a CHITTY_SERVICE_URLS pair) or its token is
        (CHITTY_ID_TOKEN, CHITTY_REGISTER_TOKEN, CHITTY_REGISTRY_TOKEN). Local-only use names none,
        and no catalogue default is probed on its own."""
        default = {s.name: s.url for s in bundled_catalogue()}.get(service.name)
        token = {
            "identity": config.is_set("CHITTY_ID_TOKEN"),
            "register": bool(self.register_token),
            "registry": bool(self.registry_token),
        }.get(service.name, False)
        return service.name in self.service_urls or service.url != default or token

    def skip_reason(self, service: CoreService) -> HealthResult | None:
        """Why ``service`` is not contacted (not configured, or offline), else None."""
        if not self.configured(service):
            reason = f"not configured: set {setup_hint(service.name)}"
            return skipped_health(service.name, service.url, "not_configured", reason)
        if not config.may_reach(service.url):
            return skipped_health(service.name, service.url, "offline", OFFLINE_REASON)
        return None

    def usable(self, name: str) -> HealthResult | None:
        """``skip_reason`` of the service called ``name`` (register, registry, identity)."""
        service = next(s for s in self.services() if s.name == name)
        return self.skip_reason(service)

    def probe(self, service: CoreService) -> HealthResult:
        skipped = self.skip_reason(service)
        if skipped is not None:  # no connection at all: nothing configured, or CHITTY_OFFLINE=1
            return skipped
        return probe_health(service.name, service.probe_url, timeout_s=self.timeout_s)

    def probe_all(self, services: Sequence[CoreService] | None = None) -> list[HealthResult]:
        """Every service's /health at once: each probe has its own timeout, so one slow service
        costs at most that timeout, not the sum."""
        services = list(services or self.services())
        with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
            return list(pool.map(self.probe, services))
