"""ChatGPT data export (``conversations.json``): stream the array, flatten each mapping tree.

Pure functions, no warehouse: ``parse_conversation`` turns one conversation object into a
conversation row and message rows (session-formats.md §2). streams.py feeds it one conversation
at a time from kernel/json_array.py (exports are one line of hundreds of MB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Content types whose text we extract field by field; anything else is kept raw and searched for
# a ``text`` or ``parts`` field (the export grows new types without notice).
_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "code": ("text",),
    "tether_quote": ("title", "text"),
    "tether_browsing_display": ("summary", "result"),
    "system_error": ("name", "text"),
    "execution_output": ("text",),
    "user_editable_context": ("user_profile", "user_instructions"),
    "model_editable_context": ("model_set_context",),
    "reasoning_recap": ("content",),
    "computer_output": ("text",),
}


class ConversationError(ValueError):
    """A conversation that cannot be flattened; it becomes a reject, the rest of the file syncs."""


@dataclass
class ParsedConversation:
    conversation: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)


def epoch(value: Any) -> datetime | None:
    """Float epoch seconds (or null) to an aware timestamp; anything unparsable is null."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _join(pieces: list[str]) -> str | None:
    return "\n".join(pieces) if pieces else None


def _parts_text(parts: Any) -> str | None:
    """``parts`` mix strings and objects (image pointers, audio): keep strings and any part's text."""
    if not isinstance(parts, list):
        return None
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            out.append(part["text"])
    return "\n".join(out) if out else None


def extract_text(content: Any) -> tuple[str | None, str | None]:
    """(content_type, text) of a message's ``content``; unknown types give whatever text they carry."""
    if not isinstance(content, dict):
        return None, None
    ctype = _str_or_none(content.get("content_type"))
    if ctype in ("text", "multimodal_text"):
        return ctype, _parts_text(content.get("parts"))
    if ctype == "thoughts":
        pieces = []
        for thought in content.get("thoughts") or []:
            if isinstance(thought, dict):
                pieces += [thought[k] for k in ("summary", "content") if isinstance(thought.get(k), str)]
        return ctype, _join(pieces)
    if ctype in _TEXT_FIELDS:
        return ctype, _join([content[k] for k in _TEXT_FIELDS[ctype] if isinstance(content.get(k), str)])
    if isinstance(content.get("text"), str):
        return ctype, content["text"]
    return ctype, _parts_text(content.get("parts"))


