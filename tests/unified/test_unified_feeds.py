"""The unified layer's one way in (platform feeds, kernel/feeds.py) and its incrementality, through
the real Dagster runtime: a no-change run writes nothing and says why, one changed source row
re-derives exactly one session, Neon and Workers KV sessions land with their mapping, the KV todos
feed maps a seeded value, and unified/ names no platform."""

from __future__ import annotations

import io
import json
import re
import tokenize
from datetime import timedelta
from pathlib import Path

import pytest

from chitty_pipelines.platforms import registry
from chitty_pipelines.platforms.claude_code.tables import SESSIONS as CLAUDE_SESSIONS
from chitty_pipelines.platforms.cloudflare.tables import KV_ENTRIES
from chitty_pipelines.unified import feed_reader
from chitty_pipelines.warehouse import TableSpec, cols
from chitty_pipelines.warehouse.opstore import OpStore
from tests.unified.org_fixture import T0, register_projects, seed_platforms
from tests.unified.unified_helpers import materialize, metadata

TTL = 1800.0
NOW = (T0 + timedelta(minutes=10)).isoformat()

# contracts section 7, the Neon precedent (the columns a NEON_STREAMS "sessions" stream lands)
NEON_SESSIONS = TableSpec(
    "raw_neon",
    "sessions",
    cols(
        ("id", "UUID"),
        ("session_name", "VARCHAR"),
        ("status", "VARCHAR"),
        ("created_at", "TIMESTAMPTZ"),
        ("last_heartbeat", "TIMESTAMPTZ"),
        ("metadata", "JSON"),
    ),
    primary_key=("id",),
)
NEON_ID = "5f0c6c1e-8d3b-4a55-9c1e-0b7a8c2f4e11"


@pytest.fixture
def world(warehouse, chitty_home) -> Path:
    path = chitty_home / "opstore.sqlite"
    store = OpStore(path)
    register_projects(store)
    seed_platforms(warehouse)
    store.register_session("s1", "claude_desktop", "chittyos-services", "mac-1", {"pwd": "/x"}, now=T0)
    return path


def _meta(result, key: str) -> dict:
    return metadata(result, key)


SENTINEL = T0 - timedelta(days=365)


def _mark_all(warehouse) -> None:
    """Stamp every row's built_at with a sentinel: a row the next run rewrites loses it."""
    with warehouse.transaction("mark") as tx:
        tx.con.execute("UPDATE unified.sessions SET built_at = ?", [SENTINEL])


def _rewritten(warehouse) -> list[str]:
    df = warehouse.query(
        "SELECT session_key FROM unified.sessions WHERE built_at <> ? ORDER BY 1", [SENTINEL]
    )
    return list(df["session_key"])


def test_no_change_run_writes_nothing_and_says_why(warehouse, warehouse_resource, world):
    first = materialize(warehouse_resource, world, now=NOW, ttl=TTL, checks=False)
    assert first.success
    full = _meta(first, "unified/sessions")
    assert (full["mode"], full["rows_written"]) == ("full", 22)
    _mark_all(warehouse)

    again = materialize(warehouse_resource, world, now=NOW, ttl=TTL, checks=False)
    assert again.success
    sessions, projects = _meta(again, "unified/sessions"), _meta(again, "unified/projects")
    assert sessions["rows_written"] == 0 and projects["rows_written"] == 0
    assert sessions["skipped"].startswith("no source changed since 20")
    assert projects["skipped"].startswith("no source changed since 20")
    assert _meta(again, "unified/project_aliases")["rows_written"] == 0
    assert sessions["dagster/row_count"] == 22 and projects["dagster/row_count"] == 17
    assert _rewritten(warehouse) == []  # not one row rewritten


def test_one_changed_session_re_derives_exactly_that_session(warehouse, warehouse_resource, world):
    assert materialize(warehouse_resource, world, now=NOW, ttl=TTL, checks=False).success
    _mark_all(warehouse)
    row = warehouse.query("SELECT * FROM raw_local.claude_sessions WHERE session_id = 'c01-0'")
    changed = {k: v for k, v in row.to_dict("records")[0].items() if k in CLAUDE_SESSIONS.column_names}
    # one minute later, but still below the feed's high-water mark (c00-0 at T0): found anyway
    changed.update(title="renamed session", last_at=changed["last_at"] + timedelta(minutes=1))
    with warehouse.transaction("edit") as tx:
        tx.upsert(CLAUDE_SESSIONS, [changed])

    result = materialize(warehouse_resource, world, now=NOW, ttl=TTL, checks=False)
    assert result.success
    m = _meta(result, "unified/sessions")
    assert (m["mode"], m["rows_written"]) == ("incremental", 1)
    assert m["changed_by_source"] == {"claude_code.claude_sessions.session": 1}
    assert _rewritten(warehouse) == ["claude:c01-0"]
    s = warehouse.query("SELECT * FROM unified.sessions WHERE session_key = 'claude:c01-0'").iloc[0]
    assert s["title"] == "renamed session" and s["summary_text"].startswith("renamed session\n")
    assert (s["project_key"], s["project_rule"], s["status"]) == ("chittychat", "cwd", "ended")
    assert warehouse.scalar("SELECT count(*) FROM unified.sessions") == 22

    # a new title and no new message (no timestamp moves): the feed's fingerprint still sees it
    _mark_all(warehouse)
    changed.update(title="renamed again", line_count=42)
    with warehouse.transaction("edit") as tx:
        tx.upsert(CLAUDE_SESSIONS, [changed])
    again = _meta(materialize(warehouse_resource, world, now=NOW, ttl=TTL, checks=False), "unified/sessions")
    assert (again["rows_written"], _rewritten(warehouse)) == (1, ["claude:c01-0"])


