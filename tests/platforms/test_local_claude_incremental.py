"""Claude Code incremental sync: per-file cursors, appended and half-written lines, replaced files,
full refresh, small batches, and malformed input that lands in ops.rejects."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from chitty_pipelines.platforms.claude_code import streams as local_claude_sync
from chitty_pipelines.platforms.claude_code.assets import CLAUDE_ASSETS, CLAUDE_CHECKS
from chitty_pipelines.warehouse import Warehouse
from tests.platforms import claude_fixtures
from tests.platforms.claude_fixtures import (
    S1,
    S3,
    assistant,
    build_home,
    checks,
    metadata,
    resources,
    text,
    usage,
    user,
    write_jsonl,
)


def materialize(res, full_refresh: bool = False, with_checks: bool = False):
    return claude_fixtures.materialize(res, full_refresh, with_checks)  # checks only where asserted


TABLES = ("claude_sessions", "claude_messages", "claude_tool_calls", "claude_todos", "claude_subagents")


@pytest.fixture
def home(tmp_path: Path, warehouse_resource):
    root = tmp_path / "claude"
    paths = build_home(root)
    res = resources(root, warehouse_resource, tmp_path)
    assert materialize(res).success
    return {"root": root, "paths": paths, "res": res}


def _snapshot(wh: Warehouse) -> dict:
    """Every table's rows, order-independent, for before/after comparisons."""
    out = {}
    with wh.connect() as con:
        for t in TABLES:
            out[t] = sorted(map(repr, con.execute(f"SELECT * FROM raw_local.{t}").fetchall()))
    return out


def _cursor(wh: Warehouse, path: Path) -> dict:
    return wh.cursors("claude_code", "claude_code")[str(path)]


def _tokens(wh: Warehouse, session: str) -> tuple[int, int, int]:
    return tuple(
        wh.query(
            "SELECT total_tokens, prompt_count, line_count FROM raw_local.claude_sessions "
            "WHERE session_id = ?",
            [session],
        ).iloc[0]
    )


def test_unchanged_files_are_not_opened(home, warehouse: Warehouse) -> None:
    before = _snapshot(warehouse)
    result = materialize(home["res"], with_checks=True)
    md = metadata(result)["claude_messages"]
    assert md["bytes_read"] == 0 and md["files_read"] == 0
    assert md["files_skipped"] == 7 + 3 and md["rows_written"] == 0
    assert md["sessions_recomputed"] is False  # nothing committed since the last derive
    assert _snapshot(warehouse) == before
    assert all(checks(result).values())


def test_appended_lines_are_read_from_the_offset(home, warehouse: Warehouse) -> None:
    path = home["paths"]["s3"]
    size = path.stat().st_size
    assert _cursor(warehouse, path)["offset"] == size and _cursor(warehouse, path)["line_no"] == 6
    added = [
        user("s3-u2", "s3-at", S3, 10, "And the docs?"),
        assistant("s3-a2", "s3-u2", S3, 11, "msg_K", "req_K", [text("Here.")], usage(3, 4)),
    ]
    data = b"".join(json.dumps(x).encode() + b"\n" for x in added)
    with path.open("ab") as fh:
        fh.write(data)
    md = metadata(materialize(home["res"]))
    assert md["claude_messages"]["bytes_read"] == len(data)  # only the new bytes
    assert md["claude_messages"]["files_read"] == 1 and md["claude_messages"]["rows_written"] == 2
    assert md["claude_messages"]["dagster/row_count"] == 46
    lines = warehouse.query(
        "SELECT line_no, uuid FROM raw_local.claude_messages "
        "WHERE source_file = ? AND line_no > 6 ORDER BY 1",
        [str(path)],
    ).values.tolist()
    assert lines == [[7, "s3-u2"], [8, "s3-a2"]]
    assert _tokens(warehouse, S3) == (180 + 7, 2, 13)
    assert _cursor(warehouse, path)["offset"] == size + len(data)


