"""ChatGPT health: does the exports folder exist, and how many conversations.json exports it holds."""

from __future__ import annotations

from typing import Any

from chitty_pipelines.kernel.local_files import LocalSessionsResource, probe_exports


def probe(resource: LocalSessionsResource) -> dict[str, Any]:
    return probe_exports(resource, resource.chatgpt_exports)
