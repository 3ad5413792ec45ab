"""The one Definitions object of the code location. It only assembles; nothing is built here."""

from __future__ import annotations

import dagster as dg

from .assets.platforms import cloudflare as cloudflare_platform
from .assets.platforms import drive as drive_platform
from .assets.platforms import github as github_platform
from .assets.platforms import local
from .assets.platforms import neon as neon_platform
from .assets.platforms import notion as notion_platform
from .assets.unified import entities as unified_entities
from .assets.unified import publish as unified_publish
from .assets.unified import todos as unified_todos
from .assets.unified import topics as unified_topics
from .jobs import JOBS
from .ops import defs as ops_defs
from .resources.warehouse import WarehouseResource

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
    unified_todos.defs,
    unified_publish.defs,
    ops_defs.defs,
)
