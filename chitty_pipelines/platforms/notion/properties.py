"""Notion property values flattened to plain values, and database schemas mapped to typed columns.

Notion property values are type-tagged unions (``{"type": "select", "select": {...}}``). Two
steps turn them into warehouse rows:

1. ``flatten_property`` gives each value a plain JSON-able form (a string, a number, a list of
   names or ids, a ``{start, end, time_zone}`` date). ``raw_notion.pages.properties`` keeps these
   by property name, whatever the database, so nothing about a page depends on knowing its schema.
2. ``typed_columns`` maps a database's schema to typed columns with validated names, and
   ``typed_values`` fills them from the flattened values. An unknown property type is kept as a
   JSON column: a new Notion feature must never drop data or fail a sync.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chitty_pipelines.warehouse import validate_identifier

# Property type -> DuckDB column type. ``date`` becomes two columns (start, end).
SCALAR_TYPES: dict[str, str] = {
    "title": "VARCHAR",
    "rich_text": "VARCHAR",
    "number": "DOUBLE",
    "select": "VARCHAR",
    "status": "VARCHAR",
    "multi_select": "VARCHAR[]",
    "people": "VARCHAR[]",
    "relation": "VARCHAR[]",
    "files": "VARCHAR[]",
    "checkbox": "BOOLEAN",
    "url": "VARCHAR",
    "email": "VARCHAR",
    "phone_number": "VARCHAR",
    "unique_id": "VARCHAR",
    "created_time": "TIMESTAMPTZ",
    "last_edited_time": "TIMESTAMPTZ",
    "created_by": "VARCHAR",
    "last_edited_by": "VARCHAR",
    "verification": "VARCHAR",
    # Their result type is not in the schema (it depends on the expression), so they stay JSON.
    "formula": "JSON",
    "rollup": "JSON",
}

# Columns every typed table starts with; a property whose name slugs to one of these gets a prefix.
RESERVED_COLUMNS = frozenset(
    {"page_id", "table_id", "database_id", "created_time", "last_edited_time", "url", "is_deleted"}
)
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def normalize_id(value: str | None) -> str | None:
    """Notion ids come with and without dashes: always lowercase dashed UUIDs when they are UUIDs."""
    if value is None:
        return None
    raw = str(value).strip().lower()
    compact = raw.replace("-", "")
    if _HEX32.match(compact):
        return f"{compact[:8]}-{compact[8:12]}-{compact[12:16]}-{compact[16:20]}-{compact[20:]}"
    return raw


def parse_time(value: str | None) -> datetime | None:
    """Any ISO-8601 form Notion sends (``Z`` or offset, with or without milliseconds, date-only)
    as an aware UTC datetime; a date-only value is midnight UTC."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def plain_text(rich: Any) -> str | None:
    """Rich text arrays concatenated by ``plain_text`` (None when empty)."""
    if not isinstance(rich, list) or not rich:
        return None
    parts = []
    for item in rich:
        if isinstance(item, dict):
            text = item.get("plain_text")
            if text is None:  # older shapes carry only text.content
                text = (item.get("text") or {}).get("content", "")
            parts.append(str(text))
    return "".join(parts)