def _depths(mapping: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Distance from each node to the top of its chain (a root, or a parent missing from the
    mapping). Iterative and cycle-safe: exports are user data, not a guaranteed tree."""
    depth: dict[str, int] = {}
    for start in mapping:
        chain: list[str] = []
        node: str | None = start
        on_chain: set[str] = set()
        while node is not None and node in mapping and node not in depth and node not in on_chain:
            chain.append(node)
            on_chain.add(node)
            parent = mapping[node].get("parent")
            node = parent if isinstance(parent, str) else None
        base = depth[node] + 1 if node is not None and node in depth else 0
        for offset, n in enumerate(reversed(chain)):
            depth[n] = base + offset
    return depth


def _leaves(mapping: dict[str, dict[str, Any]]) -> list[str]:
    """Nodes none of whose children exist in the mapping (dangling child ids count as absent)."""
    return [
        nid
        for nid, node in mapping.items()
        if not any(isinstance(c, str) and c in mapping for c in node.get("children") or [])
    ]


def _create_time(node: dict[str, Any]) -> float:
    msg = node.get("message")
    value = msg.get("create_time") if isinstance(msg, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else float("-inf")


def active_leaf(mapping: dict[str, dict[str, Any]], current_node: Any) -> tuple[str | None, bool]:
    """The leaf of the thread the user saw, and whether it is a fallback (current_node missing).

    Fallback: the deepest leaf, ties broken by message create_time, then by mapping position."""
    if isinstance(current_node, str) and current_node in mapping:
        return current_node, False
    if not mapping:
        return None, True
    depth = _depths(mapping)
    position = {nid: i for i, nid in enumerate(mapping)}
    best = max(
        _leaves(mapping) or list(mapping), key=lambda n: (depth[n], _create_time(mapping[n]), position[n])
    )
    return best, True


def visible_thread(mapping: dict[str, dict[str, Any]], leaf: str | None) -> list[str]:
    """Node ids from the root down to ``leaf``: walk parents up, stop at a missing parent, reverse."""
    path: list[str] = []
    seen: set[str] = set()
    node = leaf
    while node is not None and node in mapping and node not in seen:
        seen.add(node)
        path.append(node)
        parent = mapping[node].get("parent")
        node = parent if isinstance(parent, str) else None
    path.reverse()
    return path


def conversation_id(raw: dict[str, Any]) -> str | None:
    for key in ("conversation_id", "id"):
        value = raw.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def parse_conversation(raw: Any, source_file: str, index: int) -> ParsedConversation:
    """One export conversation as a ``chatgpt_conversations`` row plus ``chatgpt_messages`` rows.

    Raises ConversationError for what cannot be a conversation (no id, no mapping)."""
    if not isinstance(raw, dict):
        raise ConversationError(f"array element is a {type(raw).__name__}, not a conversation object")
    conv_id = conversation_id(raw)
    if conv_id is None:
        raise ConversationError("conversation has neither conversation_id nor id")
    raw_mapping = raw.get("mapping")
    if not isinstance(raw_mapping, dict):
        raise ConversationError("conversation has no mapping (message tree)")
    # Nodes that are not objects cannot be placed in the tree; drop them, keep the rest.
    mapping = {k: v for k, v in raw_mapping.items() if isinstance(v, dict)}

    leaf, fell_back = active_leaf(mapping, raw.get("current_node"))
    thread = visible_thread(mapping, leaf)
    on_thread = set(thread)
    position: dict[str, int] = {}
    for nid in thread:
        if isinstance(mapping[nid].get("message"), dict):
            position[nid] = len(position)

    messages: list[dict[str, Any]] = []
    slugs: set[str] = set()
    for nid, node in mapping.items():
        msg = node.get("message")
        if not isinstance(msg, dict):
            continue  # the root (and any placeholder) carries no message
        row = message_row(conv_id, nid, node, msg)
        row["position"] = position.get(nid)
        row["on_active_thread"] = nid in on_thread
        if row["model_slug"]:
            slugs.add(row["model_slug"])
        messages.append(row)

    conversation = {
        "conversation_id": conv_id,
        "title": _str_or_none(raw.get("title")),
        "create_time": epoch(raw.get("create_time")),
        "update_time": epoch(raw.get("update_time")),
        "default_model_slug": _str_or_none(raw.get("default_model_slug")),
        "model_slugs": sorted(slugs),
        "gizmo_id": _str_or_none(raw.get("gizmo_id")),
        "is_archived": raw.get("is_archived") if isinstance(raw.get("is_archived"), bool) else None,
        "current_node": _str_or_none(raw.get("current_node")),
        "active_leaf": leaf,
        "current_node_missing": fell_back,
        "visible_messages": len(position),
        "total_messages": len(messages),
        "hidden_messages": sum(1 for m in messages if m["hidden"]),
        "node_count": len(mapping),
        "branch_count": len(_leaves(mapping)),
        "source_file": source_file,
        "file_index": index,
    }
    return ParsedConversation(conversation, messages)


def message_row(conv_id: str, node_id: str, node: dict[str, Any], msg: dict[str, Any]) -> dict[str, Any]:
    author = msg.get("author") if isinstance(msg.get("author"), dict) else {}
    meta = msg.get("metadata") if isinstance(msg.get("metadata"), dict) else {}
    content = msg.get("content")
    ctype, text = extract_text(content)
    weight = msg.get("weight")
    weight = float(weight) if isinstance(weight, int | float) and not isinstance(weight, bool) else None
    finish = meta.get("finish_details")
    parent = node.get("parent")
    return {
        "conversation_id": conv_id,
        "node_id": node_id,
        "message_id": _str_or_none(msg.get("id")),
        "parent_id": parent if isinstance(parent, str) else None,
        "role": _str_or_none(author.get("role")),
        "author_name": _str_or_none(author.get("name")),
        "content_type": ctype,
        "text": text,
        # Plain text messages are fully captured by ``text``; every other type keeps its raw
        # content (asset pointers, citations, tool payloads, types we do not know yet).
        "content_json": None if ctype == "text" or content is None else json.dumps(content, default=str),
        "create_time": epoch(msg.get("create_time")),
        "update_time": epoch(msg.get("update_time")),
        "model_slug": _str_or_none(meta.get("model_slug")),
        "recipient": _str_or_none(msg.get("recipient")),
        "channel": _str_or_none(msg.get("channel")),
        "status": _str_or_none(msg.get("status")),
        "end_turn": msg.get("end_turn") if isinstance(msg.get("end_turn"), bool) else None,
        "finish_type": _str_or_none(finish.get("type")) if isinstance(finish, dict) else None,
        "weight": weight,
        "hidden": weight == 0.0 or meta.get("is_visually_hidden_from_conversation") is True,
        "input_tokens": None,  # exports carry no token counts (session-formats §2.4)
        "output_tokens": None,
    }
