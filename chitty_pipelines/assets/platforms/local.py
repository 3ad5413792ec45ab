"""The local platform (group ``local``, key prefix ``raw_local``): Claude Code transcripts and
ChatGPT exports found on this machine. Always configured: it reads whatever files exist."""

from __future__ import annotations

import dagster as dg

from ...resources.local_sessions import LocalSessionsResource
from .local_chatgpt import CHATGPT_ASSETS, CHATGPT_CHECKS
from .local_claude import CLAUDE_ASSETS, CLAUDE_CHECKS

defs = dg.Definitions(
    assets=[*CLAUDE_ASSETS, *CHATGPT_ASSETS],
    asset_checks=[*CLAUDE_CHECKS, *CHATGPT_CHECKS],
    resources={"local_sessions": LocalSessionsResource.from_settings()},
)
