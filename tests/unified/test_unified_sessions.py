"""unified/sessions through Dagster: every source, project links, usage, and status transitions
driven by a controllable clock (the asset's ``now`` config) and real opstore writes."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from chitty_pipelines.unified.session_sources import session_status
from chitty_pipelines.unified.summary import unified_counts
from chitty_pipelines.warehouse.opstore import OpStore
from tests.unified.org_fixture import T0, register_projects, seed_platforms
from tests.unified.unified_helpers import check_results, materialize, metadata

TTL = 1800.0


@pytest.fixture
def world(warehouse, chitty_home):
    path = chitty_home / "opstore.sqlite"
    store = OpStore(path)
    register_projects(store)
    seed_platforms(warehouse)
    store.register_session("s1", "claude_desktop", "chittyos-services", "mac-1", {"pwd": "/x"}, now=T0)
    store.register_session(
        "s2", "openai", "unknown-thing", "mac-1", {"pwd": "/Users/x/code/chittychat/src"}, now=T0
    )
    store.register_session("s3", "gemini", None, "linux-2", {}, now=T0)
    return store, path


def _sessions(warehouse):
    return warehouse.query("SELECT * FROM unified.sessions").set_index("session_key")


def _at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def test_sources_links_and_usage(warehouse, warehouse_resource, world):
    _store, path = world
    result = materialize(warehouse_resource, path, now=_at(10), ttl=TTL)
    assert result.success
    s = _sessions(warehouse)
    assert len(s) == 17 + 1 + 2 + 1 + 3  # Claude, subagent, ChatGPT, Gemini, registered
    assert s["platform"].value_counts().to_dict() == {
        "claude_code": 18,
        "chatgpt": 2,
        "gemini": 2,
        "claude_desktop": 1,
        "openai": 1,
    }
    main = s.loc["claude:c00-0"]
    assert (main["project_key"], main["project_rule"]) == ("chittychat", "cwd")
    assert (main["input_tokens"], main["total_tokens"], main["message_count"]) == (0, 12, 10)
    assert main["summary_text"] == "work on chittychat\nfirst prompt of c00-0"
    sub = s.loc["claude:c00-0#agent-a1"]
    assert sub["parent_session_key"] == "claude:c00-0" and sub["is_subagent"]
    assert sub["project_key"] == "chittychat" and sub["project_rule"] == "parent"
    # one response written twice (51 then 70 tokens) counts once, at its largest
    assert (sub["input_tokens"], sub["output_tokens"], sub["total_tokens"]) == (80, 25, 105)
    assert (sub["message_count"], sub["tool_call_count"], list(sub["models"])) == (4, 1, ["claude-haiku-4-5"])
    assert sub["title"] == "Explore - find mint calls"
    assert s.loc["claude:c10-0", "project_key"] is None  # started in the home folder
    assert s.loc["claude:c10-0", "project_rule"] == "ignored_generic"
    gpt = s.loc["chatgpt:g1"]
    assert (gpt["message_count"], gpt["prompt_count"]) == (2, 1)
    assert gpt["summary_text"] == "Deploy the worker\nHow do I deploy with wrangler?"
    assert pd.isna(gpt["input_tokens"])  # exports carry no usage
    assert list(s.loc["chatgpt:g2", "models"]) == ["gpt-4o-mini"]
    gem = s.loc["gemini:gemini-p1"]
    assert (gem["message_count"], gem["summary_text"]) == (3, "plan a playlist\nadd jazz tracks")
    assert (s.loc["registered:s1", "project_key"], s.loc["registered:s1", "project_rule"]) == (
        "chittyos-services",
        "registered",
    )
    assert (s.loc["registered:s2", "project_key"], s.loc["registered:s2", "project_rule"]) == (
        "chittychat",
        "registered_path",
    )
    assert s.loc["registered:s3", "project_key"] is None
    assert all(check_results(result).values()), check_results(result)
    # linked: not the sessions started in ~ or /tmp, nor ChatGPT, Gemini and s3
    assert metadata(result, "unified/sessions")["linked_to_project"] == 14 + 1 + 2
    assert unified_counts(warehouse) == {
        "projects": 17,
        "sessions": 24,
        "active": 6,
        "stale": 0,
        "ended": 18,
        "topics": 0,
        "topic_categories": 0,
    }


def test_status_transitions_with_a_controllable_clock(warehouse, warehouse_resource, world):
    store, path = world

    def statuses(minutes: float) -> dict[str, str]:
        assert materialize(warehouse_resource, path, now=_at(minutes), ttl=TTL, checks=False).success
        s = _sessions(warehouse)
        return {
            k: s.loc[k, "status"]
            for k in ("claude:c00-0", "claude:c00-0#agent-a1", "registered:s1", "registered:s2")
        }

    assert statuses(10) == dict.fromkeys(statuses(10), "active")
    # 31 minutes on: the transcript went quiet (ended at its last message), the heartbeats stopped (stale)
    assert statuses(31) == {
        "claude:c00-0": "ended",
        "claude:c00-0#agent-a1": "ended",
        "registered:s1": "stale",
        "registered:s2": "stale",
    }
    assert _sessions(warehouse).loc["claude:c00-0", "ended_at"].to_pydatetime() == T0
    # a heartbeat brings s1 back; s2 is ended explicitly and stays ended whatever the clock
    assert store.heartbeat("s1", {"title": "refactor"}, now=T0 + timedelta(minutes=40)).ok
    assert store.end_session("s2", now=T0 + timedelta(minutes=41)).ok
    now = statuses(45)
    assert (now["registered:s1"], now["registered:s2"]) == ("active", "ended")
    s = _sessions(warehouse)
    assert s.loc["registered:s1", "heartbeats"] == 1 and s.loc["registered:s1", "title"] == "refactor"
    assert s.loc["registered:s2", "ended_at"].to_pydatetime() == T0 + timedelta(minutes=41)
    assert statuses(45 + 31)["registered:s1"] == "stale"
    assert statuses(60 * 24 * 365)["registered:s2"] == "ended"


def test_status_rule():
    ttl = 60.0
    assert session_status(T0, None, T0 + timedelta(seconds=60), ttl, True) == ("active", None)
    assert session_status(T0, None, T0 + timedelta(seconds=61), ttl, True) == ("stale", None)
    assert session_status(T0, None, T0 + timedelta(seconds=61), ttl, False) == ("ended", T0)
    assert session_status(T0, T0, T0, ttl, True) == ("ended", T0)
    assert session_status(None, None, T0, ttl, True) == ("stale", None)


def test_opstore_results_are_honest(chitty_home):
    store = OpStore(chitty_home / "ops.sqlite")
    assert store.journal_mode() == "wal"
    assert store.register_session("a", "claude").created
    again = store.register_session("a", "openai")
    assert again.ok and not again.created and again.record["ai_platform"] == "claude"
    assert not store.heartbeat("missing").ok
    assert store.end_session("a").ok and not store.heartbeat("a").ok  # an ended session takes no heartbeat
    assert store.end_session("a").message.startswith("already ended")
    assert store.register_project("p", "P", "/p").created and not store.register_project("p", "P2").created
    assert store.projects()[0]["path"] == "/p" and store.projects()[0]["name"] == "P2"


def test_a_session_of_slash_commands_is_summarised_by_its_first_texts(
    warehouse, warehouse_resource, chitty_home
):
    from chitty_pipelines.platforms.claude_code.tables import MESSAGES, SESSIONS

    line = {"source_file": "/c/x.jsonl", "session_id": "x", "file_kind": "main", "is_prompt": False}
    with warehouse.transaction("seed") as tx:
        tx.upsert(SESSIONS, [{"session_id": "x", "project_path": None, "last_at": T0, "title": None}])
        tx.upsert(MESSAGES, [
            {**line, "line_no": 1, "role": "user", "text": "<command-message>init</command-message>"},
            {**line, "line_no": 2, "role": "user", "text": "caveat", "is_meta": True},
            {**line, "line_no": 3, "role": "assistant", "text": "I will read the README first."},
        ])  # fmt: skip
    assert materialize(warehouse_resource, chitty_home / "ops.sqlite", now=_at(0), checks=False).success
    s = _sessions(warehouse).loc["claude:x"]
    assert s["summary_text"] == "init\nI will read the README first."
    assert (s["project_key"], s["project_rule"], s["status"]) == (None, "none", "active")


def test_an_incremental_run_reports_the_whole_tables_counts(warehouse, warehouse_resource, world):
    """by_status, by_platform and linked_to_project counted only the rows a run wrote: after a
    quiet half hour the UI said 4 sessions (the ones the clock ended) of a table of 24."""
    assert materialize(warehouse_resource, world[1], now=_at(10), ttl=TTL, checks=False).success
    result = materialize(warehouse_resource, world[1], now=_at(31), ttl=TTL, checks=False)
    meta = metadata(result, "unified/sessions")
    assert meta["mode"] == "incremental"
    counts = unified_counts(warehouse)
    assert meta["by_status"] == {s: counts[s] for s in ("active", "ended", "stale")}
    assert sum(meta["by_platform"].values()) == counts["sessions"] == 24
    assert meta["linked_to_project"] == 14 + 1 + 2
