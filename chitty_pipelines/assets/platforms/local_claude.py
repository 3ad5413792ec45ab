"""Claude Code transcripts (placeholder until the Claude Code ingestion lands)."""

import dagster as dg

CLAUDE_ASSETS: list[dg.AssetsDefinition] = []
CLAUDE_CHECKS: list[dg.AssetChecksDefinition] = []