def test_neon_and_kv_sessions_feed_unified_sessions(warehouse, warehouse_resource, world):
    meta = {"platform": "claude", "machine_id": "ci-7", "project_id": "chittyrouter", "model": "opus"}
    kv_value = [
        {"sessionId": "kv-a", "machineId": "mac-9", "platform": "claude-code",
         "timestamp": (T0 - timedelta(hours=2)).isoformat(), "active": True,
         "lastActivity": int((T0 + timedelta(minutes=5)).timestamp() * 1000)},
        {"sessionId": "kv-b", "machineId": "mac-9", "platform": "chatgpt",
         "timestamp": (T0 - timedelta(days=1)).isoformat(), "active": False,
         "lastActivity": (T0 - timedelta(hours=20)).isoformat()},
    ]  # fmt: skip
    with warehouse.transaction("seed") as tx:
        # as the Neon stream lands it (uuid -> UUID, jsonb -> JSON; pg_types.py)
        tx.ensure(NEON_SESSIONS)
        tx.con.execute(
            f"INSERT INTO {NEON_SESSIONS.sql_name} VALUES (?, ?, ?, ?, ?, ?)",
            [NEON_ID, "nightly sync", "active", T0 - timedelta(hours=1), T0 - timedelta(minutes=45),
             json.dumps(meta)],
        )  # fmt: skip
        tx.upsert(KV_ENTRIES, [
            {"namespace_id": "ns1", "key": "sessions:chittychat", "value": json.dumps(kv_value),
             "value_encoding": "utf8", "synced_at": T0},
            {"namespace_id": "ns1", "key": "config:flags", "value": "{}", "value_encoding": "utf8",
             "synced_at": T0},
        ])  # fmt: skip
    result = materialize(warehouse_resource, world, now=NOW, ttl=TTL, checks=False)
    assert result.success
    s = warehouse.query(
        "SELECT * FROM unified.sessions WHERE session_key IN ('neon:' || ?, 'kv:kv-a', 'kv:kv-b')", [NEON_ID]
    ).set_index("session_key")
    neon = s.loc[f"neon:{NEON_ID}"]
    assert (neon["platform"], neon["ai_tool"], neon["source_id"], neon["machine_id"]) == (
        "neon", "claude", NEON_ID, "ci-7")  # fmt: skip
    assert (neon["title"], list(neon["models"]), neon["project_key"], neon["project_rule"]) == (
        "nightly sync", ["opus"], "chittyrouter", "registered")  # fmt: skip
    # 55 minutes without a heartbeat at T0+10m with a 30-minute TTL: stale, not ended
    assert (neon["status"], neon["started_at"].to_pydatetime()) == ("stale", T0 - timedelta(hours=1))
    a, b = s.loc["kv:kv-a"], s.loc["kv:kv-b"]
    assert (a["platform"], a["machine_id"], a["project_key"], a["project_rule"], a["status"]) == (
        "claude-code", "mac-9", "chittychat", "registered", "active")  # fmt: skip
    assert a["last_active_at"].to_pydatetime() == T0 + timedelta(minutes=5)  # epoch milliseconds
    assert a["title"] == "claude-code session on mac-9"
    assert (b["status"], b["ended_at"].to_pydatetime()) == ("ended", T0 - timedelta(hours=20))
    assert _meta(result, "unified/sessions")["by_platform"]["neon"] == 1

    # the KV value changes: only its two sessions are re-derived, the Neon one is not read
    kv_value[0]["active"] = False
    with warehouse.transaction("edit") as tx:
        tx.upsert(KV_ENTRIES, [{"namespace_id": "ns1", "key": "sessions:chittychat",
                                "value": json.dumps(kv_value), "value_encoding": "utf8",
                                "synced_at": T0 + timedelta(minutes=6)}])  # fmt: skip
    again = materialize(warehouse_resource, world, now=NOW, ttl=TTL, checks=False)
    m = _meta(again, "unified/sessions")
    assert m["changed_by_source"] == {"cloudflare.kv_entries.session": 2} and m["rows_written"] == 2
    assert warehouse.scalar("SELECT status FROM unified.sessions WHERE session_key = 'kv:kv-a'") == "ended"

    # kv-b leaves the array: exactly its session goes, nothing else is rewritten
    with warehouse.transaction("edit") as tx:
        tx.upsert(KV_ENTRIES, [{"namespace_id": "ns1", "key": "sessions:chittychat",
                                "value": json.dumps(kv_value[:1]), "value_encoding": "utf8",
                                "synced_at": T0 + timedelta(minutes=7)}])  # fmt: skip
    third = _meta(materialize(warehouse_resource, world, now=NOW, ttl=TTL, checks=False), "unified/sessions")
    assert (third["removed"], third["rows_written"], third["dagster/row_count"]) == (1, 1, 22 + 3 - 1)
    assert warehouse.scalar("SELECT count(*) FROM unified.sessions WHERE session_key = 'kv:kv-b'") == 0


