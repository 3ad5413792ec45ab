"""The Notion platform (group ``notion``, key prefix ``raw_notion``).

One pass over the integration's tables materializes four assets: ``pages`` (every page,
properties as JSON), ``databases`` (the synced tables and their typed tables), and the
ChittyLedger streams ``evidence`` and ``cases`` (typed tables) when their databases are set.
Layout and cursor rules: notion_sync.py.
"""

from collections.abc import Iterator
from datetime import datetime

import dagster as dg

from chitty_pipelines.kernel import assets as common
from chitty_pipelines.platforms.notion.health import probe
from chitty_pipelines.platforms.notion.resource import NotionAuthError, NotionResource
from chitty_pipelines.platforms.notion.streams import DATABASES, PAGES, PLATFORM, SCHEMA, SyncReport, sync_all
from chitty_pipelines.warehouse import TableSpec, Warehouse, cols
from chitty_pipelines.warehouse.resource import WarehouseResource

PAGES_KEY = dg.AssetKey([SCHEMA, "pages"])
DATABASES_KEY = dg.AssetKey([SCHEMA, "databases"])
LEDGER_KEYS = {stream: dg.AssetKey([SCHEMA, stream]) for stream in ("evidence", "cases")}
LEDGER_VARS = {"evidence": "NOTION_EVIDENCE_DATABASE", "cases": "NOTION_CASES_DATABASE"}
STREAMS = ("pages", "databases", "evidence", "cases")


def _ledger_key_spec(stream: str) -> TableSpec:
    # Only the key matters for the uniqueness check; the columns follow the database's schema.
    return TableSpec(SCHEMA, stream, cols(("page_id", "VARCHAR")), primary_key=("page_id",))


SPECS = [
    dg.AssetSpec(PAGES_KEY, description=PAGES.description, kinds={"notion", "duckdb"}, group_name=PLATFORM),
    dg.AssetSpec(
        DATABASES_KEY, description=DATABASES.description, kinds={"notion", "duckdb"}, group_name=PLATFORM
    ),
    *(
        dg.AssetSpec(
            key,
            description=f"ChittyLedger {stream}: the pages of the {LEDGER_VARS[stream]} database, "
            "one typed column per property.",
            kinds={"notion", "duckdb"},
            group_name=PLATFORM,
        )
        for stream, key in LEDGER_KEYS.items()
    ),
]


def _not_configured(
    context: dg.AssetExecutionContext, wh: Warehouse, started: datetime, reason: str
) -> Iterator[dg.MaterializeResult]:
    for stream in STREAMS:
        common.log_sync(
            wh,
            context,
            platform=PLATFORM,
            asset=stream,
            started_at=started,
            status="not_configured",
            message=reason,
        )
    yield from common.not_configured_results(SPECS, reason)


