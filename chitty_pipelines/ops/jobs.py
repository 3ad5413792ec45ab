"""Jobs: ``syncall`` materializes every asset, the other sync commands select a part of it."""

from __future__ import annotations

import dagster as dg

from chitty_pipelines.kernel.assets import PARTITIONED_TAG
from chitty_pipelines.platforms import registry
from chitty_pipelines.unified.topics import SESSION_TOPICS_KEY, TOPICS_KEY

# Every asset, platform and unified. The CLI's syncall runs this job; in the UI it is the
# "materialize everything" button with a name. The Neon streams are incremental here (the event
# store's whole history on the first run); their by-day re-sync assets are for backfills.
syncall_job = dg.define_asset_job(
    "syncall",
    # Minus the daily-partitioned assets (tagged PARTITIONED_TAG): a job cannot mix partitioned
    # and unpartitioned assets. They run in their PARTITIONED_JOBS below.
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.tag(PARTITIONED_TAG, "daily")
    # Registration has its own job and sensors (registered when the services project syncs).
    - dg.AssetSelection.groups("ops"),
    description="Sync every platform, then rebuild the unified tables.",
)

# Re-sync by day of the Neon event store (and any stream configured with "partition": "daily").
neon_partitioned_job = dg.define_asset_job(
    "neon_partitioned",
    selection=dg.AssetSelection.groups("neon") & dg.AssetSelection.tag(PARTITIONED_TAG, "daily"),
    description="Daily-partitioned Neon streams; one run backfills a date range (single-run policy).",
)

# Jobs of daily-partitioned assets: `chitty-sync backfill --from --to` runs ranges of them.
# The AI tools' files on this machine (each platform's Dagster group is its name).
LOCAL_GROUPS: tuple[str, ...] = tuple(p.name for p in registry.PLATFORMS if p.local)

PARTITIONED_JOBS: list[str] = ["neon_partitioned"]

# `chitty-sync projectsync`: this machine's sessions, then the unified tables (every source already
# in the warehouse counts; the API platforms are left to syncall and their schedules).
projectsync_job = dg.define_asset_job(
    "projectsync",
    selection=(dg.AssetSelection.groups(*LOCAL_GROUPS) | dg.AssetSelection.groups("unified"))
    - dg.AssetSelection.tag(PARTITIONED_TAG, "daily"),
    description="Local sessions, then projects, sessions and topics (chitty-sync projectsync).",
)

# `chitty-sync topicsync`: (re)categorise unified.sessions into the topic taxonomy.
topicsync_job = dg.define_asset_job(
    "topicsync",
    selection=dg.AssetSelection.assets(SESSION_TOPICS_KEY, TOPICS_KEY),
    description="Categorise sessions into topics (chitty-sync topicsync [--full-refresh]).",
)

JOBS = [syncall_job, neon_partitioned_job, projectsync_job, topicsync_job]
