"""The local platform (group ``local``): Claude Code transcripts and ChatGPT exports."""

from __future__ import annotations

import dagster as dg

from ...resources.local_sessions import LocalSessionsResource

defs = dg.Definitions(
    assets=[],
    asset_checks=[],
    resources={"local_sessions": LocalSessionsResource.from_settings()},
)
