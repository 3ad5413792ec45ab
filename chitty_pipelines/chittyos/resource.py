"""The core ChittyOS services as one Dagster resource: the catalogue with this machine's URLs,
and Register / Registry clients built from the environment (tokens as EnvVars)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.chittyos.catalogue import CoreService, core_services, url_overrides
from chitty_pipelines.chittyos.health import MAX_TIMEOUT_S, HealthResult, probe_health
from chitty_pipelines.chittyos.register import RegisterClient
from chitty_pipelines.chittyos.registry import RegistryClient


def _secret_value(value: Any) -> str | None:
    """Inside a run Dagster has resolved the EnvVar; outside one (CLI, sensor evaluated by hand)
    the field still holds the EnvVar itself."""
    if isinstance(value, dg.EnvVar):
        return value.get_value()
    return value or None


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
            timeout_s=min(float(config.env("CHITTY_OPS_TIMEOUT") or MAX_TIMEOUT_S), MAX_TIMEOUT_S),
            services_project=config.env("CHITTY_SERVICES_PROJECT") or "chittyos-services",
        )
        return cls(**{**settings, **overrides})

    def services(self) -> tuple[CoreService, ...]:
        overrides = {**self.service_urls, "register": self.register_url, "registry": self.registry_url}
        return core_services({k: v.rstrip("/") for k, v in overrides.items()})

    def register_client(self) -> RegisterClient:
        return RegisterClient(
            self.register_url,
            api=self.register_api,
            token=_secret_value(self.register_token),
            timeout_s=self.timeout_s,
            attempts=self.attempts,
        )

    def registry_client(self) -> RegistryClient:
        return RegistryClient(
            self.registry_url,
            routes=self.registry_routes,
            auth=self.registry_auth,
            token=_secret_value(self.registry_token),
            timeout_s=self.timeout_s,
            attempts=self.attempts,
        )

    def probe(self, service: CoreService) -> HealthResult:
        return probe_health(service.name, service.probe_url, timeout_s=self.timeout_s)

    def probe_all(self, services: Sequence[CoreService] | None = None) -> list[HealthResult]:
        """Every service's /health at once: each probe has its own timeout, so one slow service
        costs at most that timeout, not the sum."""
        services = list(services or self.services())
        with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
            return list(pool.map(self.probe, services))
