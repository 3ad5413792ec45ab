"""The local platform (group ``local``, key prefix ``raw_local``): Claude Code transcripts and
ChatGPT exports found on this machine. Always configured: it reads whatever files exist."""

from __future__ import annotations

import dagster as dg

from chitty_pipelines.kernel.local_files import LocalSessionsResource
from chitty_pipelines.platforms.chatgpt.assets import CHATGPT_ASSETS, CHATGPT_CHECKS
from chitty_pipelines.platforms.claude_code.assets import CLAUDE_ASSETS, CLAUDE_CHECKS

defs = dg.Definitions(
    assets=[*CLAUDE_ASSETS, *CHATGPT_ASSETS],
    asset_checks=[*CLAUDE_CHECKS, *CHATGPT_CHECKS],
    resources={"local_sessions": LocalSessionsResource.from_settings()},
)
