"""Builders for ChatGPT export fixtures (no tests here): small conversation trees written by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from chitty_pipelines.kernel.local_files import LocalSessionsResource
from chitty_pipelines.platforms.chatgpt import assets as lc
from chitty_pipelines.platforms.chatgpt.fake import conversation, node, write_export  # noqa: F401
from chitty_pipelines.warehouse.resource import WarehouseResource


def branching() -> dict[str, Any]:
    """root → hidden system → u1 → a1 → {u2a → a2a, u2b → {a2b1, a2b2}}; current = a2b2.

    Mapping keys deliberately not in tree order (leaves first). 9 nodes, 8 messages, visible
    thread sys,u1,a1,u2b,a2b2 (5), leaves a2a,a2b1,a2b2 (3 branches), 1 hidden."""
    hidden = {"is_visually_hidden_from_conversation": True}
    nodes = [
        node("a2b2", "u2b", [], "assistant", metadata={"model_slug": "gpt-4o"}, create_time=1_700_000_009.0),
        node("a2a", "u2a", [], "assistant", metadata={"model_slug": "gpt-4"}, create_time=1_700_000_005.0),
        node("u2b", "a1", ["a2b1", "a2b2"], "user", create_time=1_700_000_006.0),
        node("root", None, ["sys"], None),
        node("a2b1", "u2b", [], "assistant", metadata={"model_slug": "gpt-4o"}, create_time=1_700_000_007.0),
        node(
            "sys",
            "root",
            ["u1"],
            "system",
            {"content_type": "text", "parts": [""]},
            create_time=None,
            weight=0.0,
            metadata=hidden,
        ),
        node("u1", "sys", ["a1"], "user", create_time=1_700_000_001.0),
        node(
            "a1",
            "u1",
            ["u2a", "u2b"],
            "assistant",
            metadata={"model_slug": "gpt-4o"},
            create_time=1_700_000_002.0,
        ),
        node("u2a", "a1", ["a2a"], "user", create_time=1_700_000_004.0),
    ]
    return conversation("conv-branching", nodes, "a2b2", gizmo_id="g-abc", is_archived=True)


def fragment() -> dict[str, Any]:
    """current_node missing from the mapping, n1's parent outside it; n4 (deepest) has a null
    create_time and an unknown content type. Visible n1,n3,n4; total 4; leaves n2,n4."""
    multimodal = {
        "content_type": "multimodal_text",
        "parts": [
            "look at this",
            {"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-XYZ", "width": 8},
            "and this",
        ],
    }
    nodes = [
        node(
            "n4",
            "n3",
            [],
            "assistant",
            {"content_type": "future_widget", "text": "widget says hi", "x": [1]},
            create_time=None,
        ),
        node(
            "n1",
            "gone",
            ["n2", "n3"],
            "tool",
            {
                "content_type": "tether_quote",
                "url": "https://e.x",
                "domain": "e.x",
                "title": "T",
                "text": "quoted",
            },
            author_name="browser",
        ),
        node("n2", "n1", [], "user", multimodal, create_time=1_700_000_200.0),
        node(
            "n3",
            "n1",
            ["n4"],
            "assistant",
            {"content_type": "thoughts", "thoughts": [{"summary": "S1", "content": "C1"}, {"summary": "S2"}]},
            create_time=1_700_000_100.0,
        ),
    ]
    return conversation("conv-fragment", nodes, "not-in-mapping")


def tools() -> dict[str, Any]:
    """Only ``id`` (no conversation_id); code to python, execution output, parts-only unknown type."""
    nodes = [
        node("r", None, ["u"], None),
        node("u", "r", ["c"], "user"),
        node(
            "c",
            "u",
            ["o"],
            "assistant",
            {"content_type": "code", "language": "python", "text": "print(1)"},
            recipient="python",
        ),
        node(
            "o",
            "c",
            ["x"],
            "tool",
            {"content_type": "execution_output", "text": "1"},
            author_name="python",
            weight=0.0,
        ),
        node("x", "o", [], "assistant", {"content_type": "brand_new", "parts": ["p1", {"k": 1}, "p2"]}),
    ]
    conv = conversation(None, nodes, "x")
    conv["id"] = "conv-tools"
    return conv


def no_mapping() -> dict[str, Any]:
    return {"title": "Corrupted", "create_time": 1.0, "update_time": 1.0, "conversation_id": "conv-broken"}


def run_sync(
    warehouse_resource: WarehouseResource, exports_dir: Path, **config: Any
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [lc.chatgpt_exports],  # its four checks run in the same step
        resources={
            "warehouse": warehouse_resource,
            "local_sessions": LocalSessionsResource(claude_homes=[], exports_dir=str(exports_dir)),
        },
        run_config={"ops": {"chatgpt_exports": {"config": config}}} if config else None,
        instance=dg.DagsterInstance.ephemeral(),
    )


def metadata(result: dg.ExecuteInProcessResult, table: str) -> dict[str, Any]:
    """Materialization metadata of raw_local/<table>, as plain values."""
    for mat in result.asset_materializations_for_node("chatgpt_exports"):
        if mat.asset_key.path[-1] == table:
            return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    raise AssertionError(f"no materialization for {table}")


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
