"""The Neon platform (group ``neon``, key prefix ``raw_neon``): one asset per configured
PostgreSQL table (stream_config.py), landing in ``raw_neon.<stream>``.

Every stream's asset ``raw_neon/<stream>`` is unpartitioned and incremental by its cursor with a
look-back window for late commits: syncall (and its schedule) runs it, so the first run lands the
table's whole history and later runs the new rows. A daily-partitioned stream (the event store)
has a second asset, ``raw_neon/<stream>_by_day``, over the *same* warehouse table: daily
partitions with a single-run backfill policy, only for re-syncing a date range
(``chitty-sync backfill --from --to``, ``dagster asset materialize --partition-range A...B``),
which deletes and re-reads those days (upstream deletions and edits included).
"""

# No `from __future__ import annotations`: Dagster reads the factory-built asset's parameter
# annotations (SyncConfig, resources) at decoration time.

import time
import warnings
from datetime import UTC, datetime
from typing import Any, NoReturn

import dagster as dg

from chitty_pipelines import config
from chitty_pipelines.kernel.assets import (
    PARTITIONED_TAG,
    Check,
    SyncConfig,
    bundled_checks,
    is_full_refresh,
    log_sync,
    not_configured_results,
    now,
    table_metadata,
    unique_key_check_result,
)
from chitty_pipelines.platforms.neon.health import probe
from chitty_pipelines.platforms.neon.resource import NeonError, NeonResource
from chitty_pipelines.platforms.neon.stream_config import StreamSpec, load_streams
from chitty_pipelines.platforms.neon.streams import (
    PLATFORM,
    SCHEMA,
    Resolved,
    ensure_table,
    resolve,
    sync_incremental,
    sync_window,
)
from chitty_pipelines.warehouse import TableSpec, cols
from chitty_pipelines.warehouse.resource import WarehouseResource

NEON_PARTITIONED_JOB = "neon_partitioned"

DAILY = dg.DailyPartitionsDefinition(
    start_date=config.env("NEON_PARTITION_START") or "2024-01-01",
    end_offset=1,  # today is a partition: syncall's "latest partition" keeps the event store fresh
    timezone="UTC",
)

STREAMS, STREAMS_ERROR = load_streams()


BY_DAY_SUFFIX = "_by_day"


def _key(spec: StreamSpec) -> dg.AssetKey:
    return dg.AssetKey([SCHEMA, spec.name])


def _day_key(spec: StreamSpec) -> dg.AssetKey:
    """The re-sync-by-day asset of a daily-partitioned stream (same warehouse table)."""
    return dg.AssetKey([SCHEMA, spec.name + BY_DAY_SUFFIX])


def _window(context: dg.AssetExecutionContext) -> tuple[datetime, datetime]:
    window = context.partition_time_window
    return window.start.astimezone(UTC), window.end.astimezone(UTC)


def _log(
    context: dg.AssetExecutionContext,
    warehouse: Any,
    spec: StreamSpec,
    started: datetime,
    status: str,
    **kw: Any,
) -> None:
    """The stream's sync-log entry, for ``chitty-sync status`` (under the asset's own name)."""
    asset = context.asset_key.path[-1]
    log_sync(warehouse, context, platform=PLATFORM, asset=asset, started_at=started, status=status, **kw)


def _fail(
    context: dg.AssetExecutionContext,
    warehouse: Any,
    spec: StreamSpec,
    started: datetime,
    message: str,
    description: str,
    metadata: dict[str, Any],
) -> NoReturn:
    """Logs the stream's error and fails its asset only (the other streams' assets still run)."""
    # "failed", as every platform logs it: status --json (its schema), ChittyCheck's "last sync
    # failed" and the hub's status read that word; "error" read as "never synced".
    _log(context, warehouse, spec, started, "failed", message=message)
    raise dg.Failure(description=description, metadata=metadata) from None


