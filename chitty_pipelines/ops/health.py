"""Health of the core services (``/health``, judged on parsed JSON) and of the configured
platforms (each resource's own ``health()``), recorded in ops.service_health."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from chitty_pipelines.chittyos.health import HealthResult
from chitty_pipelines.chittyos.resource import ChittyServicesResource
from chitty_pipelines.ops.registration import latest_registrations
from chitty_pipelines.ops.tables import SERVICE_HEALTH
from chitty_pipelines.platforms import registry
from chitty_pipelines.warehouse import Warehouse


def service_health(resource: ChittyServicesResource) -> list[HealthResult]:
    return resource.probe_all()


@dataclass
class PlatformHealth:
    name: str
    configured: bool
    ok: bool | None  # None: not configured (not a failure)
    reason: str
    latency_ms: float

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def platform_health(platforms: Sequence[str] | None = None) -> list[PlatformHealth]:
    """Each platform's own probe (its ``health.probe``); never raises."""
    return [_one_platform(registry.get(p)) for p in (platforms or registry.NAMES)]


def _one_platform(spec: registry.PlatformSpec) -> PlatformHealth:
    if not spec.configured():
        half = spec.half_set()
        if half:  # a setting to finish, not a platform the user never set up: a failure
            return PlatformHealth(spec.name, True, False, f"half configured: {half}", 0.0)
        hint = spec.not_configured_hint()
        reason = f"not configured: {hint}" if hint != spec.setup_hint else f"not configured: set {hint}"
        return PlatformHealth(spec.name, False, None, reason, 0.0)
    if spec.offline():  # CHITTY_OFFLINE=1: no connection to a real host, and no failure either
        return PlatformHealth(spec.name, True, None, registry.OFFLINE_REASON, 0.0)
    started = time.monotonic()
    try:
        health = spec.health()
    except Exception as exc:  # a broken probe is a finding; its text may hold a DSN, so the type only
        health = {"ok": False, "configured": True, "reason": f"health probe failed ({type(exc).__name__})"}
    latency = round((time.monotonic() - started) * 1000, 1)
    configured = bool(health.get("configured", True))
    ok = bool(health.get("ok")) if configured else None
    return PlatformHealth(spec.name, configured, ok, str(health.get("reason") or ""), latency)


def health_rows(
    services: Sequence[HealthResult], platforms: Sequence[PlatformHealth], source: str
) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = [
        {
            "checked_at": now,
            "kind": "service",
            "name": h.name,
            "reachable": h.reachable,
            "healthy": h.healthy,
            "http_status": h.http_status,
            "latency_ms": h.latency_ms,
            "status_text": h.status_text,
            "reason": h.reason,
            "source": source,
            "run_id": None,
        }
        for h in services
        if not h.skipped  # not configured or offline: nothing was observed
    ]
    rows += [
        {
            "checked_at": now,
            "kind": "platform",
            "name": p.name,
            "reachable": p.ok,
            "healthy": p.ok,
            "http_status": None,
            "latency_ms": p.latency_ms,
            "status_text": "ok" if p.ok else ("offline" if p.ok is None else "failed"),
            "reason": p.reason,
            "source": source,
            "run_id": None,
        }
        for p in platforms
        if p.configured
    ]
    return rows


def record_health(warehouse: Warehouse, rows: Sequence[dict[str, Any]], run_id: str | None = None) -> int:
    with warehouse.transaction(run_id) as tx:
        return tx.upsert(SERVICE_HEALTH, list(rows))


def lost_services(warehouse: Warehouse, listed: set[str], catalogue: Sequence[str]) -> list[str]:
    """Core services the Registry listed at their last registration run but lists no longer."""
    latest = latest_registrations(warehouse)
    return [
        name
        for name in catalogue
        if (row := latest.get((name, "registry"))) is not None
        and row["status"] == "discoverable"
        and name not in listed
    ]


def observation_metadata(
    services: Sequence[HealthResult], platforms: Sequence[PlatformHealth]
) -> dict[str, Any]:
    """Numbers the UI plots over time (one series per key), plus a readable summary."""
    meta: dict[str, Any] = {
        "services_healthy": sum(h.healthy for h in services),
        "services_reachable": sum(h.reachable for h in services),
        "services_total": len(services),
        "platforms_ok": sum(bool(p.ok) for p in platforms if p.configured),
        "platforms_configured": sum(p.configured for p in platforms),
    }
    for h in services:
        # A service that was not probed (not configured, offline) has no latency: a 0 would plot
        # as the fastest answer of all.
        if not h.skipped:
            meta[f"latency_ms_{h.name}"] = float(h.latency_ms)
    lines = ["| service | healthy | HTTP | ms | reason |", "|---|---|---|---|---|"]
    lines += [
        f"| {h.name} | {_yes(h.healthy)} | {h.http_status or '-'} | "
        f"{'-' if h.skipped else h.latency_ms} | {h.reason} |"
        for h in services
    ]
    lines += [
        f"| {p.name} (platform) | {_yes(p.ok)} | - | {p.latency_ms} | {p.reason} |"
        for p in platforms
        if p.configured
    ]
    meta["summary"] = dg.MetadataValue.md("\n".join(lines))
    return meta


def _yes(flag: bool | None) -> str:
    return "yes" if flag else "no"


def tick_summary(services: Sequence[HealthResult], platforms: Sequence[PlatformHealth]) -> str:
    """One line for the sensor's tick history, which otherwise shows a tick that recorded
    observations but requested no run as "Sensor function returned an empty result"."""
    probed = [h for h in services if not h.skipped]
    configured = [p for p in platforms if p.configured]
    text = f"recorded health: {sum(h.healthy for h in probed)} of {len(probed)} probed services healthy"
    if len(probed) < len(services):
        text += f" ({len(services) - len(probed)} not probed: not configured or offline)"
    return text + f"; {sum(bool(p.ok) for p in configured)} of {len(configured)} configured platforms ok"
