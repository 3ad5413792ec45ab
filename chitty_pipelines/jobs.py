"""Jobs: ``syncall`` materializes every asset, the other sync commands select a part of it."""

from __future__ import annotations

import dagster as dg

# Every asset, platform and unified. The CLI's syncall runs this job; in the UI it is the
# "materialize everything" button with a name. Partitioned streams (the Neon event store)
# sync their latest partition here; history is a backfill.
syncall_job = dg.define_asset_job(
    "syncall",
    selection=dg.AssetSelection.all(),
    description="Sync every platform, then rebuild the unified tables.",
)

# Jobs of daily-partitioned assets: syncall runs their latest partition; backfills run ranges.
PARTITIONED_JOBS: list[str] = []

JOBS = [syncall_job]
