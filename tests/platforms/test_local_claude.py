"""Claude Code ingestion through Dagster: every layout, record type and token rule, with exact
figures (each derived by hand in tests/platforms/claude_fixtures.py docstrings)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from chitty_pipelines.kernel.jsonl_files import iter_line_blocks
from chitty_pipelines.platforms.claude_code.arrow_rows import _timestamps
from chitty_pipelines.platforms.claude_code.parser import parse_timestamp
from chitty_pipelines.warehouse import Warehouse
from tests.platforms.claude_fixtures import (
    CLAUDE_ASSETS,
    S1,
    S2,
    S3,
    S4,
    assistant,
    build_home,
    checks,
    materialize,
    metadata,
    resources,
    text,
    usage,
    write_jsonl,
)
from tests.warehouse_support import warehouse_resource_at


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory):
    """One sync of the full fixture home, shared by the read-only tests of this module."""
    tmp = tmp_path_factory.mktemp("claude_main")
    home = tmp / "claude"
    paths = build_home(home)
    warehouse_resource = warehouse_resource_at(tmp / "warehouse.duckdb", lock_timeout_s=120)
    res = resources(home, warehouse_resource, tmp)
    result = materialize(res)
    assert result.success
    return {"home": home, "paths": paths, "res": res, "result": result, "wh": warehouse_resource.get()}


def _session(wh: Warehouse, session_id: str) -> dict:
    df = wh.query("SELECT * FROM raw_local.claude_sessions WHERE session_id = ?", [session_id])
    assert len(df) == 1
    row = df.iloc[0].to_dict()
    for key in ("cwds", "cli_versions", "models", "flags"):
        row[key] = list(row[key])
    return row


def test_row_counts_metadata_and_checks(synced) -> None:
    md = metadata(synced["result"])
    assert {k: v["dagster/row_count"] for k, v in md.items()} == {
        "claude_sessions": 4,
        "claude_messages": 44,  # 24 (S1) + 3 + 2 (S2 + flat agent) + 6 + 3 + 2 (S3 + subagents) + 4 (S4)
        "claude_tool_calls": 7,  # S1 3, S2 1, S3 2, S4's replayed copy of S2's Task call 1
        "claude_todos": 7,  # TodoWrite 3 + todos/ 2 + tasks/ 2
        "claude_subagents": 3,
    }
    msgs = md["claude_messages"]
    assert msgs["rows_written"] == 44 and msgs["rejects"] == 0
    assert msgs["files_total"] == 7 and msgs["files_read"] == 7 + 3 and msgs["files_skipped"] == 0
    total = sum(p.stat().st_size for p in synced["paths"].values())
    state = sum(p.stat().st_size for p in (synced["home"] / "todos").iterdir())
    state += sum(p.stat().st_size for p in (synced["home"] / "tasks" / "list-x").glob("*.json"))
    assert msgs["bytes_read"] == total + state
    # Read once, into claude_messages: no other table claims those bytes (syncall prints each).
    assert {k: v["bytes_read"] for k, v in md.items() if k != "claude_messages"} == dict.fromkeys(
        ("claude_sessions", "claude_tool_calls", "claude_todos", "claude_subagents"), 0
    )
    assert "source_file" in [c.name for c in msgs["dagster/column_schema"].columns]
    assert all(checks(synced["result"]).values()), checks(synced["result"])


def test_v10_session_tokens_titles_counts(synced) -> None:
    s = _session(synced["wh"], S1)
    assert (s["input_tokens"], s["output_tokens"], s["cache_creation_tokens"], s["cache_read_tokens"]) == (
        16,
        61,
        106,
        1000,
    )
    assert s["total_tokens"] == 1183
    assert s["api_requests"] == 4  # msg_A/req_A, msg_S, msg_B, msg_C
    assert s["assistant_responses"] == 3  # msg_A, msg_B, msg_C (no synthetic, no API error)
    assert s["title"] == "My parser session" and s["title_source"] == "custom-title"
    assert s["prompt_count"] == 2  # meta, compact summary and tool results are not prompts
    assert s["message_count"] == 13 and s["line_count"] == 24
    assert s["tool_call_count"] == 3 and s["subagent_count"] == 1 and s["compactions"] == 1
    assert json.loads(s["tool_calls_by_name"]) == {"Bash": 1, "Read": 1, "TodoWrite": 1}
    assert s["flags"] == ["usage_without_request_id"]
    assert s["models"] == ["claude-sonnet-4-20250514"]
    assert s["cli_versions"] == ["1.0.98", "1.0.99"]
    assert s["project_path"] == "/work/app" and s["cwds"] == ["/work/app"] and s["git_branch"] == "main"
    assert s["first_at"].to_pydatetime() == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    assert s["last_at"].to_pydatetime() == datetime(2026, 11, 1, 10, 9, tzinfo=UTC)


def test_v20_flat_agent_v21_subagents_and_replay(synced) -> None:
    wh = synced["wh"]
    s2, s3, s4 = _session(wh, S2), _session(wh, S3), _session(wh, S4)
    # S2: main msg_D 50 + flat agent msg_E 20; the Task result's totalTokens is never added
    assert (s2["total_tokens"], s2["input_tokens"], s2["output_tokens"]) == (70, 29, 41)
    assert (s2["subagent_count"], s2["api_requests"], s2["line_count"], s2["message_count"]) == (1, 2, 5, 3)
    # S3: msg_G 10 + a77 msg_F (max of 4 -> 12 output) 20 + compaction agent 150; progress copy ignored
    assert (s3["total_tokens"], s3["input_tokens"], s3["output_tokens"]) == (180, 113, 67)
    assert (s3["subagent_count"], s3["api_requests"], s3["tool_call_count"]) == (2, 3, 2)
    assert s3["models"] == ["claude-haiku-4-5-20251001", "claude-opus-4-6", "claude-sonnet-4-20250514"]
    # S4 replays S2's first two lines: only its own prompt and response count
    assert (s4["total_tokens"], s4["prompt_count"], s4["message_count"], s4["tool_call_count"]) == (
        3,
        1,
        2,
        0,
    )
    assert s4["title"] == "Continue" and s4["title_source"] == "first-prompt"
    assert s4["line_count"] == 4
    assert wh.scalar("SELECT sum(total_tokens) FROM raw_local.claude_sessions") == 1183 + 70 + 180 + 3

    parts = wh.query(
        "SELECT part_id, layout, agent_type, description, tool_use_id, is_compaction, line_count "
        "FROM raw_local.claude_subagents ORDER BY part_id"
    ).to_dict("records")
    assert parts == [
        {"part_id": f"{S2}#agent-f1a2", "layout": "v2.0 flat", "agent_type": None, "description": None,
         "tool_use_id": "toolu_task1", "is_compaction": False, "line_count": 2},
        {"part_id": f"{S3}#agent-a77", "layout": "v2.1 subagents", "agent_type": "Explore",
         "description": "Find files", "tool_use_id": "toolu_task2", "is_compaction": False, "line_count": 3},
        {"part_id": f"{S3}#agent-acompact-1b", "layout": "v2.1 subagents", "agent_type": None,
         "description": None, "tool_use_id": None, "is_compaction": True, "line_count": 2},
    ]  # fmt: skip


def test_messages_keep_every_record_type(synced) -> None:
    wh = synced["wh"]
    types = dict(
        wh.query(
            "SELECT coalesce(type, '?') || '/' || coalesce(subtype, '') AS t, count(*) AS n "
            "FROM raw_local.claude_messages GROUP BY ALL"
        ).values.tolist()
    )
    assert types == {
        "user/": 17,
        "assistant/": 16,  # S1 8, S2 2, S3 4, S4 2
        "assistant/api_error": 1,
        "system/compact_boundary": 1,
        "summary/": 1,
        "ai-title/": 1,
        "custom-title/": 1,
        "queue-operation/": 1,
        "file-history-snapshot/": 1,
        "future-thing/": 1,
        "progress/hook_progress": 1,
        "progress/agent_progress": 1,
        "attachment/skill_listing": 1,
    }
    raw = wh.scalar("SELECT raw FROM raw_local.claude_messages WHERE type = 'future-thing'")
    assert '"payload": {"x": 1}' in raw  # unknown types are kept whole
    assert wh.scalar("SELECT count(*) FROM raw_local.claude_messages WHERE raw IS NOT NULL") == 1
    # the agent_progress copy carries no usage of its own
    assert (
        wh.scalar("SELECT total_tokens FROM raw_local.claude_messages WHERE subtype = 'agent_progress'")
        is None
    )
    flat = wh.query(
        "SELECT DISTINCT session_id, agent_id, file_kind, is_sidechain FROM raw_local.claude_messages "
        "WHERE source_file LIKE '%agent-f1a2.jsonl'"
    ).values.tolist()
    assert flat == [[S2, "f1a2", "agent_flat", True]]  # attributed to the lines' sessionId


def test_tool_calls_results_and_todos(synced) -> None:
    wh = synced["wh"]
    calls = wh.query(
        "SELECT session_id, tool_use_id, name, input_summary, file_paths, has_result, result_is_error "
        "FROM raw_local.claude_tool_calls ORDER BY session_id, tool_use_id"
    ).to_dict("records")
    for c in calls:
        c["file_paths"] = list(c["file_paths"])
    # no command/path/query in TodoWrite's input: its JSON, cut to 200 characters
    todo_summary = (
        '{"todos":[{"content":"Write the reader","status":"completed","activeForm":"Writing the reader"},'
        '{"content":"Write the parser","status":"in_progress","activeForm":"Writing the parser"},'
        '{"content":"Writ'
    )
    assert len(todo_summary) == 200
    assert calls == [
        {"session_id": S1, "tool_use_id": "toolu_bash", "name": "Bash", "input_summary": "ls -la",
         "file_paths": [], "has_result": True, "result_is_error": True},
        {"session_id": S1, "tool_use_id": "toolu_read", "name": "Read",
         "input_summary": "/work/app/reader.py", "file_paths": ["/work/app/reader.py"], "has_result": True,
         "result_is_error": False},
        {"session_id": S1, "tool_use_id": "toolu_todo", "name": "TodoWrite", "input_summary": todo_summary,
         "file_paths": [], "has_result": True, "result_is_error": False},
        {"session_id": S2, "tool_use_id": "toolu_task1", "name": "Task", "input_summary": "Run tests",
         "file_paths": [], "has_result": True, "result_is_error": False},
        {"session_id": S3, "tool_use_id": "toolu_glob", "name": "Glob", "input_summary": "**/*.toml",
         "file_paths": ["/work/app"], "has_result": False, "result_is_error": None},
        {"session_id": S3, "tool_use_id": "toolu_task2", "name": "Task", "input_summary": "Find files",
         "file_paths": [], "has_result": True, "result_is_error": False},
        {"session_id": S4, "tool_use_id": "toolu_task1", "name": "Task", "input_summary": "Run tests",
         "file_paths": [], "has_result": False, "result_is_error": None},
    ]  # fmt: skip
    with wh.connect() as con:
        todos = con.execute(
            "SELECT source, session_id, list_id, item_id, content, status, blocked_by "
            "FROM raw_local.claude_todos ORDER BY source, source_file, position"
        ).fetchall()
    assert [list(t) for t in todos] == [
        ["tasks", "list-x", "list-x", "1", "Ship it", "pending", ["2"]],
        ["tasks", "list-x", "list-x", "2", "Test it", "completed", None],
        ["todos", S1, S1, None, "Write the reader", "completed", None],
        ["todos", S1, S1, None, "Write the parser", "in_progress", None],
        ["transcript", S1, None, None, "Write the reader", "completed", None],
        ["transcript", S1, None, None, "Write the parser", "in_progress", None],
        ["transcript", S1, None, None, "Write the tests", "pending", None],
    ]


def test_second_claude_home_and_empty_home(tmp_path: Path, warehouse_resource, warehouse: Warehouse) -> None:
    """Several homes are read; a home without projects/ is not an error."""
    build_home(tmp_path / "a")
    (tmp_path / "empty").mkdir()
    result = materialize(resources([tmp_path / "a", tmp_path / "empty"], warehouse_resource, tmp_path))
    assert result.success
    assert metadata(result)["claude_sessions"]["dagster/row_count"] == 4


def test_a_subset_without_claude_messages_still_shows_the_bytes_read(
    tmp_path: Path, warehouse_resource, warehouse: Warehouse
) -> None:
    """The step reads the files and writes every table whatever is selected (one cursor); the
    tables it wrote outside the selection are recorded as materialized by this run too, each with
    its own counts, so the bytes are on claude_messages (not lost, not doubled)."""
    paths = build_home(tmp_path / "c")
    res = resources(tmp_path / "c", warehouse_resource, tmp_path)
    result = dg.materialize(
        list(CLAUDE_ASSETS),
        selection=[dg.AssetKey(["raw_local", "claude_sessions"]), dg.AssetKey(["raw_local", "claude_todos"])],
        resources=res,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    md = metadata(result)
    names = {"claude_messages", "claude_sessions", "claude_todos", "claude_tool_calls", "claude_subagents"}
    assert set(md) == names
    assert md["claude_messages"]["bytes_read"] >= sum(p.stat().st_size for p in paths.values())
    assert md["claude_sessions"]["bytes_read"] == 0 and md["claude_todos"]["bytes_read"] == 0
    assert md["claude_messages"]["outside_selection"] is True
    assert "outside_selection" not in md["claude_sessions"]
    # Each table's metadata is its own: what it holds now, what this run wrote to it.
    for name in names:
        assert md[name]["dagster/row_count"] == warehouse.scalar(f"SELECT count(*) FROM raw_local.{name}")
    assert md["claude_messages"]["rows_written"] == md["claude_messages"]["dagster/row_count"] > 0
    # Only the selected assets' checks ran.
    assert {e.asset_key.path[-1] for e in result.get_asset_check_evaluations()} <= {
        "claude_sessions",
        "claude_todos",
    }


def test_no_claude_home_at_all(tmp_path: Path, warehouse_resource, warehouse: Warehouse) -> None:
    result = materialize(resources(tmp_path / "missing", warehouse_resource, tmp_path))
    assert result.success
    md = metadata(result)
    assert md["claude_sessions"]["dagster/row_count"] == 0 and md["claude_messages"]["bytes_read"] == 0
    assert (
        warehouse.scalar("SELECT status FROM ops.sync_log WHERE asset = 'raw_local/claude_sessions'")
        == "success"
    )


def test_line_blocks_offsets_crlf_blank_lines_and_pending_tail(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a":1}\r\n\n{"b":2}\n{"c":3}\n{"d":')
    blocks = list(iter_line_blocks(path, 0, 0, path.stat().st_size, block_bytes=10))
    assert [[n for n, _ in b.lines] for b in blocks] == [[1], [3, 4], []]  # blank line 2 counted
    assert [b.end_offset for b in blocks] == [10, 26, 26]
    assert blocks[0].lines[0][1] == b'{"a":1}'  # CR stripped
    assert blocks[-1].eof and blocks[-1].pending_tail == 5 and blocks[-1].end_line_no == 4
    resumed = list(iter_line_blocks(path, 18, 3, path.stat().st_size))
    assert [n for b in resumed for n, _ in b.lines] == [4] and resumed[-1].bytes_read == 8


def test_impossible_timestamps_become_null_not_a_failed_batch() -> None:
    assert parse_timestamp("2026-02-10T21:11:56.906Z") == "2026-02-10T21:11:56.906Z"
    assert parse_timestamp("2025-06-14T11:00:00") == "2025-06-14T11:00:00+00:00"  # naive is UTC
    assert parse_timestamp("yesterday") is None and parse_timestamp(42) is None
    arr = _timestamps(
        ("2026-02-10T21:11:56.906Z", "2026-13-45T99:99:99.999Z", None), pa.timestamp("us", "UTC")
    )
    assert arr.to_pylist() == [datetime(2026, 2, 10, 21, 11, 56, 906000, tzinfo=UTC), None, None]


def test_ties_keep_the_last_line_and_missing_ids_fall_back_to_the_line(
    tmp_path: Path, warehouse_resource, warehouse: Warehouse
) -> None:
    """§1.8 rule 4 tie-break and rule 8 (gateways): msg_T's two lines both total 15, the last one
    (5 in, 10 out) is kept; two lines without message.id or requestId are two requests."""
    home = tmp_path / "claude"
    s = "tie"
    write_jsonl(
        home / "projects" / "-p" / f"{s}.jsonl",
        [
            assistant("t1", None, s, 0, "msg_T", "req_T", [text("a")], usage(10, 5)),
            assistant("t2", "t1", s, 0, "msg_T", "req_T", [text("b")], usage(5, 10)),
            assistant("g1", "t2", s, 1, None, None, [text("c")], usage(1, 1)),
            assistant("g2", "g1", s, 2, None, None, [text("d")], usage(2, 2)),
        ],
    )
    assert materialize(resources(home, warehouse_resource, tmp_path), with_checks=False).success
    row = warehouse.query(
        "SELECT input_tokens, output_tokens, total_tokens, api_requests, flags FROM raw_local.claude_sessions"
    ).iloc[0]
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"], row["api_requests"]) == (
        8,
        13,
        21,
        3,
    )
    assert list(row["flags"]) == ["usage_without_request_id", "usage_without_message_id"]
