"""Definitions of the unified projects and sessions (topics assemble their own)."""

from __future__ import annotations

import dagster as dg

from chitty_pipelines.chittyos.ids import ChittyIdResource
from chitty_pipelines.unified.projects import unified_projects
from chitty_pipelines.unified.sessions import unified_sessions
from chitty_pipelines.warehouse.opstore_resource import OpStoreResource

defs = dg.Definitions(
    assets=[unified_projects, unified_sessions],
    resources={"opstore": OpStoreResource.from_settings(), "chitty_id": ChittyIdResource.from_settings()},
)