def _sync(
    context: dg.AssetExecutionContext,
    spec: StreamSpec,
    neon: NeonResource,
    warehouse_resource: WarehouseResource,
    config_: SyncConfig,
    by_day: bool,
) -> dg.MaterializeResult:
    warehouse = warehouse_resource.get()
    started = now()
    t0 = time.monotonic()
    full = is_full_refresh(context, config_)
    if not neon.configured:
        _log(context, warehouse, spec, started, "not_configured")
        return not_configured_results([context.asset_key], "NEON_DATABASE_URL is not set")[0]
    window = _window(context) if by_day else None
    try:
        with neon.connect() as con:
            info = neon.describe(con, spec.schema, spec.table)
            if info is None:
                return _absent(context, spec, warehouse, started)
            r = resolve(spec, info, neon.lookback_seconds)
            added = ensure_table(warehouse, context.run.run_id, r.table)
            progress = _progress(context, spec)
            if window is not None:
                out = sync_window(neon, con, warehouse, context.run.run_id, r, *window, on_chunk=progress)
            else:
                out = sync_incremental(
                    neon, con, warehouse, context.run.run_id, r, full_refresh=full, on_chunk=progress
                )
    except NeonError as exc:
        message = neon.scrub(str(exc))
        _fail(
            context,
            warehouse,
            spec,
            started,
            message,
            message,
            {"stream": spec.name, "source_table": spec.qualified},
        )
    out.stats.extra.update(_extra(r, neon, out.high_water, out.chunks, added, window))
    out.stats.extra["duration_s"] = round(time.monotonic() - t0, 3)  # as every other platform's
    if window is not None:
        # A single-run range gives Dagster one result, which it copies onto every partition of
        # the range: say that the counts are the run's, over all of them, not this day's.
        out.stats.extra["run_partitions"] = len(context.partition_keys)
    _log(context, warehouse, spec, started, "success", stats=out.stats, full_refresh=full)
    return dg.MaterializeResult(metadata=table_metadata(warehouse, r.table, out.stats))


def _progress(context: dg.AssetExecutionContext, spec: StreamSpec) -> Any:
    def report(chunks: int) -> None:
        if chunks % 20 == 0:
            context.log.info(f"{spec.name}: {chunks} chunks written")

    return report


def _extra(
    r: Resolved,
    neon: NeonResource,
    high_water: Any,
    chunks: int,
    added: list[str],
    window: tuple[datetime, datetime] | None,
) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "configured": True,
        "table_exists": True,
        "source_table": r.spec.qualified,
        "cursor_column": r.cursor.name if r.cursor else "(none: full read)",
        "high_water": str(high_water) if high_water is not None else "",
        "lookback_seconds": float(r.lookback_s),
        "primary_key": ", ".join(r.primary_key),
        "chunks": chunks,
        "host_kind": neon.host_kind(),
    }
    if r.skipped:
        extra["skipped_columns"] = ", ".join(r.skipped)
    if added:
        extra["columns_added"] = ", ".join(added)
    if window is not None:
        extra["window"] = f"[{window[0].isoformat()}, {window[1].isoformat()})"
    return extra


def _absent(
    context: dg.AssetExecutionContext, spec: StreamSpec, warehouse: Any, started: datetime
) -> dg.MaterializeResult:
    """A default stream whose table does not exist is simply empty; a configured one is an error
    for that stream only (its asset fails, the other streams' assets still run)."""
    message = f"table {spec.qualified} does not exist in the Neon database"
    if not spec.optional:
        _fail(
            context,
            warehouse,
            spec,
            started,
            message,
            f"stream {spec.name}: {message} (check NEON_STREAMS)",
            {"stream": spec.name, "source_table": spec.qualified, "table_exists": False},
        )
    _log(context, warehouse, spec, started, "success", message=message)
    return dg.MaterializeResult(
        metadata={
            "configured": True,
            "table_exists": False,
            "source_table": spec.qualified,
            "dagster/row_count": 0,
            "reason": message,
        }
    )


