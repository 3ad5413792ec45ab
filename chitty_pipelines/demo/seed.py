"""One synthetic organisation, "Chitty Demo", seeded into every fake for ``chitty-sync demo``.

The same three projects show up on several platforms under the spellings a real organisation
produces (a GitHub repository, a Notion "Projects" page, a Drive folder under ``projects/``, the
working directory of a Claude Code session), so the unified ``projects`` table has something to
resolve. Every value is fixed: the demo test can assert counts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chitty_pipelines.platforms.cloudflare.fake import FakeCloudflare
from chitty_pipelines.platforms.drive.fake import FakeDrive
from chitty_pipelines.platforms.github.fake import GitHubFake
from chitty_pipelines.platforms.notion.fake import FakeNotion, rich

ORG = "chitty-demo"
PROJECTS = ("chittyos-services", "ledger", "atlas")
DATA_REPO = f"{ORG}/chittychat-data"
T0 = datetime(2026, 10, 1, tzinfo=UTC)

DRIVE_ROOT = "0BdemoChittyosData"
NOTION_EVIDENCE_DB = "dddddddd-0000-4000-8000-00000000e001"
NOTION_CASES_DB = "dddddddd-0000-4000-8000-00000000c001"
KV_NAMESPACE = "0f2ac74b498b48028cb68387c421e279"
D1_DATABASE = "9a1b2c3d-0000-4000-8000-00000000d1d1"
R2_BUCKET = "chitty-demo-data"

# Rows each raw table holds after one demo syncall (the demo test asserts them exactly).
EXPECTED_ROWS = {
    "raw_github.repositories": 4,
    "raw_github.commits": 6,
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
    "raw_neon.evidence_ledger": 4,
    "raw_local.claude_sessions": 2,
    "raw_local.claude_messages": 4,
    "raw_local.chatgpt_conversations": 1,
    "raw_local.chatgpt_messages": 2,
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
    fake.clock = _at(10)
    return {"GITHUB_OWNERS": ORG, "GITHUB_DATA_REPOSITORY": DATA_REPO}


def seed_notion(fake: FakeNotion) -> dict[str, str]:
    """A "Projects" database (one page per project), the ledger's Evidence and Cases databases
    and a "Meeting notes" database; returns the env settings."""
    projects = fake.add_database(
        "Projects",
        {
            "Name": {"type": "title"},
            "Status": {"type": "select", "select": {"options": [{"name": "Active"}, {"name": "Planned"}]}},
            "Repository": {"type": "url"},
        },
    )
    for n, name in enumerate(PROJECTS):
        fake.add_page(
            projects.id,
            {
                "Name": {"type": "title", "title": rich(name)},
                "Status": {"type": "select", "select": {"name": "Active" if n < 2 else "Planned"}},
                "Repository": {"type": "url", "url": f"https://github.com/{ORG}/{name}"},
            },
            f"2026-10-0{n + 1}T09:00:00.000Z",
        )
    # The ChittyLedger databases (streams raw_notion.evidence and raw_notion.cases).
    ledger = {
        "Name": {"type": "title"},
        "Case": {"type": "rich_text"},
        "Filed": {"type": "date"},
    }
    fake.add_database("Evidence", ledger, database_id=NOTION_EVIDENCE_DB)
    fake.add_database("Cases", ledger, database_id=NOTION_CASES_DB)
    for n in range(2):
        fake.add_page(
            NOTION_EVIDENCE_DB,
            {
                "Name": {"type": "title", "title": rich(f"Exhibit {n + 1}")},
                "Case": {"type": "rich_text", "rich_text": rich("Demo v. Example")},
                "Filed": {"type": "date", "date": {"start": f"2026-10-2{n}", "end": None, "time_zone": None}},
            },
            f"2026-10-2{n}T12:00:00.000Z",
        )
    fake.add_page(
        NOTION_CASES_DB,
        {
            "Name": {"type": "title", "title": rich("Demo v. Example")},
            "Case": {"type": "rich_text", "rich_text": rich("2026-CV-0001")},
            "Filed": {"type": "date", "date": {"start": "2026-10-01", "end": None, "time_zone": None}},
        },
        "2026-10-01T12:00:00.000Z",
    )
    notes = fake.add_database("Meeting notes", {"Title": {"type": "title"}})
    for n, title in enumerate(("Kick-off", "Ledger review")):
        fake.add_page(
            notes.id, {"Title": {"type": "title", "title": rich(title)}}, f"2026-10-1{n}T15:00:00.000Z"
        )
    return {"NOTION_EVIDENCE_DATABASE": NOTION_EVIDENCE_DB, "NOTION_CASES_DATABASE": NOTION_CASES_DB}


def seed_drive(fake: FakeDrive) -> None:
    """chittyos-data/ with projects/<name>/ folders (each a project), JSON and Markdown files and
    one Google Doc."""
    fake.add_folder("chittyos-data", file_id=DRIVE_ROOT)
    projects = fake.add_folder("projects", DRIVE_ROOT, file_id="demo-projects")
    for name in ("ledger", "atlas"):
        folder = fake.add_folder(name, projects, file_id=f"demo-{name}")
        fake.add(
            "project.json",
            folder,
            content=json.dumps({"name": name, "owner": ORG}),
            mime_type="application/json",
            file_id=f"demo-{name}-json",
        )
    fake.add("readme.md", DRIVE_ROOT, content="# Chitty Demo\n\nSynthetic data.", mime_type="text/markdown")
    fake.add_doc("Roadmap", DRIVE_ROOT, "Roadmap\nLedger first, then Atlas.", file_id="demo-roadmap")


def seed_cloudflare(fake: FakeCloudflare) -> None:
    """Workers KV (session blobs), a D1 database with a projects table."""
    for n, name in enumerate(PROJECTS):
        fake.put_kv(KV_NAMESPACE, f"session:{name}", json.dumps({"project": name, "n": n}), metadata={"v": 1})
    fake.kv_titles[KV_NAMESPACE] = "chitty-demo-sessions"
    fake.d1_execute(
        D1_DATABASE,
        "CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL, updated_at TEXT NOT NULL);",
    )
    fake.d1_execute(
        D1_DATABASE,
        "INSERT INTO projects (id, name, updated_at) VALUES (?, ?, ?)",
        [(n + 1, name, f"2026-10-0{n + 1}T00:00:00Z") for n, name in enumerate(PROJECTS)],
    )


def seed_r2(s3: Any) -> None:
    """A bucket with two JSON entities under entities/ and one binary object."""
    # moto artefact: region "auto" needs the location constraint (real R2 does not).
    s3.create_bucket(Bucket=R2_BUCKET, CreateBucketConfiguration={"LocationConstraint": "auto"})
    for name in ("ledger", "atlas"):
        s3.put_object(Bucket=R2_BUCKET, Key=f"entities/{name}.json", Body=json.dumps({"project": name}))
    s3.put_object(Bucket=R2_BUCKET, Key="blobs/logo.png", Body=b"\x89PNG\r\n\x1a\n" + bytes(32))


def seed_neon(dsn: str, now: datetime) -> None:
    """The ChittyOS event store (events yesterday and today: syncall lands both days) and the
    evidence ledger."""
    import psycopg

    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(
            "CREATE TABLE public.event_store (chitty_id text PRIMARY KEY, aggregate_id text, "
            'aggregate_type text, event_type text, event_data jsonb, event_hash text, "timestamp" '
            "timestamptz NOT NULL)"
        )
        for n, name in enumerate(PROJECTS):
            for k, at in enumerate((today - timedelta(hours=12), today + timedelta(minutes=1))):
                con.execute(
                    "INSERT INTO event_store VALUES (%s, %s, 'project', %s, %s, %s, %s)",
                    (
                        f"demo-ev-{n}-{k}",
                        name,
                        "created" if k == 0 else "updated",
                        json.dumps({"project": name}),
                        f"h{n}{k}",
                        at + timedelta(minutes=n),
                    ),
                )
        con.execute(
            "CREATE TABLE public.evidence_ledger (id int PRIMARY KEY, case_name text, title text, "
            "updated_at timestamptz NOT NULL)"
        )
        for i in range(EXPECTED_ROWS["raw_neon.evidence_ledger"]):
            con.execute(
                "INSERT INTO evidence_ledger VALUES (%s, 'Demo v. Example', %s, %s)",
                (i + 1, f"Exhibit {i + 1}", _at(i)),
            )


def _claude_lines(session: str, cwd: str, prompt: str, answer: str, n: int) -> list[dict[str, Any]]:
    base = {"sessionId": session, "cwd": cwd, "gitBranch": "main", "version": "2.1.38", "isSidechain": False}
    user = {
        **base,
        "type": "user",
        "uuid": f"{session}-u",
        "parentUuid": None,
        "timestamp": f"2026-10-0{n + 1}T10:00:00.000Z",
        "message": {"role": "user", "content": prompt},
    }
    assistant = {
        **base,
        "type": "assistant",
        "uuid": f"{session}-a",
        "parentUuid": f"{session}-u",
        "timestamp": f"2026-10-0{n + 1}T10:00:05.000Z",
        "requestId": f"req_{session}",
        "message": {
            "id": f"msg_{session}",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": [{"type": "text", "text": answer}],
            "usage": {"input_tokens": 12, "output_tokens": 30 + n, "cache_read_input_tokens": 4},
        },
    }
    return [user, assistant]


def write_local_corpus(root: Path) -> dict[str, Path]:
    """Two Claude Code sessions (in the ledger and atlas working directories) and one ChatGPT
    export, under ``root/claude`` and ``root/exports``."""
    claude, exports = root / "claude", root / "exports"
    sessions = (
        ("ledger", "Add an evidence export to the ledger", "Added `ledger export` with tests."),
        ("atlas", "Sketch the atlas data model", "Here is a first schema for atlas."),
    )
    for n, (project, prompt, answer) in enumerate(sessions):
        folder = claude / "projects" / f"-work-{project}"
        folder.mkdir(parents=True, exist_ok=True)
        session = f"22222222-0000-4000-8000-00000000000{n + 1}"
        lines = _claude_lines(session, f"/work/{project}", prompt, answer, n)
        (folder / f"{session}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    exports.mkdir(parents=True, exist_ok=True)
    conversation = {
        "id": "demo-conv-1",
        "title": "Ledger evidence formats",
        "create_time": 1790000000.0,
        "update_time": 1790000100.0,
        "current_node": "n2",
        "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["n1"]},
            "n1": {
                "id": "n1",
                "parent": "root",
                "children": ["n2"],
                "message": {
                    "id": "n1",
                    "author": {"role": "user"},
                    "create_time": 1790000001.0,
                    "content": {"content_type": "text", "parts": ["Which format for ledger evidence?"]},
                },
            },
            "n2": {
                "id": "n2",
                "parent": "n1",
                "children": [],
                "message": {
                    "id": "n2",
                    "author": {"role": "assistant"},
                    "create_time": 1790000002.0,
                    "content": {"content_type": "text", "parts": ["JSON with a content hash."]},
                    "metadata": {"model_slug": "gpt-4o"},
                },
            },
        },
    }
    (exports / "conversations.json").write_text(json.dumps([conversation]))
    return {"claude": claude, "exports": exports}
