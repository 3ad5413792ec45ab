"""Cloudflare health: the cheap authenticated call behind ``chitty-sync status``, ChittyCheck and
the platform's health check. ``{"ok", "configured", "reason", ...}``; never raises for an
unreachable or refusing service (that is a finding, not a crash)."""

from __future__ import annotations

from typing import Any

from chitty_pipelines.platforms.cloudflare.resource import CloudflareResource


def probe(resource: CloudflareResource) -> dict[str, Any]:
    """What ``chitty-sync status`` shows: ``ok`` is True, False, or None when not configured."""
    parts = {"r2": resource.r2_health(), "api": resource.api_health(verify_ids=True)}
    configured = [p for p in parts.values() if p["configured"]]
    ok = all(p["ok"] for p in configured) if configured else None
    reason = "; ".join(f"{name}: {p['reason']}" for name, p in parts.items())
    return {"ok": ok, "configured": bool(configured), "reason": reason, **parts}