def build_stream_asset(spec: StreamSpec) -> dg.AssetsDefinition:
    """The stream's incremental asset: what syncall runs; the first run reads the whole table."""

    @dg.asset(
        key=_key(spec),
        group_name=PLATFORM,
        kinds={"postgres", "duckdb"},
        description=spec.description or f"PostgreSQL table {spec.qualified}.",
        # The columns follow the upstream table, so only the name is known before a run.
        metadata={"source_table": spec.qualified, "dagster/table_name": f"{SCHEMA}.{spec.name}"},
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        neon: NeonResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        return _sync(context, spec, neon, warehouse, config, by_day=False)

    return _asset


def build_by_day_asset(spec: StreamSpec) -> dg.AssetsDefinition:
    """Re-sync of chosen days of a daily-partitioned stream into the stream's own table. Not in
    syncall: the incremental asset keeps the table complete; this one is for explicit ranges."""
    if not spec.partitioned:
        raise ValueError(f"stream {spec.name} is not daily-partitioned")
    # BackfillPolicy is "beta" in Dagster 1.13 and says so wherever the code location loads
    # (dagster CLI, webserver, daemon, every step process): a notice for this module's authors,
    # who chose it, not for the people running it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _by_day_asset(spec)


def _by_day_asset(spec: StreamSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=_day_key(spec),
        group_name=PLATFORM,
        kinds={"postgres", "duckdb"},
        description=f"Re-sync days of raw_neon.{spec.name} (the same table as raw_neon/{spec.name}): "
        "each partition deletes its day and reads it again from PostgreSQL.",
        metadata={"source_table": spec.qualified, "dagster/table_name": f"{SCHEMA}.{spec.name}"}
        | ({"partition_expr": spec.cursor} if spec.cursor else {}),
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        tags={PARTITIONED_TAG: "daily"},
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        neon: NeonResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        return _sync(context, spec, neon, warehouse, config, by_day=True)

    return _asset


def unique_key_check(spec: StreamSpec, key: dg.AssetKey | None = None) -> Check:
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        wh = context.resources.warehouse.get()
        pk = wh.cursors(PLATFORM, spec.name).get("primary_key")
        if not pk:
            return dg.AssetCheckResult(passed=True, metadata={"rows": 0, "note": "not synced yet"})
        table = TableSpec(SCHEMA, spec.name, cols(*((k, "VARCHAR") for k in pk)), tuple(pk))
        return unique_key_check_result(wh, table)

    return Check(key or _key(spec), "unique_primary_key", _check, "No key appears twice.")


def build_unique_key_check(spec: StreamSpec, by_day: bool = False) -> dg.AssetChecksDefinition:
    """One stream's key check on its own (tests materialize a few streams at a time)."""
    key = _day_key(spec) if by_day else _key(spec)
    name = f"{SCHEMA}_{key.path[-1]}_unique_primary_key"
    return bundled_checks(name, [unique_key_check(spec, key)], {"warehouse"})


HEALTH_ASSET = _key(next(s for s in STREAMS if s.name == "event_store"))


def _neon_health(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    neon: NeonResource = context.resources.neon
    health = probe(neon)
    metadata = {k: v for k, v in health.items() if k != "ok"}
    if STREAMS_ERROR:
        metadata["streams_error"] = STREAMS_ERROR
    return dg.AssetCheckResult(
        passed=bool(health["ok"]) and not STREAMS_ERROR,
        severity=dg.AssetCheckSeverity.WARN,
        # typed values: latency_ms plots as a number in the UI, configured reads as a boolean
        metadata={k: v for k, v in metadata.items() if v is not None},
    )


HEALTH_CHECK = Check(HEALTH_ASSET, "neon_health", _neon_health, "The Neon database answers.")
neon_health = bundled_checks("neon_health", [HEALTH_CHECK], {"neon"})


def _bundles() -> list[dg.AssetChecksDefinition]:
    """One step for the checks of the incremental assets (syncall) and one for those of the
    by-day assets (their partitioned job): a bundle never straddles the two kinds of run."""
    incremental = [HEALTH_CHECK, *(unique_key_check(s) for s in STREAMS)]
    by_day = [unique_key_check(s, _day_key(s)) for s in STREAMS if s.partitioned]
    bundles = [bundled_checks("neon_checks", incremental, {"neon", "warehouse"})]
    if by_day:
        bundles.append(bundled_checks("neon_partitioned_checks", by_day, {"neon", "warehouse"}))
    return bundles


NEON_ASSETS = [build_stream_asset(s) for s in STREAMS] + [
    build_by_day_asset(s) for s in STREAMS if s.partitioned
]
NEON_CHECKS = _bundles()

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(
    assets=NEON_ASSETS,
    asset_checks=NEON_CHECKS,
)
