"""Seeds for the Drive fake: the demo organisation's chittyos-data folder (``chitty-sync demo``).

The tests' own tree is tests/platforms/drive_support.py; the benchmark's is bench/api_platforms.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from chitty_pipelines.platforms.drive.fake import FakeDrive

DEMO_ROOT = "0BdemoChittyosData"


def seed_demo(fake: FakeDrive, *, org: str, projects: Sequence[str]) -> str:
    """chittyos-data/ with projects/<name>/ folders (each a project, a project.json owned by
    ``org``), a Markdown readme and one Google Doc; returns the root folder id (DRIVE_FOLDER_ID)."""
    fake.add_folder("chittyos-data", file_id=DEMO_ROOT)
    folder_of_projects = fake.add_folder("projects", DEMO_ROOT, file_id="demo-projects")
    for name in projects:
        folder = fake.add_folder(name, folder_of_projects, file_id=f"demo-{name}")
        fake.add(
            "project.json",
            folder,
            content=json.dumps({"name": name, "owner": org}),
            mime_type="application/json",
            file_id=f"demo-{name}-json",
        )
    fake.add("readme.md", DEMO_ROOT, content="# Chitty Demo\n\nSynthetic data.", mime_type="text/markdown")
    fake.add_doc("Roadmap", DEMO_ROOT, "Roadmap\nLedger first, then Atlas.", file_id="demo-roadmap")
    return DEMO_ROOT