def test_kv_todos_feed_maps_a_seeded_value(warehouse):
    value = {
        "projectId": "chittychat", "lastSync": "2026-11-20T12:00:00Z", "totalUpdates": 3,
        "sessions": ["kv-a"],
        "todos": [
            {"content": "Ship the worker", "status": "in_progress", "activeForm": "Shipping the worker",
             "addedBy": "kv-a", "addedAt": "2026-11-20T10:00:00Z", "updatedBy": "kv-b",
             "updatedAt": 1763640000000},
            {"content": "Write docs", "status": "pending", "activeForm": "Writing docs"},
        ],
    }  # fmt: skip
    with warehouse.transaction("seed") as tx:
        tx.upsert(KV_ENTRIES, [
            {"namespace_id": "ns1", "key": "sync:todos:chittychat", "value": json.dumps(value),
             "value_encoding": "utf8", "synced_at": T0},
            {"namespace_id": "ns1", "key": "sync:todos:broken", "value": "not json", "value_encoding": "utf8",
             "synced_at": T0},
        ])  # fmt: skip
    (feed,) = [f for f in feed_reader.feeds("todo") if f.platform == "cloudflare"]
    assert feed.source == "raw_cloudflare.kv_entries"
    with warehouse.connect() as con:
        rows = sorted(feed_reader.read(con, feed), key=lambda r: r["content"])
    ship, docs = rows
    assert (
        ship["todo_key"].startswith("kv:chittychat:") and len(ship["todo_key"]) == len("kv:chittychat:") + 32
    )
    fields = ("project_id", "session_id", "content", "status", "active_form", "platform")
    assert {k: ship[k] for k in fields} == {
        "project_id": "chittychat", "session_id": "kv-b", "content": "Ship the worker",
        "status": "in_progress", "active_form": "Shipping the worker", "platform": "cloudflare",
    }  # fmt: skip
    assert ship["updated_at"].timestamp() == 1763640000  # epoch milliseconds
    assert (docs["session_id"], docs["updated_at"].isoformat()) == (None, "2026-11-20T12:00:00+00:00")
    assert ship["source_key"] == docs["source_key"] == "ns1/sync:todos:chittychat"


def _code_tokens(path: Path) -> list[tokenize.TokenInfo]:
    """Names and string literals of a module, without comments and docstrings."""
    toks = list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))
    skip = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT}
    out = []
    for i, t in enumerate(toks):
        if t.type == tokenize.STRING:
            prev = next((x for x in reversed(toks[:i]) if x.type not in skip), None)
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            statement = prev is None or prev.type == tokenize.NEWLINE or prev.string == ":"
            if statement and (nxt is None or nxt.type in (tokenize.NEWLINE, tokenize.NL)):
                continue  # a docstring
        if t.type in (tokenize.STRING, tokenize.NAME):
            out.append(t)
    return out


# Modules still naming platforms: none (the projects table's per-platform columns come from the
# feeds' project_columns). Kept as a set so a failure lists the offending modules.
REMAINING: set[str] = set()
# Not a platform: a folder people clone into (~/github) is a generic working directory.
NOT_A_PLATFORM = {("resolution.py", '"github"')}


def test_unified_names_no_platform():
    pattern = re.compile(r"\b(" + "|".join(registry.NAMES) + r")\b")
    folder = Path(feed_reader.__file__).parent
    naming = {
        p.name
        for p in folder.glob("*.py")
        if any(pattern.search(t.string) and (p.name, t.string) not in NOT_A_PLATFORM for t in _code_tokens(p))
    }
    assert naming == REMAINING
