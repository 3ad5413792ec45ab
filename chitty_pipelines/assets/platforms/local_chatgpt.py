"""ChatGPT exports (placeholder until the ChatGPT ingestion lands)."""

import dagster as dg

CHATGPT_ASSETS: list[dg.AssetsDefinition] = []
CHATGPT_CHECKS: list[dg.AssetChecksDefinition] = []
