"""Seed data for the Notion tests: one database with every property type, one plain database."""

from __future__ import annotations

from typing import Any

from chitty_pipelines.platforms.notion.fake import FakeNotion, rich

TASKS_DB = "11111111-1111-4111-8111-111111111111"
TASKS_DS = "22222222-2222-4222-8222-222222222222"
NOTES_DB = "33333333-3333-4333-8333-333333333333"
NOTES_DS = "44444444-4444-4444-8444-444444444444"
PAGE_A = "aaaaaaaa-0000-4000-8000-000000000001"
PAGE_B = "aaaaaaaa-0000-4000-8000-000000000002"
USER = "7775f3a3-893f-43fa-b625-460c61094c78"
PEER = "5a6b7c8d-0000-4000-8000-00000000beef"

TASKS_SCHEMA: dict[str, dict[str, Any]] = {
    "Name": {"type": "title"},
    "Notes": {"type": "rich_text"},
    "Estimate": {"type": "number", "number": {"format": "number"}},
    "Priority": {"type": "select", "select": {"options": [{"name": "High"}, {"name": "Low"}]}},
    "Tags": {"type": "multi_select"},
    "State": {"type": "status"},
    "Due": {"type": "date"},
    "Owner": {"type": "people"},
    "Related": {"type": "relation", "relation": {"data_source_id": NOTES_DS}},
    "Total": {"type": "rollup", "rollup": {"function": "sum"}},
    "Score": {"type": "formula", "formula": {"expression": 'prop("Estimate") * 2'}},
    "Attachments": {"type": "files"},
    "Done": {"type": "checkbox"},
    "URL": {"type": "url"},
    "Email": {"type": "email"},
    "Phone": {"type": "phone_number"},
    "Ticket": {"type": "unique_id", "unique_id": {"prefix": "TSK"}},
    "Created": {"type": "created_time"},
    "Edited": {"type": "last_edited_time"},
    "Creator": {"type": "created_by"},
    "Editor": {"type": "last_edited_by"},
    "1st Review": {"type": "verification"},
    "Place": {"type": "place"},  # a type this project does not know
}


def full_properties(name: str, estimate: float, edited: str) -> dict[str, dict[str, Any]]:
    return {
        "Name": {"type": "title", "title": rich(name)},
        "Notes": {"type": "rich_text", "rich_text": rich("first ") + rich("second")},
        "Estimate": {"type": "number", "number": estimate},
        "Priority": {"type": "select", "select": {"id": "s1", "name": "High", "color": "red"}},
        "Tags": {
            "type": "multi_select",
            "multi_select": [{"id": "t1", "name": "etl", "color": "blue"}, {"id": "t2", "name": "notion"}],
        },
        "State": {"type": "status", "status": {"id": "st", "name": "In progress", "color": "blue"}},
        "Due": {
            "type": "date",
            "date": {"start": "2025-03-01", "end": "2025-03-05T12:30:00.000+02:00", "time_zone": None},
        },
        "Owner": {"type": "people", "people": [{"object": "user", "id": PEER.replace("-", "")}]},
        "Related": {"type": "relation", "relation": [{"id": PAGE_B}], "has_more": False},
        "Total": {"type": "rollup", "rollup": {"type": "number", "number": 7.5, "function": "sum"}},
        "Score": {"type": "formula", "formula": {"type": "number", "number": estimate * 2}},
        "Attachments": {
            "type": "files",
            "files": [
                {
                    "name": "spec.pdf",
                    "type": "file",
                    "file": {
                        "url": "https://files.example/spec.pdf",
                        "expiry_time": "2025-03-01T01:00:00.000Z",
                    },
                },
                {"name": "site", "type": "external", "external": {"url": "https://example.com"}},
            ],
        },
        "Done": {"type": "checkbox", "checkbox": True},
        "URL": {"type": "url", "url": "https://chitty.cc"},
        "Email": {"type": "email", "email": "ada@example.com"},
        "Phone": {"type": "phone_number", "phone_number": "+1 555 0100"},
        "Ticket": {"type": "unique_id", "unique_id": {"prefix": "TSK", "number": 42}},
        "Created": {"type": "created_time", "created_time": "2025-02-01T10:00:00.000Z"},
        "Edited": {"type": "last_edited_time", "last_edited_time": edited},
        "Creator": {"type": "created_by", "created_by": {"object": "user", "id": USER}},
        "Editor": {"type": "last_edited_by", "last_edited_by": {"object": "user", "id": USER}},
        "1st Review": {"type": "verification", "verification": {"state": "verified", "verified_by": None}},
        "Place": {"type": "place", "place": {"lat": 41.88, "lon": -87.63, "name": "Chicago"}},
    }


def empty_properties(name: str, edited: str) -> dict[str, dict[str, Any]]:
    return {
        "Name": {"type": "title", "title": rich(name)},
        "Notes": {"type": "rich_text", "rich_text": []},
        "Estimate": {"type": "number", "number": None},
        "Priority": {"type": "select", "select": None},
        "Tags": {"type": "multi_select", "multi_select": []},
        "State": {"type": "status", "status": None},
        "Due": {"type": "date", "date": None},
        "Owner": {"type": "people", "people": []},
        "Related": {"type": "relation", "relation": []},
        "Total": {"type": "rollup", "rollup": {"type": "array", "array": [], "function": "show_original"}},
        "Score": {"type": "formula", "formula": {"type": "string", "string": None}},
        "Attachments": {"type": "files", "files": []},
        "Done": {"type": "checkbox", "checkbox": False},
        "URL": {"type": "url", "url": None},
        "Email": {"type": "email", "email": None},
        "Phone": {"type": "phone_number", "phone_number": None},
        "Ticket": {"type": "unique_id", "unique_id": {"prefix": "TSK", "number": 43}},
        "Created": {"type": "created_time", "created_time": "2025-02-02T10:00:00.000Z"},
        "Edited": {"type": "last_edited_time", "last_edited_time": edited},
        "Creator": {"type": "created_by", "created_by": {"object": "user", "id": USER}},
        "Editor": {"type": "last_edited_by", "last_edited_by": {"object": "user", "id": USER}},
        "1st Review": {"type": "verification", "verification": {"state": "unverified"}},
        "Place": {"type": "place", "place": None},
    }


def note(title: str) -> dict[str, dict[str, Any]]:
    return {"Title": {"type": "title", "title": rich(title)}}


def seed(fake: FakeNotion, notes: int = 5) -> None:
    """Tasks: 2 pages with every property type. Notes: ``notes`` pages, one per minute."""
    fake.add_database("Tasks", TASKS_SCHEMA, database_id=TASKS_DB, data_source_ids=[TASKS_DS])
    fake.add_page(
        TASKS_DB,
        full_properties("Write the sync", 3.0, "2025-03-01T09:08:00.000Z"),
        "2025-03-01T09:08:00.000Z",
        page_id=PAGE_A,
        created_time="2025-02-01T10:00:00.000Z",
    )
    fake.add_page(
        TASKS_DB,
        empty_properties("Empty one", "2025-03-01T09:09:00.000Z"),
        "2025-03-01T09:09:00.000Z",
        page_id=PAGE_B,
        created_time="2025-02-02T10:00:00.000Z",
    )
    fake.add_database("Notes", {"Title": {"type": "title"}}, database_id=NOTES_DB, data_source_ids=[NOTES_DS])
    for i in range(notes):
        fake.add_page(
            NOTES_DB,
            note(f"note {i}"),
            f"2025-04-01T10:{i:02d}:00.000Z",
            page_id=f"bbbbbbbb-0000-4000-8000-{i:012d}",
        )
