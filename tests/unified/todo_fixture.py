"""Todo lists with known merge results, seeded into raw_local.claude_todos through its TableSpec,
on top of org_fixture's sessions (c00-* and c01-0 are chittychat, c02-0 chitty-id, c10-0 the home
folder: no project; c00-0 has subagent a1)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from chitty_pipelines.platforms.claude_code.tables import TODOS
from chitty_pipelines.warehouse import Warehouse
from tests.unified.org_fixture import T0


def _h(hours: float):
    return T0 - timedelta(hours=hours)


# (list name, session_id, agent_id, source, observed_at, [(content, status, active_form)])
LISTS: list[tuple[str, str, str | None, str, Any, list[tuple[str, str, str | None]]]] = [
    (
        "L1",
        "c00-1",
        None,
        "transcript",
        _h(3),
        [("A", "pending", "Doing A"), ("B", "pending", None), ("C", "in_progress", None)],
    ),
    (
        "L2",
        "c00-0",
        None,
        "transcript",
        _h(2),
        [("A", "in_progress", "Doing A now"), ("B", "completed", None), ("D", "pending", None)],
    ),
    # A stale list of c00-1: reports A and B as pending again; precedence keeps them.
    (
        "L3",
        "c00-1",
        None,
        "transcript",
        _h(1),
        [("A", "pending", None), ("B", "pending", None), ("C", "completed", None)],
    ),
    ("L4", "c00-0", "a1", "transcript", _h(1.5), [("E", "pending", None)]),
    # The todos/ state file of c00-0 (agent == session: the main agent), at its mtime.
    ("L5", "c00-0", "c00-0", "todos", T0, [("A", "completed", None), ("D", "pending", None)]),
    ("L6", "c02-0", None, "transcript", _h(2), [("A", "pending", None)]),  # another project
    (
        "L7",
        "c10-0",
        None,
        "transcript",
        _h(1),
        [("Z", "pending", None), ("W", "weird", None), ("  ", "pending", None)],
    ),
    # Same time, two sessions: the session key breaks the tie (claude:c00-2 < claude:c01-0).
    ("L8", "c00-2", None, "transcript", _h(2), [("F", "in_progress", None)]),
    ("L9", "c01-0", None, "transcript", _h(2), [("F", "pending", None), ("D ", "pending", None)]),
]


def seed_todos(wh: Warehouse, seed: int = 3) -> None:
    rows = []
    for n, (name, session, agent, source, at, items) in enumerate(LISTS):
        for pos, (content, status, active) in enumerate(items):
            rows.append({
                "source_file": f"/c/{session}/{name}.jsonl" if source == "transcript" else f"/t/{name}.json",
                "line_no": 0 if source == "todos" else 10 + n, "block": 0, "position": pos,
                "source": source, "session_id": session, "agent_id": agent, "list_id": session,
                "content": content, "status": status, "active_form": active, "observed_at": at,
            })  # fmt: skip
    random.Random(seed).shuffle(rows)  # read order must not matter
    with wh.transaction("seed-todos") as tx:
        tx.upsert(TODOS, rows)