@dg.multi_asset(specs=SPECS, can_subset=False, name="notion_sync")
def notion_sync(
    context: dg.AssetExecutionContext,
    config: common.SyncConfig,
    notion: NotionResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    """Sync the pages of every configured (or shared) Notion table, incrementally by last edit."""
    wh = warehouse.get()
    started = common.now()
    if not notion.configured:
        yield from _not_configured(context, wh, started, "NOTION_TOKEN is not set")
        return
    full = common.is_full_refresh(context, config)
    try:
        report, requests = sync_all(notion, wh, run_id=context.run.run_id, full_refresh=full)
    except NotionAuthError as exc:
        # A refused token is a settings problem, not a flaky one: say which variable, don't retry.
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    context.log.info(
        f"notion: {len(report.tables)} tables, {report.pages_read} pages read, "
        f"{report.pages_written} written, {len(report.rejects)} rejects, {requests} requests"
    )
    by_stream = {s: sum(1 for r in report.rejects if r.stream == s) for s in STREAMS}
    pages_stats = common.StreamStats(
        rows_written=report.pages_written,
        rejects=len(report.rejects),
        extra={
            "api_version": notion.api_version,
            "tables_synced": len(report.tables),
            "pages_read": report.pages_read,
            "api_requests": requests,
            "full_refresh": full,
            "tables": dg.MetadataValue.json(report.tables),
        },
    )
    db_stats = common.StreamStats(rows_written=len(report.tables), rejects=by_stream["databases"])
    common.log_sync(
        wh, context, platform=PLATFORM, asset="pages", started_at=started, status="success",
        stats=pages_stats, full_refresh=full,
    )  # fmt: skip
    common.log_sync(
        wh, context, platform=PLATFORM, asset="databases", started_at=started, status="success",
        stats=db_stats, full_refresh=full,
    )  # fmt: skip
    yield dg.MaterializeResult(asset_key=PAGES_KEY, metadata=common.table_metadata(wh, PAGES, pages_stats))
    yield dg.MaterializeResult(
        asset_key=DATABASES_KEY, metadata=common.table_metadata(wh, DATABASES, db_stats)
    )
    yield from _ledger_results(context, wh, notion, report, started, full)


def _ledger_results(
    context: dg.AssetExecutionContext,
    wh: Warehouse,
    notion: NotionResource,
    report: SyncReport,
    started: datetime,
    full: bool,
) -> Iterator[dg.MaterializeResult]:
    configured = notion.ledger_databases()
    for stream, key in LEDGER_KEYS.items():
        table_name = report.typed_tables.get(stream)
        if stream not in configured or table_name is None:
            reason = (
                f"{LEDGER_VARS[stream]} is not set"
                if stream not in configured
                else f"{LEDGER_VARS[stream]} names a database that could not be read (see ops.rejects)"
            )
            common.log_sync(
                wh, context, platform=PLATFORM, asset=stream, started_at=started, status="not_configured",
                message=reason,
            )  # fmt: skip
            yield from common.not_configured_results([key], reason)
            continue
        info = next(t for t in report.tables if t["stream"] == stream)
        stats = common.StreamStats(
            rows_written=info["pages_written"],
            rejects=sum(1 for r in report.rejects if r.stream == stream),
            extra={"table_id": info["table_id"], "title": info["title"] or "", "rebuilt": info["rebuilt"]},
        )
        common.log_sync(
            wh, context, platform=PLATFORM, asset=stream, started_at=started, status="success", stats=stats,
            full_refresh=full,
        )  # fmt: skip
        spec = _typed_spec_from_warehouse(wh, table_name)
        yield dg.MaterializeResult(asset_key=key, metadata=common.table_metadata(wh, spec, stats))


def _typed_spec_from_warehouse(wh: Warehouse, name: str) -> TableSpec:
    """The typed table's spec as it stands (its columns follow the Notion schema)."""
    df = wh.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [SCHEMA, name],
    )
    types = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}
    columns = cols(*((c, types.get(t, t)) for c, t in zip(df["column_name"], df["data_type"], strict=True)))
    return TableSpec(SCHEMA, name, columns or cols(("page_id", "VARCHAR")), primary_key=("page_id",))


# --- checks -------------------------------------------------------------------------------------


def notion_api_health(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    notion: NotionResource = context.resources.notion
    health = probe(notion)
    if not health.get("configured", True):
        return dg.AssetCheckResult(passed=True, metadata={"configured": False, "reason": health["reason"]})
    return dg.AssetCheckResult(
        passed=bool(health["ok"]),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: str(v) for k, v in health.items() if v is not None},
    )


def _ledger_unique_check(stream: str) -> common.Check:
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        warehouse: WarehouseResource = context.resources.warehouse
        return common.unique_key_check_result(warehouse.get(), _ledger_key_spec(stream))

    return common.Check(
        LEDGER_KEYS[stream], f"notion_{stream}_unique", _check, f"No page id twice in {stream}."
    )


# One step for all of Notion's checks (common.bundled_checks says why).
notion_checks = common.bundled_checks(
    "notion_checks",
    [
        common.Check(
            PAGES_KEY,
            "notion_api_health",
            notion_api_health,
            "Notion answers GET /v1/users/me with the configured token.",
        ),
        common.Check(
            PAGES_KEY,
            "notion_pages_unique",
            common.unique_key_check(PAGES),
            "No page id appears twice in raw_notion.pages.",
        ),
        common.Check(
            PAGES_KEY,
            "notion_rejects",
            common.rejects_check(PLATFORM, list(STREAMS)),
            "Warns when Notion pages or properties were rejected.",
        ),
        *map(_ledger_unique_check, LEDGER_KEYS),
    ],
    {"notion", "warehouse"},
)


NOTION_ASSETS = [notion_sync]
NOTION_CHECKS = [notion_checks]

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(
    assets=NOTION_ASSETS,
    asset_checks=NOTION_CHECKS,
)
