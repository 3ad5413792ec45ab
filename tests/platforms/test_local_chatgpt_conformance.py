"""Conformance: LibreChat's published ChatGPT export fixtures (../shared/samples/chatgpt/librechat).

Expected numbers were derived independently of the parser, with jq over each file:

  jq -c '[.[] | if .mapping then (.mapping as $m | {id: (.conversation_id // .id),
      visible: ([.current_node | recurse(if $m[.].parent and $m[$m[.].parent] then $m[.].parent
                 else empty end)] | map(select($m[.].message != null)) | length),
      total: ([.mapping[] | select(.message != null)] | length)})
    else {rejected: (.conversation_id // .id)} end]' FILE

which walks current_node → root through parents present in the mapping and counts nodes carrying
a message. chatgpt-citations.json's current_node is not in its mapping (jq gives 0), so its
visible count was derived by hand from its only leaf (the node none of whose children is in the
mapping), found with
  jq '.[0] | .mapping as $m | [$m | to_entries[] | select([.value.children[] | select($m[.])]
      | length == 0) | .key]'
→ 4b3aec6b…, whose parent 9e874379… has a parent outside the mapping: 2 messages.
Branches of chatgpt-tree.json: 3 leaves (2 nodes with two children), same leaf query.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.platforms.test_local_chatgpt_builders import checks, metadata, run_sync

pytestmark = pytest.mark.conformance

# file -> {conversation_id: (visible messages, total messages)}, rejected conversation ids
EXPECTED: dict[str, tuple[dict[str, tuple[int, int]], list[str]]] = {
    "chatgpt-citations.json": ({"d6523d1e-7ec3-474f-a363-0e9dffdb3d93": (2, 2)}, []),
    "chatgpt-export.json": (
        {"d6523d1e-7ec3-474f-a363-0e9dffdb3d93": (16, 16), "7c5ab593-dbab-43bd-862d-2c3c1eeebf6a": (5, 5)},
        [],
    ),
    "chatgpt-modern-export.json": (
        {"6b0f0d9c-0000-4000-8000-000000000001": (5, 5), "6b0f0d9c-0000-4000-8000-000000000003": (2, 2)},
        ["6b0f0d9c-0000-4000-8000-000000000002"],
    ),
    "chatgpt-tree.json": ({"d5dc5307-6807-41a0-8b04-4acee626eeb7": (7, 12)}, []),
}


def _librechat(samples: Path) -> Path:
    folder = samples / "chatgpt" / "librechat"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


def _copy(samples: Path, names: list[str], exports: Path) -> None:
    exports.mkdir(parents=True)
    for name in names:
        shutil.copyfile(_librechat(samples) / name, exports / name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_file(
    name: str, samples: Path, tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    _copy(samples, [name], exports)
    result = run_sync(warehouse_resource, exports)
    assert result.success
    expected, rejected = EXPECTED[name]
    got = warehouse.query(
        "SELECT conversation_id, visible_messages, total_messages FROM raw_local.chatgpt_conversations"
    )
    assert {r[0]: (r[1], r[2]) for r in got.itertuples(index=False)} == expected
    # The per-conversation counts agree with the message rows themselves.
    rows = warehouse.query(
        "SELECT conversation_id, count(*) FILTER (WHERE on_active_thread) AS v, count(*) AS t, "
        "max(position) AS p FROM raw_local.chatgpt_messages GROUP BY 1"
    )
    assert {r[0]: (r[1], r[2]) for r in rows.itertuples(index=False)} == expected
    assert {r[0]: r[3] + 1 for r in rows.itertuples(index=False)} == {k: v[0] for k, v in expected.items()}
    rejects = warehouse.query("SELECT location, reason FROM ops.rejects WHERE stream = 'chatgpt'")
    assert rejects["location"].tolist() == [
        f"conversation {i} ({cid})" for i, cid in enumerate(rejected, start=1)
    ]
    assert set(rejects["reason"]) <= {"conversation has no mapping (message tree)"}
    meta = metadata(result, "chatgpt_conversations")
    assert metadata(result, "chatgpt_messages")["bytes_read"] == (exports / name).stat().st_size
    assert meta["conversations_read"] == len(expected) + len(rejected)
    assert checks(result)["chatgpt_rejects"] is (not rejected)


def test_sample_specifics(
    samples: Path, tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    _copy(samples, ["chatgpt-citations.json", "chatgpt-tree.json", "chatgpt-modern-export.json"], exports)
    run_sync(warehouse_resource, exports)
    conv = warehouse.query(
        "SELECT conversation_id, branch_count, current_node_missing, active_leaf, default_model_slug "
        "FROM raw_local.chatgpt_conversations ORDER BY 1"
    ).set_index("conversation_id")
    assert conv.loc["d5dc5307-6807-41a0-8b04-4acee626eeb7", "branch_count"] == 3
    citations = conv.loc["d6523d1e-7ec3-474f-a363-0e9dffdb3d93"]
    assert bool(citations["current_node_missing"]) is True
    assert citations["active_leaf"] == "4b3aec6b-5146-4bad-ae8e-204fdb6accda"
    assert conv.loc["6b0f0d9c-0000-4000-8000-000000000001", "default_model_slug"] == "gpt-5-thinking"
    ctx = warehouse.query(
        "SELECT content_type, text, hidden, position, create_time FROM raw_local.chatgpt_messages "
        "WHERE node_id = 'ctx-node'"
    ).iloc[0]
    assert (ctx["content_type"], ctx["text"], bool(ctx["hidden"]), ctx["position"]) == (
        "user_editable_context",
        "The user is an SRE.\nAnswer concisely.",
        True,
        0,
    )
    assert ctx["create_time"] is None or str(ctx["create_time"]) == "NaT"


def test_all_samples_together_share_one_conversation(
    samples: Path, tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    """citations.json is a fragment of export.json's first conversation (same id, same
    update_time, 2 of its 17 nodes): the fuller copy wins whatever the reading order."""
    exports = tmp_path / "exports"
    _copy(samples, sorted(EXPECTED), exports)
    result = run_sync(warehouse_resource, exports)
    assert int(warehouse.scalar("SELECT count(*) FROM raw_local.chatgpt_conversations")) == 5
    assert int(warehouse.scalar("SELECT count(*) FROM raw_local.chatgpt_messages")) == 16 + 5 + 5 + 2 + 12
    shared = warehouse.query(
        "SELECT source_file, total_messages FROM raw_local.chatgpt_conversations "
        "WHERE conversation_id = 'd6523d1e-7ec3-474f-a363-0e9dffdb3d93'"
    ).iloc[0]
    assert Path(shared["source_file"]).name == "chatgpt-export.json" and shared["total_messages"] == 16
    meta = metadata(result, "chatgpt_conversations")
    assert (meta["conversations_read"], meta["conversations_superseded"], meta["rejects"]) == (7, 0, 1)
    assert meta["files_read"] == 4
    assert {k: v for k, v in checks(result).items() if k != "chatgpt_rejects"} == {
        "chatgpt_conversations_unique_key": True,
        "chatgpt_messages_unique_key": True,
        "chatgpt_messages_have_conversation": True,
    }
    again = metadata(run_sync(warehouse_resource, exports), "chatgpt_messages")
    assert (again["bytes_read"], again["files_skipped"]) == (0, 4)
