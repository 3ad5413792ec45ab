"""Jobs: ``sync_platforms`` then ``sync_unified`` (what ``chitty-sync syncall`` and the schedule run),
``syncall`` (both in one run, for the UI), and the narrower jobs of the other sync commands."""

from __future__ import annotations

import dagster as dg

from chitty_pipelines.kernel.assets import PARTITIONED_TAG
from chitty_pipelines.platforms import registry
from chitty_pipelines.unified.topics import SESSION_TOPICS_KEY, TOPICS_KEY

_PARTITIONED = dg.AssetSelection.tag(PARTITIONED_TAG, "daily")
_UNIFIED = dg.AssetSelection.groups("unified") - _PARTITIONED


SYNC_PLATFORMS, SYNC_UNIFIED = "sync_platforms", "sync_unified"

sync_unified_job = dg.define_asset_job(
    SYNC_UNIFIED,
    selection=_UNIFIED,
    description="Projects, sessions, topics from whatever the platforms have landed.",
)


def run_label(run: dg.DagsterRun) -> str:
    """The job's name, or for Dagster's own asset job (``__ASSET_JOB``: a materialization
    launched from the UI or with ``dagster asset materialize``) the assets it was asked for, e.g.
    ``assets raw_github/issues``: what a run is called in ``chitty-sync status`` and
    ops.service_health."""
    if not run.job_name.startswith("__") or not run.asset_selection:
        return run.job_name
    keys = sorted(key.to_user_string() for key in run.asset_selection)
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return f"assets {', '.join(keys[:3])}{more}"


def configured_platforms_selection() -> dg.AssetSelection:
    """The assets of every configured platform (read from the environment when the definitions
    load): a platform the user never set up is not a step of any sync job. Daily-partitioned
    assets are left out because a job cannot mix partitioned and unpartitioned assets; they run
    in PARTITIONED_JOBS."""
    names = [spec.name for spec in registry.configured()]
    return (dg.AssetSelection.groups(*names) if names else dg.AssetSelection.assets()) - _PARTITIONED


def build_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    """The jobs, built when the definitions load so that they follow what is configured."""
    platforms = configured_platforms_selection()
    return [
        # The CLI's syncall and the schedule run these two in turn, so a platform that fails
        # fails its own step and the unified layer still runs on what the others landed.
        dg.define_asset_job(
            SYNC_PLATFORMS,
            selection=platforms,
            description="Sync every configured platform (one step each); sync_unified follows.",
        ),
        sync_unified_job,
        # One run of everything configured, for the UI's "materialize all" with a name. Here a
        # failed platform skips what depends on it, as Dagster always does within one run.
        dg.define_asset_job(
            "syncall",
            selection=platforms | _UNIFIED,
            description="Every configured platform, then the unified tables, in one run.",
        ),
        neon_partitioned_job,
        projectsync_job,
        topicsync_job,
        unified_after_writes_job,
        *(platform_sync_job(target) for target in SYNC_TARGETS),
    ]


# `POST /{platform}/sync` of the sync API (and the UI): one platform's assets, or the three local
# AI tools together ("local", as the original's /local routes grouped them).
LOCAL_TARGET = "local"
SYNC_TARGETS: tuple[str, ...] = (*(p.name for p in registry.PLATFORMS), LOCAL_TARGET)


def platform_sync_job_name(target: str) -> str:
    return f"sync_{target}"


def platform_sync_job(target: str) -> dg.UnresolvedAssetJobDefinition:
    groups = LOCAL_GROUPS if target == LOCAL_TARGET else (registry.get(target).name,)
    return dg.define_asset_job(
        platform_sync_job_name(target),
        selection=dg.AssetSelection.groups(*groups) - _PARTITIONED,
        description=f"Sync {target} only (POST /{target}/sync of the sync API); sync_unified follows.",
    )


# Re-sync by day of the Neon event store (and any stream configured with "partition": "daily").
neon_partitioned_job = dg.define_asset_job(
    "neon_partitioned",
    selection=dg.AssetSelection.groups("neon") & dg.AssetSelection.tag(PARTITIONED_TAG, "daily"),
    description="Daily-partitioned Neon streams; one run backfills a date range (single-run policy).",
)

# The AI tools' files on this machine (each platform's Dagster group is its name).
LOCAL_GROUPS: tuple[str, ...] = tuple(p.name for p in registry.PLATFORMS if p.local)

# Jobs of daily-partitioned assets: syncall runs their latest partition; backfills run ranges.
PARTITIONED_JOBS: list[str] = ["neon_partitioned"]

# `chitty-sync projectsync`: this machine's sessions, then the unified tables (every source already
# in the warehouse counts; the API platforms are left to syncall and their schedules).
projectsync_job = dg.define_asset_job(
    "projectsync",
    selection=(dg.AssetSelection.groups(*LOCAL_GROUPS) | dg.AssetSelection.groups("unified"))
    - dg.AssetSelection.tag(PARTITIONED_TAG, "daily"),
    description="Local sessions, then projects, sessions and topics (chitty-sync projectsync).",
)

# The hub_writes sensor (ops/defs.py): projects, sessions and todos after API/CLI writes to the
# hub store. Topics are left to syncall (classifying is the expensive part).
unified_after_writes_job = dg.define_asset_job(
    "unified_after_writes",
    selection=dg.AssetSelection.groups("unified")
    - _PARTITIONED
    - dg.AssetSelection.assets(SESSION_TOPICS_KEY, TOPICS_KEY).downstream(),
    description="Projects, sessions and todos after writes to the hub store (sync API, sessionsync).",
)

# `chitty-sync topicsync`: (re)categorise unified.sessions into the topic taxonomy.
topicsync_job = dg.define_asset_job(
    "topicsync",
    selection=dg.AssetSelection.assets(SESSION_TOPICS_KEY, TOPICS_KEY),
    description="Categorise sessions into topics (chitty-sync topicsync [--full-refresh]).",
)
