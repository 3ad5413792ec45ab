"""One synthetic organisation, "Chitty Demo", seeded into every fake for ``chitty-sync demo``.

The same three projects show up on several platforms under the spellings a real organisation
produces (a GitHub repository, a Notion "Projects" page, a Drive folder under ``projects/``, the
working directory of a Claude Code session), so the unified ``projects`` table has something to
resolve. Every value is fixed: the demo test can assert counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chitty_pipelines.platforms.chatgpt import seed as chatgpt_seed
from chitty_pipelines.platforms.claude_code import seed as claude_seed
from chitty_pipelines.platforms.cloudflare import seed as cloudflare_seed
from chitty_pipelines.platforms.cloudflare.fake import FakeCloudflare
from chitty_pipelines.platforms.drive import seed as drive_seed
from chitty_pipelines.platforms.drive.fake import FakeDrive
from chitty_pipelines.platforms.gemini import seed as gemini_seed
from chitty_pipelines.platforms.github.fake import GitHubFake
from chitty_pipelines.platforms.neon import seed as neon_seed
from chitty_pipelines.platforms.notion import seed as notion_seed
from chitty_pipelines.platforms.notion.fake import FakeNotion

ORG = "chitty-demo"
PROJECTS = ("chittyos-services", "ledger", "atlas")
DATA_REPO = f"{ORG}/chittychat-data"
T0 = datetime(2026, 10, 1, tzinfo=UTC)

DRIVE_ROOT = drive_seed.DEMO_ROOT
DRIVE_PROJECTS = ("ledger", "atlas")  # the projects with a folder on Drive
NOTION_EVIDENCE_DB = notion_seed.DEMO_EVIDENCE_DB
NOTION_CASES_DB = notion_seed.DEMO_CASES_DB
# Cloudflare's demo ids live with its seed (the demo's environment names them).
KV_NAMESPACE, D1_DATABASE, R2_BUCKET = (
    cloudflare_seed.KV_NAMESPACE,
    cloudflare_seed.D1_DATABASE,
    cloudflare_seed.R2_BUCKET,
)

# Rows each raw table holds after one demo syncall (the demo test asserts them exactly).
EXPECTED_ROWS = {
    "raw_github.repositories": 4,
    "raw_github.commits": 7,  # two per project repository, one in the data repository
    "raw_github.issues": 3,
    "raw_github.pull_requests": 1,
    "raw_github.project_states": 1,
    "raw_github.project_todos": 1,
    "raw_github.projects": 1,
    "raw_notion.databases": 4,
    "raw_notion.pages": 8,
    "raw_notion.evidence": 2,
    "raw_notion.cases": 1,
    "raw_drive.files": 7,
    "raw_drive.file_contents": 4,
    "raw_cloudflare.kv_entries": 3,
    "raw_cloudflare.d1_rows": 3,
    "raw_cloudflare.r2_objects": 3,
    "raw_cloudflare.r2_json_objects": 2,
    "raw_neon.event_store": 6,  # yesterday's and today's events: syncall lands the whole history
    "raw_neon.evidence_ledger": neon_seed.EVIDENCE_ROWS,
    "raw_local.claude_sessions": 2,
    "raw_local.claude_messages": 4,
    "raw_local.chatgpt_conversations": 1,
    "raw_local.chatgpt_messages": 2,
    "raw_local.gemini_prompts": 2,
    "raw_local.gemini_sessions": 1,
}


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def seed_github(fake: GitHubFake) -> dict[str, str]:
    """Three project repositories and the ChittyOS data repository; returns the env settings."""
    fake.add_owner(ORG, "Organization")
    for n, name in enumerate(PROJECTS):
        fake.add_repo(
            f"{ORG}/{name}", topics=["chittyos"], description=f"The {name} project", created_at=_at(n)
        )
        fake.add_commit(f"{ORG}/{name}", "initial commit", at=_at(n + 1))
        fake.add_commit(f"{ORG}/{name}", f"{name}: first feature", at=_at(n + 3))
        fake.add_issue(f"{ORG}/{name}", f"Plan {name}", labels=["planning"], at=_at(n + 2))
    fake.add_issue(f"{ORG}/ledger", "Add evidence export", pull_request=True, at=_at(6))
    fake.add_repo(DATA_REPO, created_at=_at(0))
    fake.put_file(
        DATA_REPO,
        "consolidated/ledger/state.json",
        {
            "projectName": "ledger",
            "projectPath": "/work/ledger",
            "totalSessions": 1,
            "sessions": [{"sessionId": "demo-ledger-1"}],
            "lastActivity": "2026-10-08T10:00:00Z",
            "dataType": "consolidated-state",
        },
        at=_at(7),
    )
    fake.put_file(
        DATA_REPO,
        "todos/ledger/todos.json",
        {
            "projectName": "ledger",
            "todos": [{"content": "export evidence", "status": "in_progress", "activeForm": "Exporting"}],
            "updatedAt": "2026-10-08T09:00:00Z",
        },
        at=_at(7),
    )
    fake.put_file(DATA_REPO, "projects/atlas.json", {"id": "atlas", "name": "Atlas"}, at=_at(7))
    # The files above are the branch's tree only once a commit holds them: without one the data
    # repository had no head, and `chitty-sync publish` in the demo said it "was not found".
    fake.add_commit(DATA_REPO, "consolidated state and todos", at=_at(7))
    fake.clock = _at(10)
    return {"GITHUB_OWNERS": ORG, "GITHUB_DATA_REPOSITORY": DATA_REPO}


def seed_notion(fake: FakeNotion) -> dict[str, str]:
    """Notion's demo databases (platforms/notion/seed.py); returns the env settings."""
    return notion_seed.seed_demo(fake, org=ORG, projects=PROJECTS)


def seed_drive(fake: FakeDrive) -> None:
    """Drive's demo folder (platforms/drive/seed.py): only ledger and atlas have a folder."""
    drive_seed.seed_demo(fake, org=ORG, projects=DRIVE_PROJECTS)


def seed_cloudflare(fake: FakeCloudflare) -> None:
    """Workers KV (session blobs), a D1 database with a projects table (platforms/cloudflare/seed.py)."""
    cloudflare_seed.seed_kv_and_d1(fake, PROJECTS)


def seed_r2(s3: Any) -> None:
    """A bucket with two JSON entities under entities/ and one binary object."""
    cloudflare_seed.seed_r2(s3, ("ledger", "atlas"))


def seed_neon(dsn: str, now: datetime) -> None:
    """The ChittyOS event store and the evidence ledger (``platforms/neon/seed.py``)."""
    neon_seed.seed_neon(dsn, now, PROJECTS, T0)


def write_local_corpus(root: Path) -> dict[str, Path]:
    """The AI tools' files of the demo organisation: two Claude Code sessions, one ChatGPT export
    and one Gemini Takeout activity file, under ``root/claude`` and ``root/exports``."""
    claude, exports = root / "claude", root / "exports"
    claude_seed.write_sessions(claude)
    chatgpt_seed.write_export(exports)
    gemini_seed.write_activity(exports)
    return {"claude": claude, "exports": exports}
