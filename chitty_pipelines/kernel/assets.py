"""What every platform asset shares: the full-refresh switch, metadata, not-configured results,
the sync log, and the generic data checks (unique key, rejects)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import Field

from chitty_pipelines.kernel.secrets import scrub, scrub_metadata
from chitty_pipelines.warehouse import TableSpec, Warehouse, held_connections, quote

FULL_REFRESH_TAG = "chitty/full_refresh"
# Daily-partitioned assets carry this tag (value "daily"): jobs.py keeps them out of syncall,
# because a job cannot mix partitioned and unpartitioned assets, and runs them in their own job.
PARTITIONED_TAG = "chitty/partitioned"


class SyncConfig(dg.Config):
    """Run config accepted by every platform asset."""

    full_refresh: bool = Field(
        default=False,
        description="Ignore stored cursors and read everything again (rows are upserted, never duplicated).",
    )


def is_full_refresh(context: dg.AssetExecutionContext, config: SyncConfig | None = None) -> bool:
    """True when the run config asks for it, or the run carries the ``chitty/full_refresh`` tag
    (which is how ``chitty-sync syncall --full-refresh`` asks every asset at once)."""
    tagged = str(context.run.tags.get(FULL_REFRESH_TAG, "")).lower() in {"1", "true", "yes"}
    return tagged or bool(config and config.full_refresh)


@dataclass
class StreamStats:
    """What one stream's sync did, for metadata and the sync log."""

    rows_written: int = 0
    bytes_read: int = 0
    rejects: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def table_asset_spec(
    key: dg.AssetKey,
    table: TableSpec,
    *,
    group: str,
    deps: Iterable[dg.AssetKey],
    kinds: set[str],
    description: str | None = None,
) -> dg.AssetSpec:
    """The spec of an asset that is one warehouse table: the table's name and columns go into the
    definition's metadata, so the UI shows them before the asset was ever materialized."""
    return dg.AssetSpec(
        key,
        description=description or table.description,
        group_name=group,
        deps=list(deps),
        kinds=kinds,
        metadata=table_definition_metadata(table),
    )


def table_definition_metadata(table: TableSpec) -> dict[str, Any]:
    return {"dagster/table_name": table.qualified, "dagster/column_schema": table.dagster_schema()}


def table_metadata(warehouse: Warehouse, table: TableSpec, stats: StreamStats) -> dict[str, Any]:
    """Materialization metadata in Dagster's standard keys plus what a data engineer wants to see.

    String values are masked: a platform's extra metadata can quote what a server answered."""
    return scrub_metadata(
        {
            "dagster/table_name": table.qualified,
            "dagster/row_count": warehouse.row_count(table),
            "dagster/column_schema": table.dagster_schema(),
            "rows_written": stats.rows_written,
            "bytes_read": stats.bytes_read,
            "rejects": stats.rejects,
            **stats.extra,
        }
    )


def not_configured_results(
    specs: Iterable[dg.AssetSpec] | Iterable[dg.AssetKey], reason: str
) -> list[dg.MaterializeResult]:
    """A platform the user never set up succeeds with zero rows and says why."""
    results = []
    for spec in specs:
        key = spec.key if isinstance(spec, dg.AssetSpec) else spec
        results.append(
            dg.MaterializeResult(
                asset_key=key,
                metadata={"configured": False, "reason": scrub(reason), "dagster/row_count": 0},
            )
        )
    return results


def log_sync(
    warehouse: Warehouse,
    context: dg.AssetExecutionContext,
    *,
    platform: str,
    asset: str,
    started_at: datetime,
    status: str,
    stats: StreamStats | None = None,
    full_refresh: bool = False,
    message: str = "",
) -> None:
    stats = stats or StreamStats()
    with warehouse.transaction(context.run.run_id) as tx:
        tx.log_sync(
            platform=platform,
            asset=asset,
            started_at=started_at,
            status=status,
            rows_written=stats.rows_written,
            bytes_read=stats.bytes_read,
            rejects=stats.rejects,
            full_refresh=full_refresh,
            message=message,
        )


def now() -> datetime:
    return datetime.now(UTC)


def unique_key_check_result(
    warehouse: Warehouse, table: TableSpec, asset_key: dg.AssetKey | None = None
) -> dg.AssetCheckResult:
    """Passes when no primary key value appears twice (the warehouse keeps keys unique by upsert;
    this proves it)."""
    if not warehouse.table_exists(table.schema, table.name):
        return dg.AssetCheckResult(passed=True, asset_key=asset_key, metadata={"rows": 0})
    key = ", ".join(quote(k) for k in table.primary_key)
    duplicates = warehouse.scalar(
        f"SELECT count(*) FROM (SELECT {key} FROM {table.sql_name} GROUP BY ALL HAVING count(*) > 1)"
    )
    return dg.AssetCheckResult(
        passed=duplicates == 0,
        asset_key=asset_key,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"duplicate_keys": int(duplicates), "primary_key": ", ".join(table.primary_key)},
    )


