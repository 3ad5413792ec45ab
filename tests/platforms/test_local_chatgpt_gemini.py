"""Gemini Takeout activity (My Activity.json): prompts, sessions by time gap, cursors, rejects.

No licensed sample exists (session-formats §3); the fixtures follow the documented item shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from chitty_pipelines.kernel.local_files import LocalSessionsResource
from chitty_pipelines.platforms.gemini.assets import GEMINI_ASSETS, GEMINI_CHECKS
from chitty_pipelines.platforms.gemini.parser import ActivityError, ActivityRules, html_text, prompt_row
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource


def prompt(
    time: str, text: str, *, html: list[str] | None = None, subtitles: list[dict] | None = None
) -> dict:
    item: dict[str, Any] = {
        "header": "Gemini Apps",
        "title": f"Prompted {text}",
        "time": time,
        "products": ["Gemini Apps"],
        "activityControls": ["Gemini Apps Activity"],
        "safeHtmlItem": [{"html": h} for h in (html or [f"<p>answer to {text}</p>"])],
    }
    if subtitles:
        item["subtitles"] = subtitles
    return item


P1 = prompt("2025-03-01T09:00:00.000Z", "first")
P2 = prompt("2025-03-01T09:10:00.000Z", "second")
P3 = prompt("2025-03-01T09:35:00.000Z", "third")  # 25 min after P2: same session at 30, new at 20
P4 = prompt("2025-03-01T11:00:00.000Z", "fourth")
P5 = prompt(
    "2025-03-01T11:05:30.123Z",
    "fifth",
    html=["<p>one &amp; <b>two</b></p><ul><li>a</li><li>b</li></ul>", "<p>regenerated</p>"],
    subtitles=[{"name": "Chef was used in this chat."}, {"name": "-  recipe.pdf"}],
)
OTHER = [
    {
        "header": "Gemini Apps",
        "title": "Created Gem Chef",
        "time": "2025-03-01T08:00:00Z",
        "products": ["Gemini Apps"],
    },
    {"header": "Gemini Apps", "title": "Gave feedback: Good response", "time": "2025-03-01T11:06:00Z"},
    {
        "header": "Search",
        "title": "Prompted not gemini",
        "time": "2025-03-01T10:00:00Z",
        "products": ["Search"],
    },
]
BAD = [{"header": "Gemini Apps", "title": "Prompted no time"}, "just a string"]


def newest_first(*items: dict) -> list[dict]:
    return sorted(items, key=lambda i: i["time"], reverse=True)


def write(path: Path, items: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items))
    return path


def run(warehouse_resource: WarehouseResource, exports: Path, **config: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*GEMINI_ASSETS, *GEMINI_CHECKS],
        resources={
            "warehouse": warehouse_resource,
            "local_sessions": LocalSessionsResource(claude_homes=[], exports_dir=str(exports)),
        },
        run_config={"ops": {"gemini_activity": {"config": config}}} if config else None,
        instance=dg.DagsterInstance.ephemeral(),
    )


def meta(result: dg.ExecuteInProcessResult, table: str) -> dict[str, Any]:
    for mat in result.asset_materializations_for_node("gemini_activity"):
        if mat.asset_key.path[-1] == table:
            return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    raise AssertionError(table)


def sessions(wh: Warehouse) -> list[tuple[str, int, list[str]]]:
    df = wh.query(
        "SELECT first_prompt, prompt_count, gem_names FROM raw_local.gemini_sessions ORDER BY started_at"
    )
    return [(r[0], int(r[1]), list(r[2])) for r in df.itertuples(index=False)]


def test_prompt_row_fields() -> None:
    row = prompt_row(P5, ActivityRules(), "f", 0)
    assert row is not None
    assert (row["prompt_text"], row["regenerations"], row["gem_name"]) == ("fifth", 1, "Chef")
    assert row["attached_files"] == ["recipe.pdf"]
    assert row["response_text"] == "one & two\na\nb"
    assert row["prompt_time"].isoformat() == "2025-03-01T11:05:30.123000+00:00"
    assert prompt_row(OTHER[0], ActivityRules(), "f", 1) is None
    assert prompt_row(OTHER[2], ActivityRules(), "f", 2) is None
    with pytest.raises(ActivityError, match="no time"):
        prompt_row(BAD[0], ActivityRules(), "f", 3)
    assert html_text("<div>x<br>y</div>") == "x\ny"


def test_sync_sessions_incremental_and_rejects(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    first = write(
        exports / "Takeout" / "My Activity" / "Gemini Apps" / "My Activity.json",
        [*newest_first(P1, P2, P3, P4, P5, *OTHER[:2]), OTHER[2], *BAD],
    )
    result = run(warehouse_resource, exports)
    assert result.success
    assert sessions(warehouse) == [("first", 3, []), ("fourth", 2, ["Chef"])]
    m = meta(result, "gemini_prompts")
    assert (m["dagster/row_count"], m["rows_written"], m["rejects"], m["items_read"], m["items_skipped"]) == (
        5,
        5,
        2,
        10,
        3,
    )
    assert m["bytes_read"] == first.stat().st_size
    assert meta(result, "gemini_sessions")["dagster/row_count"] == 2
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "gemini_prompts_unique_key": True,
        "gemini_sessions_unique_key": True,
        "gemini_rejects": False,
        "gemini_prompts_in_sessions": True,
    }
    rejects = warehouse.query(
        "SELECT location, reason FROM ops.rejects WHERE stream = 'gemini' ORDER BY location"
    )
    assert rejects.values.tolist() == [
        ["item 8", "item has no time"],
        ["item 9", "array element is a str, not an activity object"],
    ]
    ids_before = warehouse.query("SELECT session_id FROM raw_local.gemini_sessions ORDER BY started_at")[
        "session_id"
    ]

    # Nothing changed: not read, sessions not rebuilt.
    again = meta(run(warehouse_resource, exports), "gemini_prompts")
    assert (
        again["bytes_read"],
        again["files_skipped"],
        again["sessions_rebuilt"],
        again["rows_written"],
    ) == (0, 1, False, 0)

    # A later Takeout overlaps the first (P4, P5) and adds P6 15 min after P5: one row per prompt,
    # the second session grows and keeps its id.
    p6 = prompt("2025-03-01T11:20:00.000Z", "sixth")
    write(exports / "later" / "My Activity.json", newest_first(P4, P5, p6))
    third = run(warehouse_resource, exports)
    assert meta(third, "gemini_prompts")["dagster/row_count"] == 6
    assert sessions(warehouse) == [("first", 3, []), ("fourth", 3, ["Chef"])]
    ids_after = warehouse.query("SELECT session_id FROM raw_local.gemini_sessions ORDER BY started_at")[
        "session_id"
    ]
    assert ids_after.tolist() == ids_before.tolist()

    # A shorter gap splits the first session; only the sessions are rebuilt, no file is read.
    fourth = run(warehouse_resource, exports, session_gap_minutes=20.0)
    assert sessions(warehouse) == [("first", 2, []), ("third", 1, []), ("fourth", 3, ["Chef"])]
    assert meta(fourth, "gemini_prompts")["bytes_read"] == 0
    assert all(e.passed for e in fourth.get_asset_check_evaluations() if e.check_name != "gemini_rejects")


def test_other_products_invalid_json_and_localised_prefixes(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    search = [
        {"header": "Search", "title": f"Searched for {i}", "time": "2025-01-01T00:00:00Z"} for i in range(50)
    ]
    write(exports / "Search" / "My Activity.json", search)
    broken = exports / "Gemini Apps" / "My Activity.json"
    broken.parent.mkdir(parents=True)
    broken.write_text(json.dumps([P1])[:-1] + ', {"title": "Prompted')
    german = {
        **P2,
        "header": "Gemini-Apps",
        "title": "Eingegebener Prompt: hallo",
        "products": ["Gemini-Apps"],
    }
    write(exports / "de" / "My Activity.json", [german])

    result = run(
        warehouse_resource,
        exports,
        headers=["Gemini Apps", "Gemini-Apps"],
        prompt_prefixes=["Prompted ", "Eingegebener Prompt: "],
    )
    assert result.success
    texts = warehouse.query("SELECT prompt_text FROM raw_local.gemini_prompts ORDER BY prompt_time")[
        "prompt_text"
    ]
    assert texts.tolist() == ["first", "hallo"]
    rejects = warehouse.query("SELECT source, location, reason FROM ops.rejects")
    assert rejects["source"].tolist() == [str(broken.resolve())]
    assert rejects["location"].tolist()[0].startswith("item 1 (byte ~")
    assert rejects["reason"][0].startswith("the file ends in the middle of item 1: it is truncated")
    m = meta(result, "gemini_prompts")
    # The Search file stops after its first item: not Gemini's.
    assert (m["files_read"], m["items_read"], m["items_skipped"]) == (3, 1 + 1 + 1, 1)
