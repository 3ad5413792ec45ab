"""What ``chitty-sync status`` reports: per platform, configured or not, last sync, rows, rejects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chitty_pipelines.config import PLATFORMS, platform_configured
from chitty_pipelines.warehouse import Warehouse, quote


@dataclass
class PlatformStatus:
    platform: str
    configured: bool
    last_sync: str | None = None
    last_status: str | None = None
    tables: dict[str, int] = field(default_factory=dict)
    rejects: int = 0
    health: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def platform_statuses(warehouse: Warehouse, with_health: bool = True) -> list[PlatformStatus]:
    synced = warehouse.path.exists()
    statuses = [_platform_status(warehouse, p, synced) for p in PLATFORMS]
    if with_health:
        for status in statuses:
            if status.configured:
                status.health = platform_health(status.platform)
    return statuses


def platform_health(platform: str) -> dict[str, Any]:
    """The platform resource's own health probe (reachable, authorised), never raising."""
    import importlib

    module_name, class_name = _RESOURCES[platform]
    try:
        resource_cls = getattr(
            importlib.import_module(f"chitty_pipelines.resources.{module_name}"), class_name
        )
        # Resolve EnvVar fields the way a run would; outside a run they are still references.
        health = resource_cls.from_settings().process_config_and_initialize().health()
    except Exception as exc:  # a broken probe is a finding, not a crash of `status`
        return {"ok": False, "reason": f"health probe failed: {type(exc).__name__}"}
    if "ok" not in health:  # the local platform reports what it found rather than ok/not ok
        health = {"ok": True, **health}
    return health


_RESOURCES: dict[str, tuple[str, str]] = {
    "local": ("local_sessions", "LocalSessionsResource"),
    "neon": ("neon", "NeonResource"),
    "notion": ("notion", "NotionResource"),
    "github": ("github", "GitHubResource"),
    "drive": ("drive", "DriveResource"),
    "cloudflare": ("cloudflare", "CloudflareResource"),
}


def _platform_status(warehouse: Warehouse, platform: str, synced: bool) -> PlatformStatus:
    status = PlatformStatus(platform, platform_configured(platform))
    if not synced:
        return status
    with warehouse.connect() as con:
        last = con.execute(
            "SELECT finished_at, status FROM ops.sync_log WHERE platform = ? "
            "ORDER BY finished_at DESC LIMIT 1",
            [platform],
        ).fetchone()
        if last:
            status.last_sync = last[0].isoformat(timespec="seconds")
            status.last_status = last[1]
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
            [f"raw_{platform}"],
        ).fetchall()
        for (name,) in tables:
            sql = f"SELECT count(*) FROM {quote('raw_' + platform)}.{quote(name)}"
            status.tables[name] = int(con.execute(sql).fetchone()[0])
        status.rejects = int(
            con.execute("SELECT count(*) FROM ops.rejects WHERE platform = ?", [platform]).fetchone()[0]
        )
    return status