def test_half_written_last_line_waits_until_complete(home, warehouse: Warehouse) -> None:
    path = home["paths"]["s1"]
    line = json.dumps(assistant("s1-a6", "s1-a5", S1, 12, "msg_L", "req_L", [text("late")], usage(5, 6)))
    line_b = line.encode()
    with path.open("ab") as fh:
        fh.write(line_b[:40])  # the writer is mid-line: no newline, not JSON yet
    before = _cursor(warehouse, path)
    md = metadata(materialize(home["res"]))["claude_messages"]
    assert md["bytes_read"] == 0 and md["rejects"] == 0 and md["dagster/row_count"] == 44
    assert _cursor(warehouse, path)["offset"] == before["offset"]
    assert warehouse.scalar("SELECT count(*) FROM ops.rejects") == 0

    with path.open("ab") as fh:
        fh.write(line_b[40:] + b"\n")
    md = metadata(materialize(home["res"]))["claude_messages"]
    assert md["bytes_read"] == len(line_b) + 1 and md["rejects"] == 0
    assert (
        warehouse.scalar(
            "SELECT line_no FROM raw_local.claude_messages WHERE uuid = 's1-a6' AND source_file = ?",
            [str(path)],
        )
        == 25
    )
    assert _tokens(warehouse, S1)[0] == 1183 + 11


def test_last_line_without_newline_is_taken_once_complete_json(
    tmp_path: Path, warehouse_resource, warehouse: Warehouse
) -> None:
    """Exported files often lack the final newline: a complete JSON last line is consumed, and a
    newline appended later does not shift the line numbers."""
    root = tmp_path / "claude"
    path = root / "projects" / "-p" / "s-nl.jsonl"
    path.parent.mkdir(parents=True)
    first = json.dumps(user("n1", None, "s-nl", 0, "hello")).encode()
    path.write_bytes(first)
    res = resources(root, warehouse_resource, tmp_path)
    assert metadata(materialize(res))["claude_messages"]["bytes_read"] == len(first)
    second = json.dumps(user("n2", "n1", "s-nl", 1, "again")).encode()
    with path.open("ab") as fh:
        fh.write(b"\n" + second + b"\n")
    md = metadata(materialize(res))["claude_messages"]
    assert md["bytes_read"] == len(second) + 2 and md["rows_written"] == 1
    rows = warehouse.query("SELECT line_no, uuid FROM raw_local.claude_messages ORDER BY 1").values.tolist()
    assert rows == [[1, "n1"], [2, "n2"]]


def test_replaced_shorter_file_is_reread_and_old_rows_go(home, warehouse: Warehouse) -> None:
    path = home["paths"]["s1"]
    keep = path.read_bytes().splitlines(keepends=True)[:3]  # summary, prompt, first msg_A line
    path.write_bytes(b"".join(keep))
    md = metadata(materialize(home["res"]))
    assert md["claude_messages"]["bytes_read"] == len(b"".join(keep))
    assert warehouse.scalar("SELECT count(*) FROM raw_local.claude_messages WHERE session_id = ?", [S1]) == 3
    # msg_A's first line only: 10 + 5 + 100 + 1000
    assert _tokens(warehouse, S1) == (1115, 1, 3)
    assert (
        warehouse.scalar("SELECT count(*) FROM raw_local.claude_tool_calls WHERE session_id = ?", [S1]) == 0
    )
    todo_sources = warehouse.query(
        "SELECT DISTINCT source FROM raw_local.claude_todos WHERE session_id = ?", [S1]
    ).values.ravel()
    assert list(todo_sources) == ["todos"]  # the TodoWrite rows went with their lines


def test_full_refresh_rereads_everything_and_changes_nothing(home, warehouse: Warehouse) -> None:
    before = _snapshot(warehouse)
    result = materialize(home["res"], full_refresh=True)
    md = metadata(result)["claude_messages"]
    total = sum(p.stat().st_size for p in home["paths"].values())
    state = sum(p.stat().st_size for p in home["root"].glob("t*/**/*.json") if p.is_file())
    assert md["bytes_read"] == total + state and md["files_skipped"] == 0 and md["full_refresh"] is True
    assert md["rows_written"] == 44
    assert _snapshot(warehouse) == before


