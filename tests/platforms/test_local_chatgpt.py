"""ChatGPT exports: tree walk, text extraction, incremental per-file sync, rejects, checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chitty_pipelines.kernel.local_files import LocalSessionsResource
from chitty_pipelines.platforms.chatgpt.parser import (
    ConversationError,
    active_leaf,
    extract_text,
    parse_conversation,
    visible_thread,
)
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.platforms.test_local_chatgpt_builders import (
    branching,
    checks,
    conversation,
    fragment,
    metadata,
    no_mapping,
    node,
    run_sync,
    tools,
    write_export,
)

# --- pure parser ---------------------------------------------------------------------------


def test_branching_tree_walk_positions_and_counts() -> None:
    parsed = parse_conversation(branching(), "f.json", 0)
    c = parsed.conversation
    assert (c["visible_messages"], c["total_messages"], c["branch_count"], c["hidden_messages"]) == (
        5,
        8,
        3,
        1,
    )
    assert (c["node_count"], c["active_leaf"], c["current_node_missing"]) == (9, "a2b2", False)
    assert c["model_slugs"] == ["gpt-4", "gpt-4o"]
    by_id = {m["node_id"]: m for m in parsed.messages}
    assert "root" not in by_id  # the message-less root is not a message
    thread = sorted((m["position"], m["node_id"]) for m in parsed.messages if m["on_active_thread"])
    assert thread == [(0, "sys"), (1, "u1"), (2, "a1"), (3, "u2b"), (4, "a2b2")]
    assert {n for n, m in by_id.items() if not m["on_active_thread"]} == {"a2a", "u2a", "a2b1"}
    assert all(m["position"] is None for m in by_id.values() if not m["on_active_thread"])
    assert by_id["sys"]["hidden"] is True and by_id["sys"]["create_time"] is None
    assert by_id["sys"]["text"] == "" and by_id["u1"]["hidden"] is False
    assert by_id["u1"]["content_json"] is None  # plain text needs no raw copy


def test_missing_current_node_dangling_parent_falls_back_to_deepest_leaf() -> None:
    parsed = parse_conversation(fragment(), "f.json", 1)
    c = parsed.conversation
    # n4 is deepest (depth 2) although its create_time is null and n2 is newer.
    assert (c["active_leaf"], c["current_node_missing"], c["current_node"]) == ("n4", True, "not-in-mapping")
    assert (c["visible_messages"], c["total_messages"], c["branch_count"]) == (3, 4, 2)
    pos = {m["node_id"]: m["position"] for m in parsed.messages}
    assert pos == {"n1": 0, "n3": 1, "n4": 2, "n2": None}
    by_id = {m["node_id"]: m for m in parsed.messages}
    assert by_id["n1"]["parent_id"] == "gone"
    assert by_id["n4"]["text"] == "widget says hi"
    assert json.loads(by_id["n4"]["content_json"]) == {
        "content_type": "future_widget",
        "text": "widget says hi",
        "x": [1],
    }
    assert by_id["n2"]["text"] == "look at this\nand this"
    assert "file-service://file-XYZ" in by_id["n2"]["content_json"]
    assert by_id["n3"]["text"] == "S1\nC1\nS2"
    assert by_id["n1"]["text"] == "T\nquoted" and by_id["n1"]["author_name"] == "browser"


def test_fallback_ties_break_by_create_time_then_position() -> None:
    mapping = {
        "r": node("r", None, ["x", "y", "z"], None),
        "x": node("x", "r", [], create_time=5.0),
        "y": node("y", "r", [], create_time=9.0),
        "z": node("z", "r", [], create_time=9.0),
    }
    assert active_leaf(mapping, "missing") == ("z", True)  # y and z tie on time: later position wins
    mapping["z"]["message"]["create_time"] = None
    assert active_leaf(mapping, None) == ("y", True)
    assert active_leaf(mapping, "x") == ("x", False)


def test_parent_cycle_does_not_hang() -> None:
    mapping = {"a": node("a", "b", ["b"]), "b": node("b", "a", ["a"])}
    assert visible_thread(mapping, "a") == ["b", "a"]
    leaf, fell_back = active_leaf(mapping, None)
    assert fell_back and leaf in {"a", "b"}


def test_id_fallback_and_tool_content_types() -> None:
    parsed = parse_conversation(tools(), "f.json", 2)
    assert parsed.conversation["conversation_id"] == "conv-tools"
    by_id = {m["node_id"]: m for m in parsed.messages}
    assert (by_id["c"]["text"], by_id["c"]["recipient"], by_id["c"]["content_type"]) == (
        "print(1)",
        "python",
        "code",
    )
    assert (by_id["o"]["text"], by_id["o"]["hidden"]) == ("1", True)
    assert by_id["x"]["text"] == "p1\np2" and by_id["x"]["content_type"] == "brand_new"
    assert parsed.conversation["model_slugs"] == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"content_type": "text", "parts": ["a", "b"]}, ("text", "a\nb")),
        (
            {"content_type": "user_editable_context", "user_profile": "P", "user_instructions": "I"},
            ("user_editable_context", "P\nI"),
        ),
        ({"content_type": "system_error", "name": "E", "text": "boom"}, ("system_error", "E\nboom")),
        (
            {"content_type": "tether_browsing_display", "result": "R", "summary": None},
            ("tether_browsing_display", "R"),
        ),
        (
            {"content_type": "reasoning_recap", "content": "Thought for 3s"},
            ("reasoning_recap", "Thought for 3s"),
        ),
        ({"content_type": "mystery", "blob": {"a": 1}}, ("mystery", None)),
        (
            {"content_type": "multimodal_text", "parts": [{"content_type": "image_asset_pointer"}]},
            ("multimodal_text", None),
        ),
        (None, (None, None)),
    ],
)
def test_extract_text(content: object, expected: tuple[str | None, str | None]) -> None:
    assert extract_text(content) == expected


def test_conversation_without_mapping_or_id_is_an_error() -> None:
    with pytest.raises(ConversationError, match="no mapping"):
        parse_conversation(no_mapping(), "f.json", 0)
    with pytest.raises(ConversationError, match="neither"):
        parse_conversation({"mapping": {}}, "f.json", 0)
    with pytest.raises(ConversationError, match="not a conversation"):
        parse_conversation(42, "f.json", 0)


# --- the asset --------------------------------------------------------------------------


def _counts(wh: Warehouse) -> tuple[int, int]:
    return (
        int(wh.scalar("SELECT count(*) FROM raw_local.chatgpt_conversations")),
        int(wh.scalar("SELECT count(*) FROM raw_local.chatgpt_messages")),
    )


def test_sync_writes_tables_rejects_and_metadata(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    export = write_export(
        exports / "2024" / "conversations.json", [branching(), fragment(), no_mapping(), tools(), 7]
    )
    result = run_sync(warehouse_resource, exports)
    assert result.success
    assert _counts(warehouse) == (3, 8 + 4 + 4)

    conv = warehouse.query(
        "SELECT conversation_id, title, gizmo_id, is_archived, visible_messages, total_messages, "
        "branch_count, "
        "source_file, file_index, epoch(create_time) AS ct FROM raw_local.chatgpt_conversations ORDER BY 1"
    )
    assert conv["conversation_id"].tolist() == ["conv-branching", "conv-fragment", "conv-tools"]
    assert conv["visible_messages"].tolist() == [5, 3, 4]
    assert conv["total_messages"].tolist() == [8, 4, 4]
    assert conv["branch_count"].tolist() == [3, 2, 1]
    assert conv["file_index"].tolist() == [0, 1, 3]
    assert conv["gizmo_id"].tolist()[0] == "g-abc" and bool(conv["is_archived"].tolist()[0]) is True
    assert set(conv["source_file"]) == {str(export.resolve())}
    assert conv["ct"].tolist()[0] == pytest.approx(1_700_000_000.5)

    thread = warehouse.query(
        "SELECT node_id FROM raw_local.chatgpt_messages WHERE conversation_id = 'conv-branching' "
        "AND on_active_thread ORDER BY position"
    )["node_id"].tolist()
    assert thread == ["sys", "u1", "a1", "u2b", "a2b2"]
    assert (
        warehouse.scalar("SELECT count(*) FROM raw_local.chatgpt_messages WHERE input_tokens IS NOT NULL")
        == 0
    )

    rejects = warehouse.query(
        "SELECT location, reason, excerpt FROM ops.rejects WHERE stream = 'chatgpt' ORDER BY 1"
    )
    assert rejects["location"].tolist() == ["conversation 2 (conv-broken)", "conversation 4"]
    assert rejects["reason"].tolist()[0] == "conversation has no mapping (message tree)"

    size = export.stat().st_size
    meta = metadata(result, "chatgpt_conversations")
    assert (meta["dagster/row_count"], meta["rows_written"], meta["bytes_read"], meta["rejects"]) == (
        3,
        3,
        0,  # the export is read once, into chatgpt_messages: its bytes are counted there only
        2,
    )
    assert (meta["files_seen"], meta["files_read"], meta["files_skipped"], meta["conversations_read"]) == (
        1,
        1,
        0,
        5,
    )
    assert meta["dagster/table_name"] == "raw_local.chatgpt_conversations"
    msg_meta = metadata(result, "chatgpt_messages")
    assert (msg_meta["dagster/row_count"], msg_meta["rows_written"], msg_meta["bytes_read"]) == (16, 16, size)
    assert [c.name for c in msg_meta["dagster/column_schema"].columns][:3] == [
        "conversation_id",
        "node_id",
        "message_id",
    ]
    assert checks(result) == {
        "chatgpt_conversations_unique_key": True,
        "chatgpt_messages_unique_key": True,
        "chatgpt_rejects": False,  # warns: two rejects
        "chatgpt_messages_have_conversation": True,
    }
    (rejects_check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "chatgpt_rejects"]
    reasons = rejects_check.metadata["top_reasons"].value  # what to fix, and in which file
    assert "| stream | source | reason | n |" in reasons, reasons
    assert f"| chatgpt | {export.resolve()} | conversation has no mapping (message tree) | 1 |" in reasons
    cursor = warehouse.cursors("chatgpt", "chatgpt")[str(export.resolve())]
    st = export.stat()
    assert (cursor["size"], cursor["mtime_ns"], cursor["inode"], cursor["offset"]) == (
        size,
        st.st_mtime_ns,
        st.st_ino,
        size,
    )
    log = warehouse.query("SELECT asset, status, rows_written, rejects FROM ops.sync_log ORDER BY asset")
    assert log.values.tolist() == [
        ["raw_local/chatgpt_conversations", "success", 3, 2],
        ["raw_local/chatgpt_messages", "success", 16, 2],
    ]


def test_unchanged_changed_and_full_refresh(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    export = write_export(exports / "conversations.json", [branching(), tools()])
    assert run_sync(warehouse_resource, exports).success
    assert _counts(warehouse) == (2, 12)

    again = run_sync(warehouse_resource, exports)
    meta = metadata(again, "chatgpt_messages")
    assert (meta["bytes_read"], meta["rows_written"], meta["files_read"], meta["files_skipped"]) == (
        0,
        0,
        0,
        1,
    )
    assert _counts(warehouse) == (2, 12)

    # Re-export: the abandoned branch u2a → a2a is gone, the title changed, a conversation was added.
    changed = branching()
    changed["title"] = "renamed"
    del changed["mapping"]["a2a"], changed["mapping"]["u2a"]
    changed["mapping"]["a1"]["children"] = ["u2b"]
    extra = conversation("conv-new", [node("r", None, ["q"], None), node("q", "r", [])], "q")
    write_export(export, [extra, changed, tools()])
    third = run_sync(warehouse_resource, exports)
    meta = metadata(third, "chatgpt_messages")
    assert (meta["bytes_read"], meta["rows_written"], meta["files_read"]) == (
        export.stat().st_size,
        6 + 1 + 4,
        1,
    )
    assert _counts(warehouse) == (3, 6 + 1 + 4)
    assert (
        warehouse.scalar(
            "SELECT title FROM raw_local.chatgpt_conversations WHERE conversation_id='conv-branching'"
        )
        == "renamed"
    )
    assert (
        warehouse.scalar(
            "SELECT file_index FROM raw_local.chatgpt_conversations WHERE conversation_id='conv-tools'"
        )
        == 2
    )
    assert all(checks(third).values())

    # Same size, new mtime: still a change.
    st = export.stat()
    os.utime(export, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert metadata(run_sync(warehouse_resource, exports), "chatgpt_messages")["bytes_read"] == st.st_size

    full = run_sync(warehouse_resource, exports, full_refresh=True)
    meta = metadata(full, "chatgpt_messages")
    assert (meta["bytes_read"], meta["full_refresh"], meta["files_skipped"]) == (st.st_size, True, 0)
    assert _counts(warehouse) == (3, 11)


def test_small_batches_give_the_same_rows(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    convs = [branching(), fragment(), tools()]
    for i in range(5):
        extra = tools()
        extra["id"] = f"conv-tools-{i}"
        convs.append(extra)
    write_export(exports / "conversations.json", convs)
    result = run_sync(warehouse_resource, exports, batch_messages=3)
    assert _counts(warehouse) == (8, 8 + 4 + 4 * 6)
    assert metadata(result, "chatgpt_messages")["rows_written"] == 36
    assert all(checks(result).values())


def test_invalid_json_and_non_array_files_are_rejected(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    good = write_export(exports / "a" / "conversations.json", [tools()])
    broken = exports / "b" / "broken.json"
    broken.parent.mkdir(parents=True)
    # A valid first conversation, then a truncated second one.
    broken.write_text(json.dumps([branching()])[:-1] + ', {"id": "half", "mapping": {"x"')
    not_array = exports / "c" / "conversations.json"
    not_array.parent.mkdir(parents=True)
    not_array.write_text('{"conversations": []}')

    result = run_sync(warehouse_resource, exports)
    assert result.success
    assert _counts(warehouse) == (2, 4 + 8)  # the conversation before the fault is kept
    rejects = warehouse.query("SELECT source, location, reason FROM ops.rejects ORDER BY source")
    assert rejects["source"].tolist() == [str(broken.resolve()), str(not_array.resolve())]
    # The fault is in the second conversation (index 1); the reason says what to do about it.
    assert rejects["location"].tolist()[0].startswith("conversation 1 (byte ~")
    assert rejects["reason"].tolist()[0] == (
        "the file ends in the middle of conversation 1: it is truncated (a download or unzip cut short?); "
        "the 1 conversation(s) before it landed; replace it with a complete copy"
    )
    assert rejects["reason"].tolist()[1] == "top-level JSON value is not an array of conversations"
    meta = metadata(result, "chatgpt_conversations")
    assert (meta["rejects"], meta["files_read"]) == (2, 3)

    # Broken files keep a cursor: unchanged, they are not read (nor rejected) again.
    again = metadata(run_sync(warehouse_resource, exports), "chatgpt_messages")
    assert (again["bytes_read"], again["files_skipped"], again["rejects"]) == (0, 3, 0)
    assert good.exists()


def test_same_conversation_in_two_exports_keeps_the_newest_copy(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    newer = branching()
    newer["update_time"] = 1_800_000_000.0
    newer["title"] = "newer"
    older = branching()
    del older["mapping"]["a2a"], older["mapping"]["u2a"]
    # "a" sorts first, so the newer copy is read first and the older one must not overwrite it.
    write_export(exports / "a" / "conversations.json", [newer])
    write_export(exports / "b" / "conversations.json", [older])
    result = run_sync(warehouse_resource, exports)
    assert metadata(result, "chatgpt_conversations")["conversations_superseded"] == 1
    assert _counts(warehouse) == (1, 8)
    assert warehouse.scalar("SELECT title FROM raw_local.chatgpt_conversations") == "newer"
    assert all(checks(result).values())


def test_no_exports_dir_succeeds_with_zero_rows(
    tmp_path: Path, warehouse_resource: WarehouseResource
) -> None:
    result = run_sync(warehouse_resource, tmp_path / "nowhere")
    assert result.success
    meta = metadata(result, "chatgpt_messages")
    assert (meta["dagster/row_count"], meta["files_seen"], meta["bytes_read"]) == (0, 0, 0)
    assert all(checks(result).values())


def test_export_listing_skips_sibling_files(tmp_path: Path) -> None:
    for name in (
        "conversations.json",
        "shared_conversations.json",
        "message_feedback.json",
        "My Activity.json",
        "x.json",
    ):
        write_export(tmp_path / name, [])
    (tmp_path / "user.json").write_text("{}")
    found = LocalSessionsResource(claude_homes=[], exports_dir=str(tmp_path)).chatgpt_exports()
    assert [p.name for p in found] == ["conversations.json", "x.json"]


def test_crash_mid_file_leaves_no_cursor_and_the_rerun_is_idempotent(
    tmp_path: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chitty_pipelines.platforms.chatgpt import streams as sync

    export = write_export(tmp_path / "conversations.json", [branching(), fragment(), tools()])
    real = sync.parse_conversation

    def crash_on_third(raw: object, source: str, index: int):  # type: ignore[no-untyped-def]
        if index == 2:
            raise RuntimeError("simulated crash")
        return real(raw, source, index)

    monkeypatch.setattr(sync, "parse_conversation", crash_on_third)
    with pytest.raises(RuntimeError, match="simulated crash"):
        sync.sync_exports(warehouse, [export], run_id="r1", full_refresh=False, batch_messages=1)
    # The first batches were committed; the file's cursor was not (it goes with the last batch).
    assert _counts(warehouse) == (2, 12)
    assert warehouse.cursors("chatgpt", "chatgpt") == {}

    monkeypatch.setattr(sync, "parse_conversation", real)
    outcome = sync.sync_exports(warehouse, [export], run_id="r2", full_refresh=False, batch_messages=1)
    assert (outcome.files_read, outcome.bytes_read) == (1, export.stat().st_size)
    assert _counts(warehouse) == (3, 16)
    assert list(warehouse.cursors("chatgpt", "chatgpt")) == [str(export.resolve())]
