"""``<uuid>``-style placeholders in asset, column and check descriptions survive the UI, which reads
descriptions as markdown with HTML (a bare ``<uuid>`` is an unknown tag and disappears)."""

from __future__ import annotations

import re

from chitty_pipelines.kernel.platform_asset import markdown_safe

# A ``<placeholder>`` not inside backticks.
_BARE = re.compile(r"(`[^`]*`)|(<[A-Za-z_][A-Za-z0-9_.:\-]*>)")


def _bare_placeholders(text: str | None) -> list[str]:
    return [m.group(2) for m in _BARE.finditer(text or "") if m.group(2)]


def test_markdown_safe_wraps_placeholders_once() -> None:
    assert markdown_safe("id is <prefix>:<id>") == "id is `<prefix>`:`<id>`"
    assert markdown_safe("already `<uuid>` safe") == "already `<uuid>` safe"
    assert markdown_safe(markdown_safe("a <uuid>")) == "a `<uuid>`"
    assert markdown_safe("a < b and c > d") == "a < b and c > d"
    assert markdown_safe(None) is None


def test_no_bare_placeholder_reaches_the_ui() -> None:
    from chitty_pipelines.definitions import defs

    found: list[str] = []
    for asset in defs.assets or []:
        for spec in getattr(asset, "specs", []):
            found += [f"{spec.key.to_user_string()}: {p}" for p in _bare_placeholders(spec.description)]
            schema = spec.metadata.get("dagster/column_schema")
            for column in schema.columns if schema is not None else []:
                found += [
                    f"{spec.key.to_user_string()}.{column.name}: {p}"
                    for p in _bare_placeholders(column.description)
                ]
        for check in getattr(asset, "check_specs", []):
            found += [f"check {check.key.name}: {p}" for p in _bare_placeholders(check.description)]
    # The descriptions do use placeholders (else this test proves nothing) ...
    from chitty_pipelines.unified.entity_tables import SESSIONS

    raw = {c.name: c.description for c in SESSIONS.columns}
    assert "<id>" in (raw["session_key"] or "")
    # ... and none reaches the UI bare.
    assert found == []
