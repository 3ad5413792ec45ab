"""Definitions of the unified projects and sessions (topics assemble their own)."""

from __future__ import annotations

import dagster as dg

from ...resources.chittyos import ChittyIdResource
from ...resources.opstore import OpStoreResource
from .entity_checks import UNIFIED_ENTITY_CHECKS
from .projects import unified_projects
from .sessions import unified_sessions

defs = dg.Definitions(
    assets=[unified_projects, unified_sessions],
    asset_checks=UNIFIED_ENTITY_CHECKS,
    resources={"opstore": OpStoreResource.from_settings(), "chitty_id": ChittyIdResource.from_settings()},
)