def test_small_batches_give_the_same_tables(
    tmp_path: Path, warehouse_resource, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of ~600 bytes: many transactions, files split mid-way with exact cursors."""
    root = tmp_path / "claude"
    build_home(root)
    monkeypatch.setattr(local_claude_sync, "BATCH_BYTES", 600)
    md = metadata(materialize(resources(root, warehouse_resource, tmp_path)))["claude_messages"]
    assert md["batches"] > 10
    small = _snapshot(warehouse)
    assert warehouse.scalar("SELECT sum(total_tokens) FROM raw_local.claude_sessions") == 1436
    monkeypatch.setattr(local_claude_sync, "BATCH_BYTES", 32 << 20)
    assert (
        metadata(materialize(resources(root, warehouse_resource, tmp_path)))["claude_messages"]["bytes_read"]
        == 0
    )
    assert (
        metadata(materialize(resources(root, warehouse_resource, tmp_path), full_refresh=True))[
            "claude_messages"
        ]["batches"]
        == 1
    )
    assert _snapshot(warehouse) == small


def test_malformed_lines_go_to_rejects_and_the_sync_succeeds(
    tmp_path: Path, warehouse_resource, warehouse: Warehouse
) -> None:
    root = tmp_path / "claude"
    path = root / "projects" / "-p" / "bad.jsonl"
    good_user = json.dumps(user("g1", None, "bad", 0, "hi")).encode()
    good_asst = json.dumps(
        assistant("g2", "g1", "bad", 1, "msg_G", "req_G", [text("yo")], usage(1, 2))
    ).encode()
    write_jsonl(
        path,
        [
            good_user,
            b'{"type": "user", "uuid": "t1", "message": {"role": "us',  # truncated mid-file
            b"42",
            b'"massive error"',
            b"[1]",
            b'{"silly": "this"}',
            b'{"type":"user","uuid":"u8","message":{"role":"user","content":"caf\xe9 \xff"}}',
            b"",
            good_asst,
        ],
    )
    (root / "todos").mkdir()
    (root / "todos" / "x-agent-x.json").write_text("[{")
    result = materialize(resources(root, warehouse_resource, tmp_path), with_checks=True)
    assert result.success
    md = metadata(result)["claude_messages"]
    assert md["rejects"] == 7 and md["dagster/row_count"] == 2
    rejects = warehouse.query(
        "SELECT stream, source, location, reason FROM ops.rejects ORDER BY stream, length(location), location"
    ).values.tolist()
    reasons = [(loc, reason.split(":")[0]) for _, _, loc, reason in rejects]
    assert reasons == [
        ("line 2", "invalid JSON"),
        ("line 3", "not a JSON object (int)"),
        ("line 4", "not a JSON object (str)"),
        ("line 5", "not a JSON object (list)"),
        ("line 6", "not a transcript entry (no type, message or uuid)"),
        ("line 7", "invalid UTF-8"),
        ("file", "invalid JSON"),
    ]
    assert {s for _, s, _, _ in rejects} == {str(path), str(root / "todos" / "x-agent-x.json")}
    assert rejects[-1][0] == "claude_state"
    lines = (
        warehouse.query("SELECT line_no FROM raw_local.claude_messages ORDER BY 1").values.ravel().tolist()
    )
    assert lines == [1, 9]
    assert _tokens(warehouse, "bad") == (3, 1, 2)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["claude_messages_rejects"].passed
    assert evaluations["claude_messages_rejects"].severity.value == "WARN"
    # a re-run neither re-reads nor duplicates the rejects
    md = metadata(materialize(resources(root, warehouse_resource, tmp_path)))["claude_messages"]
    assert md["bytes_read"] == 0 and warehouse.scalar("SELECT count(*) FROM ops.rejects") == 7


def test_run_dying_before_sessions_are_derived_is_repaired_by_the_next(
    tmp_path: Path, warehouse_resource, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows and cursors committed, then the run dies: the next run reads nothing yet derives."""
    root = tmp_path / "claude"
    build_home(root)
    res = resources(root, warehouse_resource, tmp_path)

    def die(self) -> bool:
        raise RuntimeError("killed before derive")

    with monkeypatch.context() as m:
        m.setattr(local_claude_sync.ClaudeSync, "derive", die)
        with pytest.raises(RuntimeError, match="killed before derive"):
            materialize(res)
    assert warehouse.scalar("SELECT count(*) FROM raw_local.claude_messages") == 44
    assert not warehouse.table_exists("raw_local", "claude_sessions") or (
        warehouse.scalar("SELECT count(*) FROM raw_local.claude_sessions") == 0
    )
    md = metadata(materialize(res))["claude_sessions"]
    assert md["bytes_read"] == 0 and md["sessions_recomputed"] is True
    assert md["dagster/row_count"] == 4
    assert warehouse.scalar("SELECT sum(total_tokens) FROM raw_local.claude_sessions") == 1436


def test_transcript_secrets_stay_out_of_logs_and_metadata(
    tmp_path: Path, warehouse_resource, warehouse: Warehouse
) -> None:
    """Transcripts are user data: a token in a tool result or in a broken line reaches the
    warehouse only, never the Dagster event log (logs, metadata, check results)."""
    secret = "sk-ant-api03-DO-NOT-LEAK-0123456789"
    root = tmp_path / "claude"
    write_jsonl(
        root / "projects" / "-p" / "leaky.jsonl",
        [
            user("l1", None, "leaky", 0, "print my env"),
            user("l2", "l1", "leaky", 1, [{"type": "tool_result", "tool_use_id": "t", "content": secret}]),
            ('{"type": "user", "uuid": "l3", "content": "' + secret).encode(),  # malformed
        ],
    )
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [*CLAUDE_ASSETS, *CLAUDE_CHECKS],
        resources=resources(root, warehouse_resource, tmp_path),
        instance=instance,
    )
    assert result.success
    records = instance.all_logs(result.run_id)  # user log lines and every event with its metadata
    text = "\n".join(f"{r.user_message} {r.dagster_event!r}" for r in records)
    assert "claude_code: read 1 files" in text and "'rejects'" in text
    assert secret not in text
    assert warehouse.scalar("SELECT count(*) FROM ops.rejects WHERE excerpt LIKE '%DO-NOT-LEAK%'") == 1


