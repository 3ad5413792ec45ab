"""Builders for Claude Code fixture homes: every layout, record type and token trap of
session-formats.md §1, with the exact figures each fixture must produce written next to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg

from chitty_pipelines.kernel.local_files import LocalSessionsResource
from chitty_pipelines.platforms.claude_code.assets import CLAUDE_ASSETS, CLAUDE_CHECKS
from chitty_pipelines.platforms.claude_code.fake import (  # noqa: F401  (re-exported for the tests)
    assistant,
    env,
    text,
    tool_result,
    tool_use,
    ts,
    usage,
    user,
    write_jsonl,
)
from chitty_pipelines.warehouse.resource import WarehouseResource

S1 = "11111111-0000-4000-8000-000000000001"  # v1.0: inline sidechains, /btw, synthetic, titles
S2 = "22222222-0000-4000-8000-000000000002"  # v2.0: flat agent-f1a2.jsonl beside it
S3 = "33333333-0000-4000-8000-000000000003"  # v2.1: <session>/subagents/ + .meta.json, progress
S4 = "44444444-0000-4000-8000-000000000004"  # resumed from S2: replays S2's lines (same uuids)
PROJECT = "-work-app"


TODOS_3 = [
    {"content": "Write the reader", "status": "completed", "activeForm": "Writing the reader"},
    {"content": "Write the parser", "status": "in_progress", "activeForm": "Writing the parser"},
    {"content": "Write the tests", "status": "pending", "activeForm": "Writing the tests"},
]


def session_v10() -> list[dict]:
    """S1. Tokens counted: msg_A max line 10+42+100+1000 = 1152; inline sidechain msg_S
    3+7+(2+4)+0 = 16 (cache_creation object wins over cache_creation_input_tokens=999); msg_B
    2+8 = 10; msg_C (no requestId) 1+4 = 5. Not counted: /btw copy of msg_A (sidechain, new
    requestId, output 500), <synthetic> (100), API error line (77). Total 1183."""
    s = S1
    a_use = {"cache_create": 100, "cache_read": 1000}
    return [
        {"type": "summary", "summary": "Parser work", "leafUuid": "s1-a3"},
        user("s1-u1", None, s, 0, "Build the parser"),
        assistant("s1-a1", "s1-u1", s, 1, "msg_A", "req_A", [text("Sure.")], usage(10, 5, **a_use)),
        assistant(
            "s1-a2", "s1-a1", s, 1, "msg_A", "req_A",
            [tool_use("toolu_bash", "Bash", {"command": "ls -la"})], usage(10, 20, **a_use),
        ),
        assistant(
            "s1-a3", "s1-a2", s, 1, "msg_A", "req_A",
            [tool_use("toolu_todo", "TodoWrite", {"todos": TODOS_3})], usage(10, 42, **a_use),
        ),
        user("s1-r1", "s1-a2", s, 2, [tool_result("toolu_bash", "denied", is_error=True)]),
        user("s1-r2", "s1-a3", s, 2, [tool_result("toolu_todo", "ok")]),
        # v1.0 inline sidechain (a Task subagent): own root, own message id
        user("s1-x1", None, s, 3, "Search for the reader", isSidechain=True),
        assistant(
            "s1-x2", "s1-x1", s, 3, "msg_S", "req_S",
            [tool_use("toolu_read", "Read", {"file_path": "/work/app/reader.py"})],
            usage(3, 7, 999, 0,
                  cache_creation={"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 4}),
            isSidechain=True,
        ),
        user("s1-x3", "s1-x2", s, 3, [tool_result("toolu_read", "def read(): ...")], isSidechain=True),
        # /btw side question: the parent message replayed with the same id and a new requestId
        assistant("s1-b1", "s1-a3", s, 4, "msg_A", "req_btw", [text("btw")], usage(10, 500),
                  isSidechain=True),
        assistant(
            "s1-y1", "s1-r2", s, 5, "msg_syn", None, [text("No response requested.")], usage(50, 50),
            model="<synthetic>",
        ),
        assistant(
            "s1-y2", "s1-y1", s, 5, "msg_err", "req_err", [text("API Error")], usage(70, 7),
            isApiErrorMessage=True,
        ),
        env("s1-c1", None, s, 6, type="system", subtype="compact_boundary", content="Conversation compacted",
            logicalParentUuid="s1-y2", compactMetadata={"trigger": "auto", "preTokens": 1000}),
        user("s1-c2", "s1-c1", s, 6, "This session is being continued from a previous conversation.",
             isCompactSummary=True, isVisibleInTranscriptOnly=True),
        user("s1-m1", "s1-c2", s, 7, "<command-name>/init</command-name>", isMeta=True),
        {"type": "future-thing", "uuid": "s1-f1", "sessionId": s, "payload": {"x": 1}},
        user("s1-u2", "s1-m1", s, 8, [text("Second prompt")]),
        assistant("s1-a4", "s1-u2", s, 9, "msg_B", "req_B", [text("Done.")], usage(2, 8), version="1.0.99"),
        assistant("s1-a5", "s1-a4", s, 9, "msg_C", None, [text("Also.")], usage(1, 4), version="1.0.99"),
        {"type": "ai-title", "aiTitle": "Generated title", "sessionId": s},
        {"type": "custom-title", "customTitle": "My parser session", "sessionId": s},
        env(None, None, s, 9, type="queue-operation", operation="enqueue", content="later"),
        {"type": "file-history-snapshot", "messageId": "s1-u2", "snapshot": {"trackedFileBackups": {}}},
    ]  # fmt: skip


def session_v20() -> tuple[list[dict], list[dict]]:
    """S2 + its flat agent file. Main msg_D 20+30 = 50; agent msg_E 9+11 = 20. Total 70. The Task
    result's totalTokens (9999) summarises the agent file and is never added."""
    s = S2
    main = [
        user("s2-u1", None, s, 0, "Run the tests", version="2.0.28"),
        assistant(
            "s2-a1", "s2-u1", s, 1, "msg_D", "req_D",
            [tool_use("toolu_task1", "Task", {"description": "Run tests", "prompt": "run"})],
            usage(20, 30), version="2.0.28",
        ),
        {
            **user("s2-r1", "s2-a1", s, 2, [tool_result("toolu_task1", "all green")], version="2.0.28"),
            "toolUseResult": {"agentId": "f1a2", "totalTokens": 9999, "status": "completed"},
        },
    ]  # fmt: skip
    agent = [
        user("f1-u1", None, s, 1, "Run the test suite", isSidechain=True, version="2.0.28"),
        assistant(
            "f1-a1", "f1-u1", s, 1, "msg_E", "req_E", [text("Running.")], usage(9, 11),
            isSidechain=True, version="2.0.28",
        ),
    ]  # fmt: skip
    return main, agent


