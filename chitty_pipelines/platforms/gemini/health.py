"""Gemini health: does the exports folder exist, and how many Takeout 'My Activity.json' files it holds."""

from __future__ import annotations

from typing import Any

from chitty_pipelines.kernel.local_files import LocalSessionsResource, probe_exports


def probe(resource: LocalSessionsResource) -> dict[str, Any]:
    return probe_exports(resource, resource.gemini_activity)
