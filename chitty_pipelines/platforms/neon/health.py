"""Neon health: the cheap authenticated call behind ``chitty-sync status``, ChittyCheck and
the platform's health check. ``{"ok", "configured", "reason", ...}``; never raises for an
unreachable or refusing service (that is a finding, not a crash)."""

from __future__ import annotations

import time
from typing import Any

from chitty_pipelines.platforms.neon.resource import DSN_VAR, NeonError, NeonResource
from chitty_pipelines.platforms.neon.stream_config import load_streams


def probe(resource: NeonResource) -> dict[str, Any]:
    """``{"ok": bool, "reason": str, ...}`` for the asset check and ``chitty-sync status``."""
    if not resource.configured:
        return {"ok": True, "configured": False, "reason": f"not configured ({DSN_VAR} unset)"}
    started = time.monotonic()
    # The tables NEON_STREAMS names (not the defaults, which may be absent): a missing one fails
    # its sync, so status and check must not say "connected" alone.
    streams, streams_error = load_streams()
    named = [s for s in streams if not s.optional]
    try:
        with resource.connect() as con:
            version = con.execute("SHOW server_version").fetchone()
            missing = [s.qualified for s in named if resource.describe(con, s.schema, s.table) is None]
            con.rollback()
    except NeonError as exc:
        return {"ok": False, "configured": True, "reason": str(exc), "host_kind": resource.host_kind()}
    if streams_error:  # the defaults still sync, the streams the user asked for do not
        reason = f"connected, but NEON_STREAMS was refused ({streams_error}), so only the defaults sync"
        return {"ok": False, "configured": True, "reason": reason, "host_kind": resource.host_kind()}
    if missing:
        tables = ", ".join(missing)
        reason = f"connected, but table {tables} does not exist in the Neon database (check NEON_STREAMS)"
        return {"ok": False, "configured": True, "reason": reason, "host_kind": resource.host_kind()}
    return {
        "ok": True,
        "configured": True,
        "reason": "connected",
        "server_version": str(version[0]) if version else "",
        "host_kind": resource.host_kind(),
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
    }
