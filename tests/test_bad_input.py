"""Bad input (issue 15): every kind ends as a row in ops.rejects (or a failed step naming the
variable, for a folder that is not there), never as a crash or a hang, and the good data lands.

Each test has a timeout so a hang (a FIFO opened for reading) fails instead of blocking the suite.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from chitty_pipelines.kernel.local_files import LocalSessionsResource
from chitty_pipelines.platforms.chatgpt.assets import CHATGPT_ASSETS
from chitty_pipelines.platforms.claude_code.assets import CLAUDE_ASSETS
from chitty_pipelines.platforms.gemini.assets import GEMINI_ASSETS
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource

SESSION = "aaaaaaaa-0000-4000-8000-000000000001"


def _assistant(uuid: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "assistant",
        "uuid": uuid,
        "sessionId": SESSION,
        "timestamp": "2026-11-01T10:00:00.000Z",
        "requestId": f"req-{uuid}",
        "message": {
            "id": f"msg-{uuid}",
            "role": "assistant",
            "model": "claude-x",
            "content": [],
            "usage": usage,
        },
    }


GOOD = _assistant("good-1", {"input_tokens": 10, "output_tokens": 5})
GOOD_LINE = json.dumps(GOOD).encode() + b"\n"


def _projects(chitty_home: Path) -> Path:
    folder = Path(os.environ["CLAUDE_HOME"]) / "projects" / "-work-app"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _run_claude(wh_res: WarehouseResource, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        CLAUDE_ASSETS,
        resources={"warehouse": wh_res, "local_sessions": LocalSessionsResource.from_settings()},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def _rejects(wh: Warehouse, platform: str) -> list[tuple[str, str, str, str]]:
    df = wh.query(
        "SELECT stream, source, location, reason FROM ops.rejects"
        " WHERE platform = ? ORDER BY source, location",
        [platform],
    )
    return [tuple(r) for r in df.itertuples(index=False)]


def _messages(wh: Warehouse) -> int:
    return int(wh.scalar("SELECT count(*) FROM raw_local.claude_messages"))


# -- Claude Code: usage values -------------------------------------------------------------------
USAGE_FIELDS = ["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]
BAD_VALUES: list[tuple[str, Any, str]] = [
    ("int64_overflow", 99999999999999999999, "above 2^40"),
    ("negative", -5, "negative"),
    ("string", "12", "not a non-negative integer (str"),
    ("float", 1.5, "not a non-negative integer (float"),
    ("null", None, "not a non-negative integer (null"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("field", USAGE_FIELDS)
@pytest.mark.parametrize(("kind", "value", "reason"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_claude_bad_usage_value(
    chitty_home: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse,
    field: str, kind: str, value: Any, reason: str,
) -> None:  # fmt: skip
    bad = _assistant("bad-1", {"input_tokens": 1, "output_tokens": 2, field: value})
    path = _projects(chitty_home) / f"{SESSION}.jsonl"
    path.write_bytes(GOOD_LINE + json.dumps(bad).encode() + b"\n")
    _run_claude(warehouse_resource)
    # both lines land (the bad value clipped), the session derives, one reject names the field
    assert _messages(warehouse) == 2
    rejects = _rejects(warehouse, "claude_code")
    assert len(rejects) == 1
    stream, source, location, why = rejects[0]
    assert (stream, source, location) == ("claude_code", str(path), f"line 2 usage.{field}")
    assert reason in why
    total = warehouse.scalar("SELECT total_tokens FROM raw_local.claude_sessions")
    assert 15 <= int(total) < 2**63


@pytest.mark.timeout(60)
def test_claude_session_sum_above_int64_does_not_break_other_sessions(
    chitty_home: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    folder = _projects(chitty_home)
    other = "bbbbbbbb-0000-4000-8000-000000000002"
    huge = [_assistant(f"h{i}", {"input_tokens": 2**62, "output_tokens": 2**62}) for i in range(4)]
    (folder / f"{SESSION}.jsonl").write_text("".join(json.dumps(h) + "\n" for h in huge))
    (folder / f"{other}.jsonl").write_text(json.dumps({**GOOD, "sessionId": other}) + "\n")
    _run_claude(warehouse_resource)
    rows = dict(warehouse.query("SELECT session_id, total_tokens FROM raw_local.claude_sessions").values)
    assert rows[other] == 15
    assert 0 < rows[SESSION] < 2**63
    assert len(_rejects(warehouse, "claude_code")) == 8  # two clipped fields on each of four lines


# -- Claude Code: lines --------------------------------------------------------------------------
LINE_CASES: list[tuple[str, bytes, str]] = [
    ("invalid_utf8_middle", b'{"type": "user", "uuid": "x\xff\xfe"}\n', "invalid UTF-8"),
    ("json_array", b"[1, 2, 3]\n", "not a JSON object (list)"),
    ("json_number", b"42\n", "not a JSON object (int)"),
    ("json_string", b'"hello"\n', "not a JSON object (str)"),
    ("deeply_nested", b"[" * 100_000 + b"]" * 100_000 + b"\n", "invalid JSON"),
    ("not_an_entry", b'{"foo": 1}\n', "not a transcript entry"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("kind", "line", "reason"), LINE_CASES, ids=[c[0] for c in LINE_CASES])
def test_claude_bad_line(
    chitty_home: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse,
    kind: str, line: bytes, reason: str,
) -> None:  # fmt: skip
    path = _projects(chitty_home) / f"{SESSION}.jsonl"
    path.write_bytes(
        GOOD_LINE + line + json.dumps(_assistant("good-2", {"output_tokens": 1})).encode() + b"\n"
    )
    _run_claude(warehouse_resource)
    assert _messages(warehouse) == 2
    rejects = _rejects(warehouse, "claude_code")
    assert [(r[0], r[1], r[2]) for r in rejects] == [("claude_code", str(path), "line 2")]
    assert reason in rejects[0][3]


@pytest.mark.timeout(60)
def test_claude_bom_on_first_line_is_accepted(
    chitty_home: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    (_projects(chitty_home) / f"{SESSION}.jsonl").write_bytes(b"\xef\xbb\xbf" + GOOD_LINE + GOOD_LINE)
    _run_claude(warehouse_resource)
    assert _messages(warehouse) == 2
    assert _rejects(warehouse, "claude_code") == []


@pytest.mark.timeout(120)
def test_claude_50mb_single_line(
    chitty_home: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    big = {**GOOD, "uuid": "big", "message": {**GOOD["message"], "content": "x" * (50 << 20)}}
    path = _projects(chitty_home) / f"{SESSION}.jsonl"
    path.write_bytes(GOOD_LINE + json.dumps(big).encode() + b"\n")
    _run_claude(warehouse_resource)
    assert _messages(warehouse) == 2  # the line lands, its text cut to the excerpt length
    assert _rejects(warehouse, "claude_code") == []


@pytest.mark.timeout(60)
def test_claude_truncated_last_line_waits_then_lands(
    chitty_home: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    path = _projects(chitty_home) / f"{SESSION}.jsonl"
    second = json.dumps(_assistant("good-2", {"output_tokens": 1})).encode()
    path.write_bytes(GOOD_LINE + second[:20])  # still being written
    _run_claude(warehouse_resource)
    assert _messages(warehouse) == 1
    assert _rejects(warehouse, "claude_code") == []  # a half line is pending, not bad
    path.write_bytes(GOOD_LINE + second + b"\n")
    _run_claude(warehouse_resource)
    assert _messages(warehouse) == 2


@pytest.mark.timeout(60)
def test_claude_empty_file_then_growing(
    chitty_home: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    path = _projects(chitty_home) / f"{SESSION}.jsonl"
    path.write_bytes(b"")
    _run_claude(warehouse_resource)
    assert _messages(warehouse) == 0
    path.write_bytes(GOOD_LINE)
    _run_claude(warehouse_resource)
    assert _messages(warehouse) == 1
    assert _rejects(warehouse, "claude_code") == []


@pytest.mark.timeout(60)
def test_claude_duplicate_uuid_lines_are_kept_by_line(
    chitty_home: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    # the same uuid legitimately repeats (resumed sessions): rows are keyed by (file, line), and
    # the token de-duplication counts the response once
    (_projects(chitty_home) / f"{SESSION}.jsonl").write_bytes(GOOD_LINE * 3)
    _run_claude(warehouse_resource)
    assert _messages(warehouse) == 3
    assert int(warehouse.scalar("SELECT total_tokens FROM raw_local.claude_sessions")) == 15


# -- Claude Code: paths that are not regular files ----------------------------------------------
def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return "named pipe (FIFO)"


def _socket(path: Path) -> str:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return "a socket"


def _loop(path: Path) -> str:
    os.symlink(path, path)
    return "symlink loop"


def _dangling(path: Path) -> str:
    os.symlink(path.parent / "gone.txt", path)
    return "dangling symlink"


def _directory(path: Path) -> str:
    path.mkdir()
    return "a directory"


PATH_CASES = {
    "fifo": _fifo,
    "socket": _socket,
    "symlink_loop": _loop,
    "dangling": _dangling,
    "dir": _directory,
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", list(PATH_CASES))
def test_claude_not_a_regular_file(
    chitty_home: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse, kind: str
) -> None:
    folder = _projects(chitty_home)
    (folder / f"{SESSION}.jsonl").write_bytes(GOOD_LINE)
    bad = folder / "x.jsonl"
    reason = PATH_CASES[kind](bad)
    _run_claude(warehouse_resource)
    assert _messages(warehouse) == 1
    rejects = _rejects(warehouse, "claude_code")
    assert [(r[0], r[1], r[2]) for r in rejects] == [("claude_code", str(bad), "file")]
    assert reason in rejects[0][3]


@pytest.mark.timeout(30)
def test_claude_unreadable_file(
    chitty_home: Path,
    warehouse_resource: WarehouseResource,
    warehouse: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = _projects(chitty_home)
    (folder / f"{SESSION}.jsonl").write_bytes(GOOD_LINE)
    locked = folder / "locked.jsonl"
    locked.write_bytes(GOOD_LINE)
    real_open = builtins.open

    def deny(file: Any, *args: Any, **kwargs: Any) -> Any:  # tests run as root: chmod 000 reads
        if str(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    _run_claude(warehouse_resource)
    assert _messages(warehouse) == 1
    rejects = _rejects(warehouse, "claude_code")
    assert [(r[1], r[2], r[3]) for r in rejects] == [(str(locked), "file", "cannot read: Permission denied")]


@pytest.mark.timeout(30)
def test_claude_missing_home_warns_naming_the_variable_and_the_rest_lands(
    chitty_home: Path,
    tmp_path: Path,
    warehouse_resource: WarehouseResource,
    warehouse: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CLAUDE_HOME=<a home>,<a typo>: the home's sessions land; the typo is a warning in the
    materialization metadata and the sync log (read by `status`), never a silent green run."""
    home = tmp_path / "home"
    (home / "projects" / "-work-app").mkdir(parents=True)
    (home / "projects" / "-work-app" / f"{SESSION}.jsonl").write_bytes(GOOD_LINE)
    monkeypatch.setenv("CLAUDE_HOME", f"{home},{tmp_path / 'nope'}")
    result = _run_claude(warehouse_resource)
    assert result.success and _messages(warehouse) == 1
    for mat in result.get_asset_materialization_events():
        warning = mat.materialization.metadata["warning"].value
        assert f"CLAUDE_HOME points to {tmp_path / 'nope'}, which does not exist" in warning
    logged = warehouse.query(
        "SELECT status, message FROM ops.sync_log WHERE platform = 'claude_code'"
    ).itertuples(index=False)
    assert all(st == "success" and msg.startswith("warning: CLAUDE_HOME points to") for st, msg in logged)
    from chitty_pipelines.ops.status import status_warnings

    assert [w["source"] for w in status_warnings(warehouse)] == ["claude_code"]  # once, not per table