def rejects_check_result(
    warehouse: Warehouse,
    platform: str,
    streams: Sequence[str],
    asset_key: dg.AssetKey | None = None,
) -> dg.AssetCheckResult:
    """Warns (never fails) when a platform's streams have rejected records, and shows the reasons
    with where they come from (the file, database or table to fix; each record is in ops.rejects)."""
    rows = warehouse.records(
        "SELECT stream, source, reason, count(*) AS n FROM ops.rejects WHERE platform = ? AND stream IN "
        "(SELECT unnest(?)) GROUP BY ALL ORDER BY n DESC LIMIT 20",
        [platform, list(streams)],
    )
    total = sum(int(r["n"]) for r in rows)
    return dg.AssetCheckResult(
        passed=total == 0,
        asset_key=asset_key,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejects": total,
            "top_reasons": dg.MetadataValue.md(_markdown_table(rows) if total else "none"),
        },
    )


CheckFn = Callable[[dg.AssetCheckExecutionContext], dg.AssetCheckResult]


def unique_key_check(table: TableSpec) -> CheckFn:
    """A ``Check.fn`` running unique_key_check_result on the ``warehouse`` resource."""

    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return unique_key_check_result(context.resources.warehouse.get(), table)

    return _check


def rejects_check(platform: str, streams: Sequence[str]) -> CheckFn:
    """A ``Check.fn`` running rejects_check_result on the ``warehouse`` resource."""

    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return rejects_check_result(context.resources.warehouse.get(), platform, streams)

    return _check


def _markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    columns = list(rows[0]) if rows else []
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row.values()) + " |" for row in rows]
    return "\n".join([header, rule, *body])


@dataclass(frozen=True)
class Check:
    """One data check of a platform, run with the platform's other checks in a single step.

    ``fn`` receives the check step's context (resources are on ``context.resources``) and
    returns an ``AssetCheckResult``; asset key and check name are filled in from here.
    """

    asset: dg.AssetKey
    name: str
    fn: Any  # Callable[[dg.AssetCheckExecutionContext], dg.AssetCheckResult]
    description: str = ""
    blocking: bool = False


def bundled_checks(
    name: str, checks: Sequence[Check], resource_keys: Iterable[str]
) -> dg.AssetChecksDefinition:
    """All of a platform's checks as one multi-asset check.

    Separate ``@asset_check``s are separate steps, and under the multiprocess executor every step
    is a process that imports the whole code location (seconds each). One step per platform keeps
    a full sync quick while every check still shows, and can be re-run, on its own asset in the UI.

    Bundle only checks of one dependency level: never a check on an asset together with a check
    on an asset downstream of it through another op (nor a blocking check with checks on what it
    gates). Dagster would split such a bundle into aliased copies of one op (``name``,
    ``name_2``) once the job graph needs cycle resolution, and under the multiprocess executor
    the step processes can pair the copies with the wrong checks (seen with Dagster 1.13: a
    check ran before its asset, others never ran).
    """
    checks = list(checks)
    if len({(c.asset, c.name) for c in checks}) != len(checks):
        raise ValueError(f"{name}: two checks share an asset and a name")

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(c.name, asset=c.asset, description=c.description or None, blocking=c.blocking)
            for c in checks
        ],
        name=name,
        can_subset=True,
        required_resource_keys=set(resource_keys),
    )
    def _run(context):  # annotated types are strings here (future import) and Dagster rejects them
        yield from run_checks(context, checks)

    return _run


def run_checks(context: Any, checks: Sequence[Check]) -> Iterator[dg.AssetCheckResult]:
    """The selected ``checks``, in declaration order (the selection is a set, so results come in
    a stable order), as Dagster check results. Checks are small queries: they share one warehouse
    connection, released before the results go back to Dagster. A check that raises fails the
    step, as its own step would, but only after the others have reported."""
    selected = {(k.asset_key, k.name) for k in context.selected_asset_check_keys}
    errors: list[BaseException] = []
    results: list[dg.AssetCheckResult] = []
    with held_connections():
        for check in (c for c in checks if (c.asset, c.name) in selected):
            try:
                result = check.fn(context)
            except Exception as exc:
                context.log.error(f"check {check.name} on {check.asset.to_user_string()} raised {exc!r}")
                errors.append(exc)
                continue
            results.append(
                dg.AssetCheckResult(
                    passed=result.passed,
                    asset_key=check.asset,
                    check_name=check.name,
                    severity=result.severity,
                    metadata=result.metadata,
                    description=result.description,
                )
            )
    yield from results
    if errors:
        raise errors[0]