def _date(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not value.get("start"):
        return None
    return {"start": value.get("start"), "end": value.get("end"), "time_zone": value.get("time_zone")}


def _file_ref(f: dict[str, Any]) -> str | None:
    kind = f.get("type")
    body = f.get(kind) if isinstance(kind, str) else None
    if isinstance(body, dict) and body.get("url"):
        return str(body["url"])
    return f.get("name")


def _ids(items: Any) -> list[str]:
    return [normalize_id(i["id"]) for i in items or [] if isinstance(i, dict) and i.get("id")]


def flatten_value(ptype: str, value: Any) -> Any:
    """The plain form of one property value, given its type and the value under that type key."""
    if ptype in ("title", "rich_text"):
        return plain_text(value)
    if ptype in ("select", "status"):
        return value.get("name") if isinstance(value, dict) else None
    if ptype == "multi_select":
        return [o.get("name") for o in value or [] if isinstance(o, dict)]
    if ptype in ("people", "relation"):
        return _ids(value)
    if ptype == "files":
        return [ref for f in value or [] if isinstance(f, dict) and (ref := _file_ref(f))]
    if ptype == "date":
        return _date(value)
    if ptype in ("created_by", "last_edited_by"):
        return normalize_id(value.get("id")) if isinstance(value, dict) else None
    if ptype == "unique_id":
        if not isinstance(value, dict) or value.get("number") is None:
            return None
        prefix = value.get("prefix")
        return f"{prefix}-{value['number']}" if prefix else str(value["number"])
    if ptype == "verification":
        return value.get("state") if isinstance(value, dict) else None
    if ptype == "formula":
        if not isinstance(value, dict):
            return None
        kind = value.get("type")
        inner = value.get(kind) if isinstance(kind, str) else None
        return _date(inner) if kind == "date" else inner
    if ptype == "rollup":
        if not isinstance(value, dict):
            return None
        kind = value.get("type")
        if kind == "array":
            return [flatten_value(str(i.get("type")), i.get(i.get("type"))) for i in value.get("array") or []]
        if kind == "date":
            return _date(value.get("date"))
        return value.get(kind) if isinstance(kind, str) else None
    if ptype in ("number", "checkbox", "url", "email", "phone_number", "created_time", "last_edited_time"):
        return value
    return value  # unknown type: kept as it came


def flatten_property(prop: dict[str, Any]) -> tuple[str, Any]:
    """``(type, plain value)`` of one entry of a page's ``properties``."""
    ptype = str(prop.get("type") or "unknown")
    return ptype, flatten_value(ptype, prop.get(ptype))


def flatten_properties(properties: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: {"type": t, "value": v}}`` for every property of a page."""
    out: dict[str, dict[str, Any]] = {}
    for name, prop in (properties or {}).items():
        if isinstance(prop, dict):
            ptype, value = flatten_property(prop)
            out[name] = {"type": ptype, "value": value}
    return out


def page_title(properties: dict[str, Any]) -> str | None:
    """The title is whichever property has type ``title``; its name varies by database."""
    for prop in (properties or {}).values():
        if isinstance(prop, dict) and prop.get("type") == "title":
            return plain_text(prop.get("title"))
    return None


# --- typed columns --------------------------------------------------------------------------


@dataclass(frozen=True)
class TypedColumn:
    name: str  # validated SQL identifier
    type: str  # DuckDB type
    prop: str  # Notion property name
    ptype: str  # Notion property type
    part: str = ""  # "start"/"end" for dates


def slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")


def _base_name(prop_name: str, prop_id: str) -> str:
    base = slug(prop_name)[:48]
    if not base:  # e.g. a name in a non-Latin script: stable name from the property id
        base = "prop_" + hashlib.sha1((prop_id or prop_name).encode()).hexdigest()[:8]
    if base[0].isdigit() or base in RESERVED_COLUMNS:
        base = "p_" + base
    return base


def typed_columns(schema: dict[str, Any]) -> list[TypedColumn]:
    """Typed columns for a database schema (``properties`` of a database or data source).

    Order: the title first, then by property name, so the layout does not depend on the order
    the API happens to list properties. Colliding slugs get ``_2``, ``_3``.
    """
    props = [(n, p) for n, p in (schema or {}).items() if isinstance(p, dict)]
    props.sort(key=lambda item: (item[1].get("type") != "title", item[0]))
    used: set[str] = set(RESERVED_COLUMNS)
    out: list[TypedColumn] = []

    def claim(candidate: str) -> str:
        name, n = candidate, 2
        while name in used:
            name = f"{candidate}_{n}"
            n += 1
        used.add(name)
        return validate_identifier(name, "column")

    for prop_name, prop in props:
        ptype = str(prop.get("type") or "unknown")
        base = _base_name(prop_name, str(prop.get("id") or ""))
        if ptype == "date":
            root = claim(base)  # reserve the root so _start/_end of two dates never collide
            out.append(TypedColumn(claim(f"{root}_start"), "TIMESTAMPTZ", prop_name, ptype, "start"))
            out.append(TypedColumn(claim(f"{root}_end"), "TIMESTAMPTZ", prop_name, ptype, "end"))
        else:
            out.append(TypedColumn(claim(base), SCALAR_TYPES.get(ptype, "JSON"), prop_name, ptype))
    return out


def _convert(col: TypedColumn, value: Any) -> Any:
    if value is None:
        return None
    if col.ptype == "date":
        return parse_time(value.get(col.part)) if isinstance(value, dict) else None
    if col.type == "JSON":
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if col.type == "TIMESTAMPTZ":
        return parse_time(value)
    if col.type == "DOUBLE":
        return float(value)
    if col.type == "BOOLEAN":
        return bool(value)
    if col.type == "VARCHAR[]":
        return [str(v) for v in value]
    return str(value)


def typed_values(
    columns: list[TypedColumn], flattened: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """Column values for one page, and the names of properties that could not be converted
    (their column stays NULL; the caller records a reject, the page is still written)."""
    row: dict[str, Any] = {}
    problems: list[str] = []
    for col in columns:
        entry = flattened.get(col.prop)
        if entry is None:
            row[col.name] = None
            continue
        value = entry.get("value")
        # The schema changed under this page (e.g. text -> number): keep the value only where a
        # JSON or text column can hold it, else NULL plus a reject.
        if entry.get("type") != col.ptype and col.type not in ("JSON", "VARCHAR"):
            row[col.name] = None
            problems.append(col.prop)
            continue
        try:
            row[col.name] = _convert(col, value)
        except (TypeError, ValueError, AttributeError):
            row[col.name] = None
            problems.append(col.prop)
    return row, problems


def schema_fingerprint(columns: list[TypedColumn]) -> str:
    text = json.dumps([(c.name, c.type, c.prop, c.ptype, c.part) for c in columns])
    return hashlib.sha1(text.encode()).hexdigest()[:16]
