"""Conformance: the real Claude Code sample files (../shared/samples/claude-code), copied at test
time into a temporary Claude home laid out as ``projects/<dir>/...``.

Expected figures were derived independently of this code:

* lines: ``python3 -c`` counting non-empty lines per file (303 in all); 4 of edge_cases.jsonl's
  lines are not transcript entries (``"massive error"``, ``{"silly": "this"}``, ``42``, ``[1]``).
* tokens: a jq program applying session-formats.md §1.8 per session, written for this purpose:
  select top-level assistant lines (or type-less lines whose message.role is assistant) with a
  usage object, not ``<synthetic>``, not isApiErrorMessage; drop sidechain lines whose
  message.id has a non-sidechain copy; group by [message.id // uuid, requestId]; keep max_by
  (input + output + cache creation + cache read), cache creation = ephemeral_5m + ephemeral_1h
  when ``usage.cache_creation`` is an object, else cache_creation_input_tokens; then sum.
  Two cases were then adjusted by hand for the cross-file rules jq did not model:
  - edge_cases: its line 17 (uuid ``assistant_004``, msg_004: 168 in + 85 out) replays a line
    of todowrite_examples, the earlier session (first line 10:00 vs 11:00), which keeps it
    (rule 3): 923 - 253 = 670.
  - ccusage test-transcript: two usage lines with no message.id, uuid or requestId are two
    requests (rule 8 fallback to the line): (1000+50+100+500) + (2000+100+200+800) = 4750.
* the reference's own example: tool_heavy ``msg_019BN3…`` has output 25 then 173, counted 173.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chitty_pipelines.warehouse import Warehouse
from tests.platforms.claude_fixtures import checks, materialize, metadata, resources

pytestmark = pytest.mark.conformance

# session -> (api requests counted, input, output, cache creation, cache read, total)
EXPECTED_TOKENS = {
    "short": (1, 3, 13, 13835, 11515, 25366),
    "tool_heavy": (4, 54, 212, 17696, 88231, 106193),
    "subagent": (12, 1576, 1586, 25842, 427286, 456290),
    "1af7fc5e-8455-4414-9ccd-011d40f70b2a": (7, 93, 953, 12698, 103219, 116963),
    # v1.0 inline sidechains + the v2.0 flat agent-test-hash-123.jsonl (sessionId 5c0375b4-…)
    "5c0375b4-57a5-4f26-b12d-d022ee4e51b7": (21, 229, 3639, 47747, 324259, 375874),
    "dag_compact_after_rewind": (5, 50, 25, 0, 0, 75),
    "representative_messages": (5, 218, 445, 0, 0, 663),
    "session_b": (1, 20, 35, 0, 0, 55),
    "todowrite_examples": (6, 883, 328, 0, 0, 1211),
    "edge_cases": (3, 320, 350, 0, 0, 670),
    "55550000-0000-4000-8000-000000000001": (1, 120, 40, 0, 0, 160),  # v2.1 subagents/ only
    "session-alpha": (3, 600, 250, 75, 70, 995),
    "session-beta": (2, 130, 60, 15, 40, 245),
    "test-transcript": (2, 3000, 150, 300, 1300, 4750),
}

# session -> lines stored (non-empty lines minus rejects)
EXPECTED_LINES = {
    "short": 15,
    "tool_heavy": 39,
    "subagent": 96,
    "1af7fc5e-8455-4414-9ccd-011d40f70b2a": 29,
    "5c0375b4-57a5-4f26-b12d-d022ee4e51b7": 53 + 2,
    "dag_compact_after_rewind": 12,
    "representative_messages": 12,
    "session_b": 3,
    "todowrite_examples": 12,
    "edge_cases": 19 - 4,
    "55550000-0000-4000-8000-000000000001": 2,
    "session-alpha": 3,
    "session-beta": 2,
    "test-transcript": 4,
}


def _layout(samples: Path, home: Path) -> None:
    src = samples / "claude-code"
    proj = home / "projects"

    def put(path: Path, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)

    for f in (src / "claude-code-viewer" / "projects" / "sample-project").glob("*.jsonl"):
        put(f, proj / "sample-project" / f.name)
    for f in (src / "spotter").glob("*.jsonl"):
        put(f, proj / "-home-marco-projects-spotter" / f.name)
    for f in (src / "claude-code-log").glob("*.jsonl"):
        put(f, proj / "-tmp" / f.name)
    showcase = src / "claude-code-log" / "minimal_showcase"
    for f in showcase.rglob("*"):
        if f.is_file():
            put(f, proj / "-workspace-example-app" / f.relative_to(showcase))
    for f in (src / "ccusage" / "projects").rglob("*.jsonl"):  # ccusage's nested fixture layout
        put(f, proj / f.relative_to(src / "ccusage" / "projects"))
    put(src / "ccusage" / "test-transcript.jsonl", proj / "ccusage" / "test-transcript.jsonl")


def test_samples_sessions_lines_and_tokens(
    samples: Path, tmp_path: Path, warehouse_resource, warehouse: Warehouse
):
    home = tmp_path / "claude"
    _layout(samples, home)
    result = materialize(resources(home, warehouse_resource, tmp_path))
    assert result.success
    md = metadata(result)
    assert md["claude_sessions"]["dagster/row_count"] == 14
    assert md["claude_messages"]["dagster/row_count"] == 303 - 4 == sum(EXPECTED_LINES.values())
    assert md["claude_messages"]["rejects"] == 4
    assert md["claude_messages"]["files_total"] == 15

    got = {
        r[0]: tuple(r[1:])
        for r in warehouse.query(
            "SELECT session_id, api_requests, input_tokens, output_tokens, cache_creation_tokens, "
            "cache_read_tokens, total_tokens FROM raw_local.claude_sessions"
        ).values.tolist()
    }
    assert got == EXPECTED_TOKENS
    lines = dict(
        warehouse.query("SELECT session_id, line_count FROM raw_local.claude_sessions").values.tolist()
    )
    assert lines == EXPECTED_LINES

    # the reference's worked examples: only the max line of a response counts
    peak = warehouse.query(
        "SELECT message_id, list(output_tokens ORDER BY line_no) AS outs FROM raw_local.claude_messages "
        "WHERE (message_id LIKE 'msg_019BN3%' OR message_id LIKE 'msg_01QdKE%') AND NOT is_sidechain "
        "GROUP BY ALL ORDER BY 1"
    ).values.tolist()
    assert [(m[:10], list(o)) for m, o in peak] == [("msg_019BN3", [25, 173]), ("msg_01QdKE", [3, 263])]

    rejects = warehouse.query(
        "SELECT location, reason FROM ops.rejects WHERE source LIKE '%edge_cases.jsonl' ORDER BY location"
    ).values.tolist()
    assert [loc for loc, _ in rejects] == ["line 13", "line 14", "line 15", "line 16"]

    spotter = warehouse.query(
        "SELECT session_id, project_path, title FROM raw_local.claude_sessions "
        "WHERE session_id IN ('short', 'tool_heavy') ORDER BY 1"
    ).values.tolist()
    assert spotter == [
        ["short", "/home/marco/projects/spotter", "mix phx.server doesnt seem to start"],
        ["tool_heavy", "/home/marco/projects/spotter", spotter[1][2]],
    ]
    parts = warehouse.query(
        "SELECT part_id, agent_type, tool_use_id FROM raw_local.claude_subagents ORDER BY 1"
    ).values.tolist()
    assert parts == [
        ["55550000-0000-4000-8000-000000000001#agent-showcol1", "general-purpose", "toolu_sc_showcol1"],
        ["5c0375b4-57a5-4f26-b12d-d022ee4e51b7#agent-test-hash-123", None, None],
    ]
    # agent_progress copies in spotter/subagent.jsonl (19) carry no usage of their own
    assert (
        warehouse.scalar(
            "SELECT count(*) FROM raw_local.claude_messages "
            "WHERE subtype = 'agent_progress' AND total_tokens IS NULL"
        )
        == 19
    )
    evaluations = checks(result)
    assert evaluations.pop("claude_messages_rejects") is False  # the 4 edge-case lines: a warning
    assert all(evaluations.values()), evaluations