def session_v21() -> tuple[list[dict], list[dict], list[dict]]:
    """S3 + subagents a77 (with .meta.json) and the compaction agent. Main msg_G 5+5 = 10;
    a77 msg_F grows 4 -> 12 output: 8+12 = 20; compaction msg_H 100+50 = 150. Total 180. The
    agent_progress copy of msg_F (output 999) is display only."""
    s = S3
    v = {"version": "2.1.38"}
    main = [
        env("s3-p0", None, s, 0, type="progress", data={"type": "hook_progress", "hookEvent": "SessionStart"},
            **v),
        user("s3-u1", "s3-p0", s, 0, "Find the config files", **v),
        assistant(
            "s3-a1", "s3-u1", s, 1, "msg_G", "req_G",
            [tool_use("toolu_task2", "Task", {"description": "Find files", "subagent_type": "Explore"})],
            usage(5, 5), model="claude-opus-4-6", **v,
        ),
        env("s3-p1", "s3-a1", s, 1, type="progress", toolUseID="toolu_task2", parentToolUseID="toolu_task2",
            data={"type": "agent_progress", "agentId": "a77", "prompt": "find",
                  "message": {"type": "assistant", "uuid": "a77-a2", "message": {
                      "id": "msg_F", "model": "claude-haiku-4-5-20251001", "role": "assistant",
                      "content": [text("found")], "usage": usage(8, 999)}}},
            **v),
        {
            **user("s3-r1", "s3-a1", s, 2, [tool_result("toolu_task2", "3 files")], **v),
            "toolUseResult": {"agentId": "a77", "totalTokens": 20},
        },
        env("s3-at", "s3-r1", s, 3, type="attachment", attachment={"type": "skill_listing"}, **v),
    ]  # fmt: skip
    sub = {"isSidechain": True, "agentId": "a77", **v}
    agent = [
        user("a77-u1", None, s, 1, "Find config files", **sub),
        assistant("a77-a1", "a77-u1", s, 1, "msg_F", "req_F", [text("Looking")], usage(8, 4),
                  model="claude-haiku-4-5-20251001", **sub),
        assistant("a77-a2", "a77-a1", s, 1, "msg_F", "req_F",
                  [tool_use("toolu_glob", "Glob", {"pattern": "**/*.toml", "path": "/work/app"})],
                  usage(8, 12), model="claude-haiku-4-5-20251001", **sub),
    ]  # fmt: skip
    comp = {"isSidechain": True, "agentId": "acompact-1b", **v}
    compact = [
        user("ac-u1", "s3-r1", s, 3, "Summarise the conversation", **comp),
        assistant("ac-a1", "ac-u1", s, 3, "msg_H", "req_H", [text("Summary")], usage(100, 50), **comp),
    ]
    return main, agent, compact


