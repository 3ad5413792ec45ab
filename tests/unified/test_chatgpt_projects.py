"""ChatGPT conversations grouped by their project or custom GPT (``gizmo_id``, session-formats.md
2.2): one unified project per gizmo, its conversations linked to it; a conversation with no gizmo
stays unlinked, as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chitty_pipelines.platforms.chatgpt.streams import CONVERSATIONS
from chitty_pipelines.platforms.chatgpt.streams import MESSAGES as GPT_MESSAGES
from tests.unified.unified_helpers import check_results, materialize

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
PROJECT, GPT = "g-p-67a1b2c3d4e5f60718293a4b5c6d7e8f", "g-a1B2c3D4e"


def _conversation(cid: str, gizmo: str | None, hours: int) -> dict:
    return {
        "conversation_id": cid,
        "title": f"conversation {cid}",
        "create_time": T0 + timedelta(hours=hours),
        "update_time": T0 + timedelta(hours=hours + 1),
        "model_slugs": ["gpt-4o"],
        "gizmo_id": gizmo,
        "visible_messages": 2,
    }


def _message(cid: str) -> dict:
    return {"conversation_id": cid, "node_id": "n1", "role": "user", "position": 1,
            "on_active_thread": True, "hidden": False, "text": f"question in {cid}"}  # fmt: skip


def _seed(warehouse, conversations: list[dict]) -> None:
    with warehouse.transaction("seed") as tx:
        tx.upsert(CONVERSATIONS, conversations)
        tx.upsert(GPT_MESSAGES, [_message(c["conversation_id"]) for c in conversations])


def _links(warehouse) -> dict[str, tuple]:
    rows = warehouse.rows(
        "SELECT s.session_key, p.name, s.project_rule FROM unified.sessions s "
        "LEFT JOIN unified.projects p USING (project_key) ORDER BY 1"
    )
    return {key: (name, rule) for key, name, rule in rows}


def test_gizmos_become_projects_and_link_their_conversations(warehouse, warehouse_resource, chitty_home):
    _seed(
        warehouse,
        [
            _conversation("c1", PROJECT, 0),
            _conversation("c2", PROJECT, 5),
            _conversation("c3", GPT, 2),
            _conversation("c4", None, 3),
            _conversation("c5", "", 4),  # an empty id is no gizmo
        ],
    )
    result = materialize(warehouse_resource, chitty_home / "opstore.sqlite")
    assert result.success
    assert all(check_results(result).values()), check_results(result)
    projects = warehouse.rows(
        "SELECT name, chatgpt_conversations, last_active_at FROM unified.projects ORDER BY name"
    )
    assert projects == [
        (f"ChatGPT GPT {GPT}", 1, T0 + timedelta(hours=3)),
        (f"ChatGPT project {PROJECT}", 2, T0 + timedelta(hours=6)),
    ]
    assert _links(warehouse) == {
        "chatgpt:c1": (f"ChatGPT project {PROJECT}", "cwd"),
        "chatgpt:c2": (f"ChatGPT project {PROJECT}", "cwd"),
        "chatgpt:c3": (f"ChatGPT GPT {GPT}", "cwd"),
        "chatgpt:c4": (None, "none"),
        "chatgpt:c5": (None, "none"),
    }


def test_a_conversation_moved_into_a_project_is_linked_on_the_next_run(
    warehouse, warehouse_resource, chitty_home
):
    """ChatGPT can move a conversation into a project without touching its update_time."""
    _seed(warehouse, [_conversation("c1", None, 0), _conversation("c2", PROJECT, 1)])
    assert materialize(warehouse_resource, chitty_home / "opstore.sqlite", checks=False).success
    assert _links(warehouse)["chatgpt:c1"] == (None, "none")
    _seed(warehouse, [_conversation("c1", PROJECT, 0)])
    assert materialize(warehouse_resource, chitty_home / "opstore.sqlite", checks=False).success
    assert _links(warehouse)["chatgpt:c1"] == (f"ChatGPT project {PROJECT}", "cwd")
