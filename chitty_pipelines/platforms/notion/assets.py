"""The Notion platform (group ``notion``, key prefix ``raw_notion``): one step, built by the kernel.

One pass over the integration's tables materializes four assets: ``pages`` (every page,
properties as JSON), ``databases`` (the synced tables and their typed tables), and the
ChittyLedger streams ``evidence`` and ``cases`` (typed tables) when their databases are set.
Layout and cursor rules: streams.py. The checks run in the same step, after the data.
"""

from collections.abc import Iterator

import dagster as dg

from chitty_pipelines.kernel.assets import Check, rejects_check, unique_key_check
from chitty_pipelines.kernel.platform_asset import PlatformRun, TableAsset, TableResult, platform_assets
from chitty_pipelines.platforms import registry
from chitty_pipelines.platforms.notion.health import probe
from chitty_pipelines.platforms.notion.resource import NotionAuthError, NotionResource
from chitty_pipelines.platforms.notion.streams import (
    DATABASES,
    LEDGER_VARS,
    PAGES,
    PLATFORM,
    SCHEMA,
    STREAMS,
    ledger_spec,
    results,
    sync_all,
)

PAGES_KEY = dg.AssetKey([SCHEMA, "pages"])
DATABASES_KEY = dg.AssetKey([SCHEMA, "databases"])
LEDGER_KEYS = {stream: dg.AssetKey([SCHEMA, stream]) for stream in LEDGER_VARS}


def sync(run: PlatformRun) -> Iterator[TableResult]:
    """Sync the pages of every configured (or shared) Notion table, incrementally by last edit."""
    notion: NotionResource = run.resources.notion
    try:
        report, requests = sync_all(notion, run.warehouse, run_id=run.run_id, full_refresh=run.full_refresh)
    except NotionAuthError as exc:
        # A refused token is a settings problem, not a flaky one: say which variable, don't retry.
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    run.log(
        f"notion: {len(report.tables)} tables, {report.pages_read} pages read, "
        f"{report.pages_written} written, {len(report.rejects)} rejects, {requests} requests"
    )
    yield from results(report, requests, notion, run.warehouse)
    # A configured database that is missing or not shared is a reject so that the other tables
    # still sync; the step then fails naming the variable, instead of succeeding quietly.
    unreadable = [r for r in report.rejects if r.stream == "databases" and r.source.startswith("NOTION_")]
    if unreadable:
        run.fail_after(
            "; ".join(f"{r.source} names database {r.location}, {r.reason}" for r in unreadable)
            + ": check the id (with or without dashes) and share the database with the integration "
            "(••• → Connections); the other tables were synced"
        )


# --- checks -------------------------------------------------------------------------------------


def notion_api_health(context: dg.AssetExecutionContext) -> dg.AssetCheckResult:
    notion: NotionResource = context.resources.notion
    health = probe(notion, verify_ids=False)
    if not health.get("configured", True):
        return dg.AssetCheckResult(passed=True, metadata={"configured": False, "reason": health["reason"]})
    return dg.AssetCheckResult(
        passed=bool(health["ok"]),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: str(v) for k, v in health.items() if v is not None},
    )


def _ledger_unique_check(stream: str) -> Check:
    # Only the key matters here; the typed columns follow the database's schema.
    return Check(
        LEDGER_KEYS[stream],
        f"notion_{stream}_unique",
        unique_key_check(ledger_spec(stream)),
        f"No page id twice in {stream}.",
    )


CHECKS = [
    Check(
        PAGES_KEY,
        "notion_api_health",
        notion_api_health,
        "Notion answers GET /v1/users/me with the configured token.",
    ),
    Check(
        PAGES_KEY,
        "notion_pages_unique",
        unique_key_check(PAGES),
        "No page id appears twice in raw_notion.pages.",
    ),
    Check(
        PAGES_KEY,
        "notion_rejects",
        rejects_check(PLATFORM, list(STREAMS)),
        "Warns when Notion pages or properties were rejected.",
    ),
    *map(_ledger_unique_check, LEDGER_KEYS),
]

notion_sync = platform_assets(
    PLATFORM,
    name="notion_sync",
    tables=[
        TableAsset(PAGES),
        TableAsset(DATABASES),
        *(TableAsset(ledger_spec(stream)) for stream in LEDGER_KEYS),
    ],
    sync=sync,
    resource_key="notion",
    configured=lambda notion: notion.configured,
    setup_hint=registry.get(PLATFORM).setup_hint,
    checks=CHECKS,
    description="Notion pages of every shared (or listed) database, typed tables per database, "
    "and the ChittyLedger evidence and cases streams.",
)

NOTION_ASSETS: list[dg.AssetsDefinition] = [notion_sync]
NOTION_CHECKS: list[dg.AssetChecksDefinition] = []  # evaluated inside notion_sync's step

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(assets=NOTION_ASSETS)
