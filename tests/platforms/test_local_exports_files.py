"""Export files as a user puts them in CHITTY_EXPORTS_DIR: the ZIP as downloaded, a whole Takeout
unzipped (other products' activity arrays, localised names), truncated and non-UTF-8 files, big
files (progress). Real files in tmp dirs, the real steps."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from chitty_pipelines.kernel.local_files import LocalSessionsResource
from chitty_pipelines.platforms.chatgpt import streams as chatgpt_streams
from chitty_pipelines.platforms.chatgpt.feeds import FEEDS as CHATGPT_FEEDS
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.platforms.test_local_chatgpt_builders import (
    branching,
    conversation,
    metadata,
    node,
    run_sync,
    tools,
    write_export,
)
from tests.platforms.test_local_chatgpt_gemini import meta as gemini_meta
from tests.platforms.test_local_chatgpt_gemini import prompt
from tests.platforms.test_local_chatgpt_gemini import run as run_gemini


def _zip(path: Path, members: dict[str, bytes | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _activity(items: list[dict[str, Any]]) -> str:
    return json.dumps(items, indent=2, ensure_ascii=False)  # Takeout writes it indented


def _counts(wh: Warehouse) -> tuple[int, int]:
    return (
        int(wh.scalar("SELECT count(*) FROM raw_local.chatgpt_conversations")),
        int(wh.scalar("SELECT count(*) FROM raw_local.chatgpt_messages")),
    )


def _rejects(wh: Warehouse, platform: str) -> list[tuple[str, str, str]]:
    return [
        (r[0], r[1], r[2])
        for r in wh.rows(
            "SELECT source, location, reason FROM ops.rejects WHERE platform = ? ORDER BY source, location",
            [platform],
        )
    ]


YOUTUBE = [
    {
        "header": "YouTube",
        "title": f"Watched video {i}",
        "time": "2026-01-01T00:00:00Z",
        "products": ["YouTube"],
    }
    for i in range(40)
]


def test_chatgpt_zip_as_downloaded_is_read_once(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    export = json.dumps([branching(), tools()])
    archive = _zip(
        exports / "0a1b2c-2026-12-01-10-00-00.zip",
        {"conversations.json": export, "user.json": "{}", "chat.html": "<html></html>", "file-x.dat": b"\0"},
    )
    listed = LocalSessionsResource(claude_homes=[], exports_dir=str(exports)).chatgpt_exports()
    assert list(listed) == [archive]

    first = run_sync(warehouse_resource, exports)
    assert first.success
    assert _counts(warehouse) == (2, 8 + 4)
    key = f"{archive.resolve()}!/conversations.json"
    assert {r[0] for r in warehouse.rows("SELECT source_file FROM raw_local.chatgpt_conversations")} == {key}
    m = metadata(first, "chatgpt_messages")
    assert (m["files_read"], m["bytes_read"], m["rejects"]) == (1, len(export), 0)

    again = metadata(run_sync(warehouse_resource, exports), "chatgpt_messages")
    assert (again["files_skipped"], again["bytes_read"], again["dagster/row_count"]) == (1, 0, 12)

    # The same export also unzipped next to the archive: one row per conversation, nothing doubled.
    write_export(exports / "0a1b2c-2026-12-01-10-00-00" / "conversations.json", [branching(), tools()])
    run_sync(warehouse_resource, exports)
    assert _counts(warehouse) == (2, 12)
    assert _rejects(warehouse, "chatgpt") == []


def test_broken_zip_is_a_reject_that_says_what_to_do(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    whole = _zip(tmp_path / "whole.zip", {"conversations.json": json.dumps([branching()])})
    cut = exports / "cut-short.zip"
    cut.parent.mkdir(parents=True)
    cut.write_bytes(whole.read_bytes()[:40])  # a download that stopped early
    write_export(exports / "ok" / "conversations.json", [tools()])

    result = run_sync(warehouse_resource, exports)
    assert result.success
    assert _counts(warehouse) == (1, 4)
    [(source, location, reason)] = _rejects(warehouse, "chatgpt")
    assert (source, location) == (str(cut.resolve()), "file")
    assert reason.startswith("not a readable ZIP archive (")
    assert "download the export again, or unzip it into the folder" in reason


def test_a_whole_takeout_unzipped_gives_chatgpt_no_rejects(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    takeout = exports / "Takeout"
    (takeout / "YouTube und YouTube Music" / "Verlauf").mkdir(parents=True)
    (takeout / "YouTube und YouTube Music" / "Verlauf" / "Wiedergabeverlauf.json").write_text(
        _activity(YOUTUBE)
    )
    search = [{**item, "header": "Suche", "products": ["Suche"]} for item in YOUTUBE]
    (takeout / "Meine Aktivitäten" / "Suche").mkdir(parents=True)
    (takeout / "Meine Aktivitäten" / "Suche" / "MeineAktivitäten.json").write_text(_activity(search))
    write_export(exports / "chatgpt" / "conversations.json", [tools()])

    resource = LocalSessionsResource(claude_homes=[], exports_dir=str(exports))
    assert [p.name for p in resource.chatgpt_exports()] == ["conversations.json"]
    result = run_sync(warehouse_resource, exports)
    assert result.success
    assert _counts(warehouse) == (1, 4)
    assert _rejects(warehouse, "chatgpt") == []
    # Activity arrays are Gemini's to look at (it leaves each after its first, non-Gemini item).
    assert sorted(p.name for p in resource.gemini_activity()) == [
        "MeineAktivitäten.json",
        "Wiedergabeverlauf.json",
    ]


def test_gemini_finds_localised_takeouts_and_takeout_zips(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    german = {
        **prompt("2026-11-01T10:00:00.000Z", "x"),
        "header": "Gemini-Apps",
        "products": ["Gemini-Apps"],
        "title": "Eingegebener Prompt: Wie cache ich Kacheln?",
    }
    used = {"header": "Gemini-Apps", "title": "Gemini-Apps verwendet", "time": "2026-11-01T09:59:00.000Z"}
    folder = exports / "Takeout" / "Meine Aktivitäten" / "Gemini-Apps"
    folder.mkdir(parents=True)
    (folder / "MeineAktivitäten.json").write_text(_activity([german, used]))
    english = [prompt("2026-11-02T08:00:00.000Z", "cache tiles?"), prompt("2026-11-02T07:55:00Z", "hello")]
    archive = _zip(
        exports / "takeout-20261202T000000Z-001.zip",
        {
            "Takeout/My Activity/Gemini Apps/My Activity.json": _activity(english),
            "Takeout/My Activity/Search/My Activity.json": _activity(YOUTUBE),
            "Takeout/YouTube and YouTube Music/history/watch-history.json": _activity(YOUTUBE),
            "Takeout/archive_browser.html": "<html></html>",
        },
    )
    resource = LocalSessionsResource(claude_homes=[], exports_dir=str(exports))
    assert sorted(p.name for p in resource.gemini_activity()) == ["MeineAktivitäten.json", archive.name]
    assert list(resource.chatgpt_exports()) == []

    # Default settings: the German prompt lands under its whole title (its prefix is unknown) ...
    result = run_gemini(warehouse_resource, exports)
    assert result.success
    got = warehouse.rows("SELECT prompt_text, source_file FROM raw_local.gemini_prompts ORDER BY prompt_time")
    member = f"{archive.resolve()}!/Takeout/My Activity/Gemini Apps/My Activity.json"
    assert got == [
        ("Eingegebener Prompt: Wie cache ich Kacheln?", str((folder / "MeineAktivitäten.json").resolve())),
        ("hello", member),
        ("cache tiles?", member),
    ]
    m = gemini_meta(result, "gemini_prompts")
    # German: 2 items (1 skipped: no answer); zip: 2 Gemini items + the Search file's first item.
    assert (m["files_read"], m["items_read"], m["items_skipped"], m["rejects"]) == (2, 5, 2, 0)

    # ... and the localised prefix, once named, is stripped.
    run_gemini(
        warehouse_resource, exports, full_refresh=True, prompt_prefixes=["Prompted ", "Eingegebener Prompt: "]
    )
    texts = [
        r[0] for r in warehouse.rows("SELECT prompt_text FROM raw_local.gemini_prompts ORDER BY prompt_time")
    ]
    assert texts[0] == "Wie cache ich Kacheln?"


def test_truncated_file_keeps_what_came_before_and_bad_utf8_costs_nothing(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    truncated = tmp_path / "a" / "conversations.json"
    write_export(truncated, [branching(), tools()])
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) - 200])  # cut inside the second conversation
    latin1 = tmp_path / "b" / "conversations.json"
    latin1.parent.mkdir()
    cafe = conversation("conv-cafe", [node("r", None, [], "user")], "r")
    text = json.dumps([tools(), cafe, {**branching(), "conversation_id": "conv-b3", "id": "conv-b3"}])
    latin1.write_bytes(text.replace("title conv-cafe", "caf\xe9 cr\xe8me").encode("latin-1"))

    out = chatgpt_streams.sync_exports(warehouse, [truncated, latin1], run_id="r", full_refresh=False)
    # branching() from a; everything in b: the two bad bytes no longer end the file
    assert out.conversations_written == 1 + 3
    # b is read twice: up to the bad byte (here: its one chunk), then again replacing it
    assert out.bytes_read == len(data) - 200 + 2 * latin1.stat().st_size
    title = warehouse.scalar(
        "SELECT title FROM raw_local.chatgpt_conversations WHERE conversation_id = 'conv-cafe'"
    )
    assert title == "caf\ufffd cr\ufffdme"
    rejects = _rejects(warehouse, "chatgpt")
    assert [r[0] for r in rejects] == [str(truncated.resolve()), str(latin1.resolve())]
    assert rejects[0][1].startswith("conversation 1 (byte ~")
    assert rejects[0][2].startswith("the file ends in the middle of conversation 1: it is truncated")
    assert "the 1 conversation(s) before it landed; replace it with a complete copy" in rejects[0][2]
    assert rejects[1][1] == f"byte ~{latin1.stat().st_size}"  # read in one chunk: placed to within it
    assert rejects[1][2].startswith(
        f"2 byte(s) that are not UTF-8 replaced by U+FFFD (the first at byte ~{latin1.stat().st_size})"
    )
    assert "re-encode it as UTF-8" in rejects[1][2]


def test_gemini_activity_with_a_bad_byte_lands_whole(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    exports = tmp_path / "exports"
    path = exports / "Takeout" / "My Activity" / "Gemini Apps" / "My Activity.json"
    path.parent.mkdir(parents=True)
    items = [prompt("2026-11-02T08:00:00Z", "n\u00e4chste"), prompt("2026-11-02T07:00:00Z", "erste")]
    path.write_bytes(_activity(items).encode("utf-8").replace("ä".encode(), b"\xe4"))
    result = run_gemini(warehouse_resource, exports)
    assert result.success
    texts = [
        r[0] for r in warehouse.rows("SELECT prompt_text FROM raw_local.gemini_prompts ORDER BY prompt_time")
    ]
    assert texts == ["erste", "n\ufffdchste"]
    [(_, location, reason)] = _rejects(warehouse, "gemini")
    assert location.startswith("byte ~") and reason.startswith(
        "2 byte(s) that are not UTF-8 replaced"
    )  # prompt and answer


def test_big_files_print_progress(tmp_path: Path, warehouse: Warehouse) -> None:
    export = write_export(tmp_path / "conversations.json", [branching(), tools()])
    size = export.stat().st_size
    lines: list[str] = []
    chatgpt_streams.sync_exports(
        warehouse,
        [export],
        run_id="r",
        full_refresh=False,
        progress=lines.append,
        progress_bytes=size // 3,
    )
    key = str(export.resolve())
    assert lines[0] == f"reading {key} ({size / 1e6:.1f} MB)"
    assert len(lines) >= 2 and all(line.startswith(f"{key}: ") for line in lines[1:])
    assert "conversation(s) so far" in lines[-1]

    # A file smaller than the step prints nothing (no noise for everyday exports).
    quiet: list[str] = []
    chatgpt_streams.sync_exports(
        warehouse, [export], run_id="r2", full_refresh=True, progress=quiet.append, progress_bytes=size + 1
    )
    assert quiet == []


def test_tool_calls_are_calls_not_results(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    """One browsing call that returns two quotes (as in the LibreChat sample) is one tool call."""
    quote = {"content_type": "tether_quote", "url": "u", "domain": "d", "title": "t", "text": "q"}
    nodes = [
        node("r", None, ["u"], None),
        node("u", "r", ["c"], "user"),
        node(
            "c",
            "u",
            ["q1"],
            "assistant",
            {"content_type": "code", "text": "mclick([0, 1])"},
            recipient="browser",
        ),
        node("q1", "c", ["q2"], "tool", quote, author_name="browser", weight=0.0),
        node("q2", "q1", ["a"], "tool", quote, author_name="browser", weight=0.0),
        node("a", "q2", [], "assistant"),
    ]
    write_export(tmp_path / "e" / "conversations.json", [conversation("conv-web", nodes, "a")])
    assert run_sync(warehouse_resource, tmp_path / "e").success
    feed = CHATGPT_FEEDS[0]
    [row] = warehouse.records(feed.query)
    assert (row["tool_call_count"], row["message_count"], row["prompt_count"]) == (1, 3, 1)


def test_zip_member_python_cannot_decompress_is_a_reject(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    """Archive tools write Deflate64 (method 9) for big archives; zipfile cannot read it."""
    exports = tmp_path / "exports"
    archive = _zip(exports / "big-export.zip", {"conversations.json": json.dumps([tools()])})
    data = bytearray(archive.read_bytes())
    data[data.index(b"PK\x03\x04") + 8] = 9  # compression method, local header
    data[data.index(b"PK\x01\x02") + 10] = 9  # and central directory
    archive.write_bytes(bytes(data))
    write_export(exports / "ok" / "conversations.json", [branching()])

    result = run_sync(warehouse_resource, exports)
    assert result.success
    assert _counts(warehouse) == (1, 8)
    assert _rejects(warehouse, "chatgpt") == [
        (
            str(archive.resolve()),
            "file",
            "conversations.json is compressed with ZIP method 9, which Python cannot read: "
            "unzip it into the folder",
        )
    ]
    # Kept as read: unchanged, it is not tried (nor rejected) again.
    again = metadata(run_sync(warehouse_resource, exports), "chatgpt_messages")
    assert (again["files_skipped"], again["rejects"]) == (2, 0)


def test_a_fixed_file_drops_its_old_rejects(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    """Files are read whole, so a re-read records all their faults anew: one the user fixed stops
    showing (status, the rejects check), the faults of other files stay."""
    exports = tmp_path / "exports"
    fixed = write_export(exports / "a" / "conversations.json", [branching(), tools()])
    fixed.write_bytes(fixed.read_bytes()[:-150])
    other = exports / "b" / "conversations.json"
    other.parent.mkdir(parents=True)
    other.write_text('{"not": "an array"}')
    archive = _zip(exports / "c.zip", {"conversations.json": json.dumps([{"id": "no-mapping"}, tools()])})
    run_sync(warehouse_resource, exports)
    assert [r[0] for r in _rejects(warehouse, "chatgpt")] == [
        str(fixed.resolve()),
        str(other.resolve()),
        f"{archive.resolve()}!/conversations.json",
    ]

    write_export(fixed, [branching(), tools()])  # the complete download
    _zip(archive, {"conversations.json": json.dumps([tools()])})
    result = run_sync(warehouse_resource, exports)
    assert [r[0] for r in _rejects(warehouse, "chatgpt")] == [str(other.resolve())]
    assert _counts(warehouse) == (2, 12)
    assert metadata(result, "chatgpt_messages")["rejects"] == 0  # this run found no new fault

    # Gemini the same way.
    activity = exports / "Takeout" / "My Activity" / "Gemini Apps" / "My Activity.json"
    activity.parent.mkdir(parents=True)
    activity.write_text(
        _activity([prompt("2026-11-02T08:00:00Z", "a"), {"header": "Gemini Apps", "title": "Prompted b"}])
    )
    run_gemini(warehouse_resource, exports)
    assert [r[1] for r in _rejects(warehouse, "gemini")] == ["item 1"]
    activity.write_text(_activity([prompt("2026-11-02T08:00:00Z", "a")]))
    run_gemini(warehouse_resource, exports)
    assert _rejects(warehouse, "gemini") == []


def test_a_conversation_without_times_starts_at_its_first_message(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    nodes = [
        node("r", None, ["u"], None),
        node("u", "r", ["a"], "user", create_time=1_700_000_010.0),
        node("a", "u", [], "assistant", create_time=1_700_000_070.5),
    ]
    conv = conversation("conv-untimed", nodes, "a", create_time=None, update_time=None)
    timed = conversation("conv-timed", nodes, "a")
    write_export(tmp_path / "e" / "conversations.json", [conv, timed])
    assert run_sync(warehouse_resource, tmp_path / "e").success
    rows = {r["conversation_id"]: r for r in warehouse.records(CHATGPT_FEEDS[0].query)}
    untimed = rows["conv-untimed"]
    assert (untimed["create_time"].timestamp(), untimed["update_time"].timestamp()) == (
        1_700_000_010.0,
        1_700_000_070.5,
    )
    # The export's own times win when present.
    assert (rows["conv-timed"]["create_time"].timestamp(), rows["conv-timed"]["update_time"].timestamp()) == (
        1_700_000_000.5,
        1_700_000_100.25,
    )
