"""Jobs: ``syncall`` materializes every asset, the other sync commands select a part of it."""

from __future__ import annotations

import dagster as dg

from .assets.common import PARTITIONED_TAG
from .assets.unified.topics import SESSION_TOPICS_KEY, TOPICS_KEY

# Every asset, platform and unified. The CLI's syncall runs this job; in the UI it is the
# "materialize everything" button with a name. Partitioned streams (the Neon event store)
# sync their latest partition here; history is a backfill.
syncall_job = dg.define_asset_job(
    "syncall",
    # Minus the daily-partitioned assets (tagged PARTITIONED_TAG): a job cannot mix partitioned
    # and unpartitioned assets. They run in their PARTITIONED_JOBS below.
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.tag(PARTITIONED_TAG, "daily")
    # Registration has its own job and sensors (registered when the services project syncs).
    - dg.AssetSelection.groups("ops")
    # Writing to the chittychat-data repository needs the user's approval (assets/unified/publish.py).
    - dg.AssetSelection.groups("publish"),
    description="Sync every platform, then rebuild the unified tables.",
)

# The Neon event store (and any stream configured with "partition": "daily"), by day.
neon_partitioned_job = dg.define_asset_job(
    "neon_partitioned",
    selection=dg.AssetSelection.groups("neon") & dg.AssetSelection.tag(PARTITIONED_TAG, "daily"),
    description="Daily-partitioned Neon streams; one run backfills a date range (single-run policy).",
)

# Jobs of daily-partitioned assets: syncall runs their latest partition; backfills run ranges.
PARTITIONED_JOBS: list[str] = ["neon_partitioned"]

# `chitty-sync projectsync`: this machine's sessions, then the unified tables (every source already
# in the warehouse counts; the API platforms are left to syncall and their schedules).
projectsync_job = dg.define_asset_job(
    "projectsync",
    selection=(dg.AssetSelection.groups("local") | dg.AssetSelection.groups("unified"))
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
