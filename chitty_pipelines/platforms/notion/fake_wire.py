"""Wire-level pieces of the fake Notion API: objects, error envelopes, ids, filters."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chitty_pipelines.kernel.fake_server import Response

CLASSIC = "2022-06-28"
CURRENT = "2025-09-03"
BOT_ID = "0c9a3f55-8f0e-4a0b-9d6e-8a1b2c3d4e5f"
USER_ID = "7775f3a3-893f-43fa-b625-460c61094c78"


def rich(text: str) -> list[dict[str, Any]]:
    """A rich-text array as Notion sends it."""
    return [
        {
            "type": "text",
            "text": {"content": text, "link": None},
            "annotations": {
                "bold": False,
                "italic": False,
                "strikethrough": False,
                "underline": False,
                "code": False,
                "color": "default",
            },
            "plain_text": text,
            "href": None,
        }
    ]


def new_id() -> str:
    return str(uuid.uuid4())


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"object": "error", "status": status, "code": code, "message": message, "request_id": new_id()}
    return Response(status, body, headers or {})


@dataclass
class FakeDataSource:
    id: str
    database_id: str
    title: str
    properties: dict[str, dict[str, Any]]  # schema: name -> {id, name, type, <type>: config}
    created_time: str
    last_edited_time: str


@dataclass
class FakeDatabase:
    id: str
    title: str
    data_source_ids: list[str]
    created_time: str
    last_edited_time: str


@dataclass
class FakePage:
    id: str
    data_source_id: str
    properties: dict[str, dict[str, Any]]  # name -> {type, <type>: value}
    created_time: str
    last_edited_time: str
    in_trash: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def canon(value: str) -> str:
    compact = value.replace("-", "").lower()
    if len(compact) == 32:
        return f"{compact[:8]}-{compact[8:12]}-{compact[12:16]}-{compact[16:20]}-{compact[20:]}"
    return value


def not_found(obj_id: str, what: str) -> Response:
    return error(
        404,
        "object_not_found",
        f"Could not find {what} with ID: {obj_id}. Make sure the relevant pages and databases are shared "
        "with your integration.",
    )


def title_of(obj: dict[str, Any]) -> str:
    if obj.get("object") in ("database", "data_source"):
        return "".join(t.get("plain_text", "") for t in obj.get("title") or [])
    for prop in (obj.get("properties") or {}).values():
        if prop.get("type") == "title":
            return "".join(t.get("plain_text", "") for t in prop.get("title") or [])
    return ""


def compile_filter(spec: dict[str, Any] | None) -> Callable[[FakePage], bool]:
    """Timestamp filters (and their and/or compounds), as far as a sync needs them."""
    if not spec:
        return lambda _p: True
    if "and" in spec or "or" in spec:
        parts = [compile_filter(s) for s in spec.get("and") or spec.get("or") or []]
        combine = all if "and" in spec else any
        return lambda p: combine(f(p) for f in parts)
    ts = spec.get("timestamp")
    if ts not in ("last_edited_time", "created_time"):
        raise ValueError("the fake supports only timestamp filters (last_edited_time, created_time)")
    cond = spec.get(ts) or {}
    ops = {
        "on_or_after": lambda a, b: a >= b,
        "after": lambda a, b: a > b,
        "before": lambda a, b: a < b,
        "on_or_before": lambda a, b: a <= b,
        "equals": lambda a, b: a == b,
    }
    (op, value), *_ = cond.items() if cond else [(None, None)]
    if op not in ops:
        raise ValueError(f"body.filter.{ts} should be one of {sorted(ops)}")
    bound = _norm_time(str(value))
    return lambda p: ops[op](_norm_time(getattr(p, ts)), bound)


def _norm_time(value: str) -> str:
    """Comparable UTC text for the ISO forms used here (``Z`` or ``+00:00``, with or without ms)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