# -- ChatGPT ----------------------------------------------------------------------------------
def _conversation(cid: str) -> dict[str, Any]:
    return {
        "id": cid,
        "conversation_id": cid,
        "title": cid,
        "create_time": 1700000000.0,
        "update_time": 1700000001.0,
        "current_node": "n1",
        "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["n1"]},
            "n1": {
                "id": "n1",
                "parent": "root",
                "children": [],
                "message": {
                    "id": "m1",
                    "author": {"role": "user"},
                    "content": {"content_type": "text", "parts": ["hi"]},
                    "create_time": 1700000000.0,
                },
            },
        },
    }


def _run_export(
    wh_res: WarehouseResource, exports: Path, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        CHATGPT_ASSETS,
        resources={
            "warehouse": wh_res,
            "local_sessions": LocalSessionsResource(claude_homes=[], exports_dir=str(exports)),
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def _cyclic() -> dict[str, Any]:
    conv = _conversation("c-bad")
    conv["mapping"]["root"]["parent"] = "n1"  # root <-> n1
    return conv


# (kind, file content, conversations landed, rejects). Cyclic parent pointers are walked with a
# seen-set: the conversation lands, its thread cut where the cycle closes, and nothing hangs.
CHATGPT_CASES: list[tuple[str, Any, int, int]] = [
    ("not_an_array", {"conversations": []}, 0, 1),
    ("non_object_element", [_conversation("c-good"), 42], 1, 1),
    ("no_mapping", [_conversation("c-good"), {"id": "c-bad", "title": "x"}], 1, 1),
    ("cyclic_parents", [_conversation("c-good"), _cyclic()], 2, 0),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("kind", "content", "good", "rejected"), CHATGPT_CASES, ids=[c[0] for c in CHATGPT_CASES]
)
def test_chatgpt_bad_export(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse,
    kind: str, content: Any, good: int, rejected: int,
) -> None:  # fmt: skip
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "conversations.json").write_text(json.dumps(content))
    _run_export(warehouse_resource, exports)
    landed = 0
    if warehouse.table_exists("raw_local", "chatgpt_conversations"):
        landed = int(warehouse.scalar("SELECT count(*) FROM raw_local.chatgpt_conversations"))
    assert landed == good
    rejects = _rejects(warehouse, "chatgpt")
    assert len(rejects) == rejected
    assert all(r[0] == "chatgpt" and r[3] for r in rejects)


@pytest.mark.timeout(30)
def test_chatgpt_fifo_export(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "conversations.json").write_text(json.dumps([_conversation("c-good")]))
    os.mkfifo(exports / "more.json")
    _run_export(warehouse_resource, exports)
    assert int(warehouse.scalar("SELECT count(*) FROM raw_local.chatgpt_conversations")) == 1
    rejects = _rejects(warehouse, "chatgpt")
    assert [(r[1], r[2]) for r in rejects] == [(str(exports / "more.json"), "file")]
    assert "FIFO" in rejects[0][3]


@pytest.mark.timeout(30)
def test_missing_exports_dir_warns_naming_the_variable(
    tmp_path: Path,
    warehouse_resource: WarehouseResource,
    warehouse: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHITTY_EXPORTS_DIR", str(tmp_path / "nope"))
    result = _run_export(warehouse_resource, tmp_path / "nope")
    assert result.success
    warnings = {
        m.materialization.metadata["warning"].value for m in result.get_asset_materialization_events()
    }
    assert len(warnings) == 1 and "CHITTY_EXPORTS_DIR points to" in warnings.pop()
    messages = set(warehouse.query("SELECT message FROM ops.sync_log WHERE platform = 'chatgpt'")["message"])
    assert all(m.startswith("warning: CHITTY_EXPORTS_DIR points to") for m in messages)


# -- Gemini -----------------------------------------------------------------------------------
def _prompt(time: str | None, text: str, html: str = "<p>answer</p>") -> dict[str, Any]:
    item: dict[str, Any] = {
        "header": "Gemini Apps",
        "title": f"Prompted {text}",
        "products": ["Gemini Apps"],
        "safeHtmlItem": [{"html": html}],
    }
    if time:
        item["time"] = time
    return item


GEMINI_CASES: list[tuple[str, Any, int, int]] = [
    ("missing_time", _prompt(None, "no time"), 1, 1),
    ("non_object_item", 7, 1, 1),
    (
        "html_with_script",
        _prompt("2025-03-01T09:05:00.000Z", "s", "<script>alert(1)</script><p>ok</p>"),
        2,
        0,
    ),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("kind", "item", "good", "rejected"), GEMINI_CASES, ids=[c[0] for c in GEMINI_CASES])
def test_gemini_bad_item(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse,
    kind: str, item: Any, good: int, rejected: int,
) -> None:  # fmt: skip
    exports = tmp_path / "exports" / "Takeout" / "My Activity" / "Gemini Apps"
    exports.mkdir(parents=True)
    (exports / "My Activity.json").write_text(json.dumps([_prompt("2025-03-01T09:00:00.000Z", "good"), item]))
    dg.materialize(
        GEMINI_ASSETS,
        resources={
            "warehouse": warehouse_resource,
            "local_sessions": LocalSessionsResource(claude_homes=[], exports_dir=str(tmp_path / "exports")),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert int(warehouse.scalar("SELECT count(*) FROM raw_local.gemini_prompts")) == good
    assert len(_rejects(warehouse, "gemini")) == rejected
    if kind == "html_with_script":
        texts = [r[0] for r in warehouse.query("SELECT response_text FROM raw_local.gemini_prompts").values]
        assert "ok" in texts and not any("alert" in (t or "") for t in texts)


# -- LLM topic classifier ---------------------------------------------------------------------
LLM_ERROR_BODIES: list[tuple[str, Any, str]] = [
    ("error_string", {"error": "some text"}, "some text"),
    ("error_list", ["bad", "request"], '["bad", "request"]'),
    ("plain_text", "upstream said no", "upstream said no"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("kind", "body", "shown"), LLM_ERROR_BODIES, ids=[b[0] for b in LLM_ERROR_BODIES])
def test_llm_400_error_body_is_a_classification_failure(kind: str, body: Any, shown: str) -> None:
    from chitty_pipelines.topics import load_taxonomy
    from chitty_pipelines.topics.classifiers import ClassifierError
    from chitty_pipelines.topics.classifiers.llm import LlmClassifier, LlmSettings
    from chitty_pipelines.topics.fake_llm import FakeOpenAICompat

    with FakeOpenAICompat(api_key="sk-test") as fake:
        fake.fail_next = [(400, {})]
        fake.fail_body = body
        settings = LlmSettings(base_url=f"{fake.base_url}/v1", model="m", api_key="sk-test", max_wait_s=0.05)
        # a ClassifierError is what the topics asset records per session (kept for the next run);
        # anything else (AttributeError on a str "error") used to crash the step
        with pytest.raises(ClassifierError, match=f"HTTP 400 .*{re.escape(shown[:8])}"):
            LlmClassifier(load_taxonomy(), settings).classify(["Write pytest tests"])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("platform", ["claude_code", "chatgpt", "gemini"])
def test_health_probe_names_the_missing_folder(
    chitty_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    # `chitty-sync status` shows each platform's probe: a named folder that is missing is an
    # error (ok False) naming the variable, not "not configured"
    import importlib

    var = "CLAUDE_HOME" if platform == "claude_code" else "CHITTY_EXPORTS_DIR"
    monkeypatch.setenv(var, str(tmp_path / "nope"))
    probe = importlib.import_module(f"chitty_pipelines.platforms.{platform}.health").probe
    answer = probe(LocalSessionsResource.from_settings())
    # exports: an error (ok False); Claude: reported with the variable but scored as not
    # configured, since the test suite's own isolated CLAUDE_HOME is such a folder
    assert answer["ok"] is (None if platform == "claude_code" else False)
    assert f"{var} points to {tmp_path / 'nope'}" in answer["reason"]


@pytest.mark.timeout(30)
def test_gemini_fifo_activity_file(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    good = tmp_path / "exports" / "a" / "My Activity.json"
    good.parent.mkdir(parents=True)
    good.write_text(json.dumps([_prompt("2025-03-01T09:00:00.000Z", "good")]))
    fifo = tmp_path / "exports" / "b" / "My Activity.json"
    fifo.parent.mkdir()
    os.mkfifo(fifo)  # opening it for reading would block forever
    dg.materialize(
        GEMINI_ASSETS,
        resources={
            "warehouse": warehouse_resource,
            "local_sessions": LocalSessionsResource(claude_homes=[], exports_dir=str(tmp_path / "exports")),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert int(warehouse.scalar("SELECT count(*) FROM raw_local.gemini_prompts")) == 1
    rejects = _rejects(warehouse, "gemini")
    assert [(r[1], r[2]) for r in rejects] == [(str(fifo), "file")]
    assert "FIFO" in rejects[0][3]