def session_resumed(s2_main: list[dict]) -> list[dict]:
    """S4 resumes S2: its first lines replay S2's (same uuids, sessionId S4). Only msg_I (1+2 = 3)
    is S4's; the replayed msg_D stays S2's (the earliest session keeps the copy)."""
    replay = [{**line, "sessionId": S4} for line in s2_main[:2]]
    return [
        *replay,
        user("s4-u1", "s2-a1", S4, 0, "Continue", day=2, version="2.0.30"),
        assistant(
            "s4-a1", "s4-u1", S4, 1, "msg_I", "req_I", [text("OK")], usage(1, 2), day=2, version="2.0.30"
        ),
    ]


def build_home(root: Path) -> dict[str, Path]:
    """Writes a Claude home with all four sessions, todos/ and tasks/. Returns key paths."""
    proj = root / "projects" / PROJECT
    s2_main, s2_agent = session_v20()
    s3_main, s3_agent, s3_compact = session_v21()
    paths = {
        "s1": write_jsonl(proj / f"{S1}.jsonl", session_v10()),
        "s2": write_jsonl(proj / f"{S2}.jsonl", s2_main),
        "s2_agent": write_jsonl(proj / "agent-f1a2.jsonl", s2_agent),
        "s3": write_jsonl(proj / f"{S3}.jsonl", s3_main),
        "s3_agent": write_jsonl(proj / S3 / "subagents" / "agent-a77.jsonl", s3_agent),
        "s3_compact": write_jsonl(proj / S3 / "subagents" / "agent-acompact-1b.jsonl", s3_compact),
        "s4": write_jsonl(proj / f"{S4}.jsonl", session_resumed(s2_main)),
    }
    (proj / S3 / "subagents" / "agent-a77.meta.json").write_text(
        json.dumps({"agentType": "Explore", "description": "Find files", "toolUseId": "toolu_task2"})
    )
    write_jsonl(proj / S3 / "subagents" / "journal.jsonl", [{"type": "started", "agentId": "a77"}])
    todos = root / "todos"
    todos.mkdir(parents=True)
    (todos / f"{S1}-agent-{S1}.json").write_text(json.dumps(TODOS_3[:2]))
    for n, task in enumerate(
        [
            {
                "id": "1",
                "subject": "Ship it",
                "description": "release",
                "status": "pending",
                "blockedBy": ["2"],
            },
            {"id": "2", "subject": "Test it", "status": "completed", "owner": "main"},
        ],
        1,
    ):
        (root / "tasks" / "list-x").mkdir(parents=True, exist_ok=True)
        (root / "tasks" / "list-x" / f"{n}.json").write_text(json.dumps(task))
    (root / "tasks" / "list-x" / ".lock").write_text("")
    return paths


def resources(home: Path | list[Path], warehouse: WarehouseResource, tmp: Path) -> dict[str, Any]:
    homes = home if isinstance(home, list) else [home]
    return {
        "local_sessions": LocalSessionsResource(
            claude_homes=[str(h) for h in homes], exports_dir=str(tmp / "x")
        ),
        "warehouse": warehouse,
    }


def materialize(
    resources: dict[str, Any], full_refresh: bool = False, with_checks: bool = True
) -> dg.ExecuteInProcessResult:
    config = {"ops": {"claude_code_transcripts": {"config": {"full_refresh": full_refresh}}}}
    # The checks run inside the asset's step; leave them out of the selection when not wanted.
    selection = dg.AssetSelection.all() if with_checks else dg.AssetSelection.all().without_checks()
    return dg.materialize(
        [*CLAUDE_ASSETS, *CLAUDE_CHECKS],
        selection=selection,
        resources=resources,
        run_config=config,
        instance=dg.DagsterInstance.ephemeral(),
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Materialization metadata per table name, as plain values."""
    out = {}
    for mat in result.asset_materializations_for_node("claude_code_transcripts"):
        out[mat.asset_key.path[-1]] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return out


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
