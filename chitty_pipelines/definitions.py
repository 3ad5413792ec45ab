"""The one Definitions object of the code location. It only assembles; nothing is built here."""

from __future__ import annotations

import dagster as dg

from chitty_pipelines.ops import defs as ops_defs
from chitty_pipelines.ops.jobs import JOBS
from chitty_pipelines.platforms import local
from chitty_pipelines.platforms.cloudflare import assets as cloudflare_platform
from chitty_pipelines.platforms.drive import assets as drive_platform
from chitty_pipelines.platforms.github import assets as github_platform
from chitty_pipelines.platforms.neon import assets as neon_platform
from chitty_pipelines.platforms.notion import assets as notion_platform
from chitty_pipelines.unified import entities as unified_entities
from chitty_pipelines.unified import topics as unified_topics
from chitty_pipelines.warehouse.resource import WarehouseResource

defs = dg.Definitions.merge(
    dg.Definitions(resources={"warehouse": WarehouseResource.from_settings()}, jobs=JOBS),
    local.defs,
    cloudflare_platform.defs,
    drive_platform.defs,
    github_platform.defs,
    neon_platform.defs,
    notion_platform.defs,
    unified_entities.defs,
    unified_topics.defs,
    ops_defs.defs,
)
