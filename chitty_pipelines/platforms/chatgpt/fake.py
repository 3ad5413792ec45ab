"""A fake ChatGPT export: ``conversations.json`` as "Export data" writes it (session-formats.md,
ChatGPT section), a list of conversations whose messages form a tree (``mapping``) with the
visible thread ending at ``current_node``. The local platforms read files, so their "fake" is a
builder of those files; tests and the demo seed write through it.

    write_export(exports / "conversations.json", [
        conversation("c1", [node("root", None, ["m1"], role=None), node("m1", "root", [])], "m1"),
    ])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def node(
    nid: str,
    parent: str | None,
    children: list[str],
    role: str | None = "user",
    content: dict[str, Any] | None = None,
    *,
    create_time: float | None = 1_700_000_000.0,
    weight: float = 1.0,
    metadata: dict[str, Any] | None = None,
    recipient: str = "all",
    author_name: str | None = None,
) -> dict[str, Any]:
    """A mapping node; ``role=None`` gives the message-less root."""
    message = None
    if role is not None:
        message = {
            "id": nid,
            "author": {"role": role, "name": author_name, "metadata": {}},
            "create_time": create_time,
            "update_time": None,
            "content": content
            if content is not None
            else {"content_type": "text", "parts": [f"text of {nid}"]},
            "status": "finished_successfully",
            "end_turn": None,
            "weight": weight,
            "metadata": metadata or {},
            "recipient": recipient,
        }
    return {"id": nid, "message": message, "parent": parent, "children": children}


def conversation(
    cid: str | None, nodes: list[dict[str, Any]], current: str | None, **extra: Any
) -> dict[str, Any]:
    conv: dict[str, Any] = {
        "title": f"title {cid}",
        "create_time": 1_700_000_000.5,
        "update_time": 1_700_000_100.25,
        "mapping": {n["id"]: n for n in nodes},
        "moderation_results": [],
        "current_node": current,
        "default_model_slug": "gpt-4o",
        "gizmo_id": None,
        "is_archived": False,
    }
    if cid is not None:
        conv["conversation_id"] = cid
        conv["id"] = cid
    conv.update(extra)
    return conv


def write_export(path: Path, conversations: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # One line with \\uXXXX escapes, like the real export.
    path.write_text(json.dumps(conversations, ensure_ascii=True))
    return path
