"""What ``chitty-sync status`` reports: per platform, configured or not, last sync, rows, rejects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chitty_pipelines.kernel.platform_asset import WARNING_PREFIX
from chitty_pipelines.platforms import registry
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
    synced = warehouse.exists()
    statuses = [_platform_status(warehouse, spec, synced) for spec in registry.PLATFORMS]
    if with_health:
        for status in statuses:
            if status.configured:
                status.health = platform_health(status.platform)
            elif half := registry.get(status.platform).half_set():
                status.health = {"ok": False, "configured": False, "reason": f"half configured: {half}"}
    return statuses


def platform_health(platform: str) -> dict[str, Any]:
    """The platform's own health probe (reachable, authorised), never raising."""
    try:
        health = registry.get(platform).health()
    except Exception as exc:  # a broken probe is a finding, not a crash of `status`
        return {"ok": False, "reason": f"health probe failed: {type(exc).__name__}"}
    return health


def _platform_status(warehouse: Warehouse, spec: registry.PlatformSpec, synced: bool) -> PlatformStatus:
    status = PlatformStatus(spec.name, spec.configured())
    if not synced:
        return status
    with warehouse.connect() as con:
        last = con.execute(
            "SELECT finished_at, status FROM ops.sync_log WHERE platform = ? "
            "ORDER BY finished_at DESC LIMIT 1",
            [spec.name],
        ).fetchone()
        if last:
            status.last_sync = last[0].isoformat(timespec="seconds")
            status.last_status = last[1]
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
            "AND starts_with(table_name, ?) ORDER BY 1",
            [spec.schema, spec.table_prefix],
        ).fetchall()
        for (name,) in tables:
            sql = f"SELECT count(*) FROM {quote(spec.schema)}.{quote(name)}"
            status.tables[name] = int(con.execute(sql).fetchone()[0])
        status.rejects = int(
            con.execute("SELECT count(*) FROM ops.rejects WHERE platform = ?", [spec.name]).fetchone()[0]
        )
    return status


def unified_tables(warehouse: Warehouse) -> list[dict[str, Any]]:
    """Every table of the unified schema: rows, and its last materialization from ops.sync_log."""
    if not warehouse.exists():
        return []
    with warehouse.connect() as con:
        names = [
            n
            for (n,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'unified' ORDER BY 1"
            ).fetchall()
        ]
        last = {
            asset: (finished, status)
            for asset, finished, status in con.execute(
                "SELECT asset, finished_at, status FROM ops.sync_log WHERE starts_with(asset, 'unified/') "
                "QUALIFY row_number() OVER (PARTITION BY asset ORDER BY finished_at DESC) = 1"
            ).fetchall()
        }
        out = []
        for name in names:
            rows = int(con.execute(f"SELECT count(*) FROM unified.{quote(name)}").fetchone()[0])
            finished, status = last.get(f"unified/{name}", (None, None))
            out.append(
                {
                    "table": f"unified.{name}",
                    "rows": rows,
                    "last_materialization": finished.isoformat(timespec="seconds") if finished else None,
                    "last_status": status,
                }
            )
    return out


def status_warnings(warehouse: Warehouse) -> list[dict[str, str]]:
    """What needs attention without being a failure: a folder named by CLAUDE_HOME or
    CHITTY_EXPORTS_DIR that does not exist (now), and the warnings of each table's last sync."""
    from chitty_pipelines.kernel.local_files import LocalSessionsResource

    local = LocalSessionsResource.from_settings()
    found = [
        {"source": source, "message": message}
        for source, which in (("claude_code", "claude"), ("chatgpt/gemini", "exports"))
        for message in local.missing_folders(which)
    ]
    found += _duckdb_left_behind(warehouse)
    if warehouse.exists():
        with warehouse.connect() as con:
            rows = con.execute(
                "SELECT platform, asset, message FROM ops.sync_log "
                "QUALIFY row_number() OVER (PARTITION BY platform, asset ORDER BY finished_at DESC) = 1 "
                "ORDER BY platform, asset"
            ).fetchall()
        seen = {w["message"] for w in found}
        for platform, asset, message in rows:
            text = (message or "").removeprefix(WARNING_PREFIX)
            # the same cause on several tables (some add their own note after it): once
            repeated = any(text.startswith(s) or s.startswith(text) for s in seen)
            if message and message.startswith(WARNING_PREFIX) and not repeated:
                seen.add(text)
                found.append({"source": f"{platform} ({asset})", "message": text})
    return found


def _duckdb_left_behind(warehouse: Warehouse) -> list[dict[str, str]]:
    """A laptop that switched to CHITTY_WAREHOUSE_URL keeps its DuckDB file, which nothing reads
    any more: what only it holds (transcripts Claude Code has deleted since) is not in PostgreSQL."""
    from chitty_pipelines import config

    path = config.load_settings().warehouse_path
    if warehouse.kind != "postgres" or not path.exists():
        return []
    message = (
        f"CHITTY_WAREHOUSE_URL is set, so the DuckDB warehouse {path} is no longer read or written; "
        "syncall fills PostgreSQL from the sources again, and what only the DuckDB file holds "
        "(e.g. Claude Code transcripts deleted since) is not copied (README: Warehouse on PostgreSQL)"
    )
    return [{"source": "warehouse", "message": message}]