def test_file_failing_mid_read_keeps_rows_and_cursor_consistent(
    tmp_path: Path, warehouse_resource, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S1 is read in small blocks and fails after two of them (a disk error, a vanished file):
    what was committed matches its cursor exactly, and the next sync completes the file."""
    root = tmp_path / "claude"
    paths = build_home(root)
    real = local_claude_sync.iter_line_blocks

    def flaky(path, *args, **kwargs):
        for n, block in enumerate(real(path, *args, **kwargs)):
            if str(path) == str(paths["s1"]) and n == 2:
                raise OSError(5, "Input/output error")
            yield block

    res = resources(root, warehouse_resource, tmp_path)
    with monkeypatch.context() as m:
        m.setattr(local_claude_sync, "BATCH_BYTES", 600)
        m.setattr(local_claude_sync, "iter_line_blocks", flaky)
        md = metadata(materialize(res))["claude_messages"]
    assert md["files_failed"] == 1 and md["files_read"] == 6 + 3
    cursor = _cursor(warehouse, paths["s1"])
    stored = warehouse.scalar(
        "SELECT max(line_no) FROM raw_local.claude_messages WHERE source_file = ?", [str(paths["s1"])]
    )
    assert 0 < cursor["line_no"] < 24 and stored == cursor["line_no"]
    md = metadata(materialize(res))["claude_messages"]
    assert md["files_read"] == 1 and md["dagster/row_count"] == 44
    assert warehouse.scalar("SELECT sum(total_tokens) FROM raw_local.claude_sessions") == 1436
