"""Seeds for the Notion fake: the demo organisation's databases (``chitty-sync demo``).

The tests' own seed (every property type, both API versions) is tests/platforms/notion_seed.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from chitty_pipelines.platforms.notion.fake import FakeNotion, rich

DEMO_EVIDENCE_DB = "dddddddd-0000-4000-8000-00000000e001"
DEMO_CASES_DB = "dddddddd-0000-4000-8000-00000000c001"


def seed_demo(fake: FakeNotion, *, org: str, projects: Sequence[str]) -> dict[str, str]:
    """A "Projects" database (one page per project, its repository under ``org``), the ledger's
    Evidence and Cases databases and a "Meeting notes" database; returns the env settings."""
    database = fake.add_database(
        "Projects",
        {
            "Name": {"type": "title"},
            "Status": {"type": "select", "select": {"options": [{"name": "Active"}, {"name": "Planned"}]}},
            "Repository": {"type": "url"},
        },
    )
    for n, name in enumerate(projects):
        fake.add_page(
            database.id,
            {
                "Name": {"type": "title", "title": rich(name)},
                "Status": {"type": "select", "select": {"name": "Active" if n < 2 else "Planned"}},
                "Repository": {"type": "url", "url": f"https://github.com/{org}/{name}"},
            },
            f"2026-10-0{n + 1}T09:00:00.000Z",
        )
    # The ChittyLedger databases (streams raw_notion.evidence and raw_notion.cases).
    ledger = {
        "Name": {"type": "title"},
        "Case": {"type": "rich_text"},
        "Filed": {"type": "date"},
    }
    fake.add_database("Evidence", ledger, database_id=DEMO_EVIDENCE_DB)
    fake.add_database("Cases", ledger, database_id=DEMO_CASES_DB)
    for n in range(2):
        fake.add_page(
            DEMO_EVIDENCE_DB,
            {
                "Name": {"type": "title", "title": rich(f"Exhibit {n + 1}")},
                "Case": {"type": "rich_text", "rich_text": rich("Demo v. Example")},
                "Filed": {"type": "date", "date": {"start": f"2026-10-2{n}", "end": None, "time_zone": None}},
            },
            f"2026-10-2{n}T12:00:00.000Z",
        )
    fake.add_page(
        DEMO_CASES_DB,
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
    return {"NOTION_EVIDENCE_DATABASE": DEMO_EVIDENCE_DB, "NOTION_CASES_DATABASE": DEMO_CASES_DB}
