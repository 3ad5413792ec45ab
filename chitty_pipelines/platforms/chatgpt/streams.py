"""Reading ChatGPT export files into the warehouse: per-file cursors, streamed batches, rejects.

Kept apart from the Dagster wiring (local_chatgpt.py) so the rules are testable on their own:

* a file whose (size, mtime, inode) matches its cursor is not opened at all;
* a changed file is read again from the start (a JSON array cannot be resumed) and upserted;
* rows are written in batches of bounded size; the file's cursor goes into the same transaction
  as its last batch, so a crash mid-file re-reads that file next time and upserts stay idempotent;
* the same conversation found in two exports (people export again and again) is one row: the
  copy with the newer ``update_time`` wins, then the one with more nodes (a fuller copy).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import ijson

from chitty_pipelines.kernel.export_files import (
    CHATGPT_EXPORT_NAME,
    BadArchiveError,
    ExportSource,
    Progress,
    clear_file_rejects,
    export_sources,
    is_chatgpt_member,
)
from chitty_pipelines.kernel.file_cursor import FileCursor, whole_files
from chitty_pipelines.kernel.json_array import (
    ArrayRead,
    NotAnArrayError,
    describe_json_error,
    read_array,
    replaced_bytes,
)
from chitty_pipelines.kernel.local_files import SkippedPath, reject_skipped
from chitty_pipelines.platforms.chatgpt.parser import ConversationError, parse_conversation
from chitty_pipelines.warehouse import Reject, TableSpec, Transaction, Warehouse, cols

PLATFORM = "chatgpt"
STREAM = "chatgpt"
PROGRESS_BYTES = 64 * 1024 * 1024  # a progress line per this much JSON read (and a first one) in big files

CONVERSATIONS = TableSpec(
    "raw_local",
    "chatgpt_conversations",
    cols(
        ("conversation_id", "VARCHAR", "conversation_id, else id: the session id"),
        ("title", "VARCHAR"),
        ("create_time", "TIMESTAMPTZ"),
        ("update_time", "TIMESTAMPTZ"),
        ("default_model_slug", "VARCHAR"),
        ("model_slugs", "VARCHAR[]", "distinct message.metadata.model_slug values seen"),
        ("gizmo_id", "VARCHAR", "custom GPT or project"),
        ("is_archived", "BOOLEAN"),
        ("current_node", "VARCHAR", "the active leaf as the export states it"),
        ("active_leaf", "VARCHAR", "the leaf actually walked (differs when current_node is missing)"),
        ("current_node_missing", "BOOLEAN", "true when the deepest leaf was used instead"),
        ("visible_messages", "BIGINT", "messages on the thread the user saw (hidden ones included)"),
        ("total_messages", "BIGINT", "messages in the whole tree, every branch"),
        ("hidden_messages", "BIGINT", "weight 0 or visually hidden (system prompts, tool plumbing)"),
        ("node_count", "BIGINT", "mapping nodes, the message-less root included"),
        ("branch_count", "BIGINT", "leaves of the tree: 1 for a conversation never edited or regenerated"),
        ("source_file", "VARCHAR"),
        ("file_index", "BIGINT", "position of the conversation in its file's array"),
    ),
    primary_key=("conversation_id",),
    description="One row per ChatGPT conversation found in the export files.",
)

MESSAGES = TableSpec(
    "raw_local",
    "chatgpt_messages",
    cols(
        ("conversation_id", "VARCHAR"),
        ("node_id", "VARCHAR", "mapping key of the node"),
        ("message_id", "VARCHAR"),
        ("parent_id", "VARCHAR", "parent node (may point outside the mapping in fragments)"),
        ("position", "BIGINT", "0-based order along the visible thread; null off the thread"),
        ("on_active_thread", "BOOLEAN", "false for alternate branches (edits, regenerations)"),
        ("role", "VARCHAR", "system, user, assistant or tool"),
        ("author_name", "VARCHAR", "tool or plugin name for tool messages"),
        ("content_type", "VARCHAR"),
        ("text", "VARCHAR", "text extracted from the content, whatever its type"),
        ("content_json", "JSON", "raw content for every type but plain text"),
        ("create_time", "TIMESTAMPTZ", "null in some exports: order by position, not time"),
        ("update_time", "TIMESTAMPTZ"),
        ("model_slug", "VARCHAR"),
        ("recipient", "VARCHAR", "all, or the tool addressed"),
        ("channel", "VARCHAR"),
        ("status", "VARCHAR"),
        ("end_turn", "BOOLEAN"),
        ("finish_type", "VARCHAR"),
        ("weight", "DOUBLE"),
        ("hidden", "BOOLEAN", "weight 0 or is_visually_hidden_from_conversation"),
        ("input_tokens", "BIGINT", "always null: exports carry no token counts"),
        ("output_tokens", "BIGINT", "always null: exports carry no token counts"),
    ),
    primary_key=("conversation_id", "node_id"),
    description="Every message node of every ChatGPT conversation, alternate branches flagged.",
)


@dataclass
class FileReport:
    path: str
    action: str  # skip | read | error
    bytes_read: int = 0
    conversations: int = 0
    messages: int = 0
    rejects: int = 0


@dataclass
class SyncOutcome:
    conversations_written: int = 0
    messages_written: int = 0
    conversations_read: int = 0
    conversations_superseded: int = 0  # an other export holds a newer copy
    bytes_read: int = 0
    rejects: int = 0
    files: list[FileReport] = field(default_factory=list)

    @property
    def files_read(self) -> int:
        return sum(1 for f in self.files if f.action != "skip")

    @property
    def files_skipped(self) -> int:
        return sum(1 for f in self.files if f.action == "skip")


def sync_exports(
    warehouse: Warehouse,
    files: list[Path],
    *,
    run_id: str | None,
    full_refresh: bool,
    batch_messages: int = 5000,
    skipped: list[SkippedPath] | None = None,
    progress: Callable[[str], None] | None = None,
    progress_bytes: int = PROGRESS_BYTES,
) -> SyncOutcome:
    outcome = SyncOutcome()
    outcome.rejects += reject_skipped(warehouse, run_id, PLATFORM, STREAM, skipped)
    to_read, unchanged = whole_files(files, None if full_refresh else warehouse.cursors(PLATFORM, STREAM))
    outcome.files += [FileReport(key, "skip") for key in unchanged]
    for f in to_read:
        # A changed file is read again whole: a JSON array cannot be resumed.
        report = _read_file(
            warehouse, f.path, f.key, f.done, run_id, batch_messages, outcome, progress, progress_bytes
        )
        outcome.files.append(report)
        outcome.bytes_read += report.bytes_read
    return outcome


class _Batch:
    """Rows of one file waiting to be written, flushed when ``batch_messages`` is reached."""

    def __init__(self) -> None:
        self.conversations: list[dict[str, Any]] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.rejects: list[Reject] = []
        self.n_messages = 0

    def add(self, conversation: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        self.conversations.append(conversation)
        self.messages[conversation["conversation_id"]] = messages
        self.n_messages += len(messages)


def _read_file(
    warehouse: Warehouse,
    path: Path,
    key: str,
    done: FileCursor,
    run_id: str | None,
    batch_messages: int,
    outcome: SyncOutcome,
    progress: Callable[[str], None] | None = None,
    progress_bytes: int = PROGRESS_BYTES,
) -> FileReport:
    report = FileReport(key, "read")
    state = _FileState(_Batch(), warehouse, run_id, batch_messages, report, outcome, progress, progress_bytes)
    cursor: FileCursor | None = done
    try:
        with export_sources(path, key, is_chatgpt_member) as sources:
            if not sources:
                raise _NotAnExport(f"the ZIP archive holds no {CHATGPT_EXPORT_NAME}")
            for source in sources:
                report.bytes_read += _read_source(source, state)
    except (_NotAnExport, BadArchiveError) as exc:
        report.action = "error"
        state.batch.rejects.append(Reject(PLATFORM, STREAM, key, "file", str(exc)))
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        # Unreadable now (permissions, vanished, a member that fails its CRC): no cursor, so the
        # next sync tries again.
        report.action = "error"
        cursor = None
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        state.batch.rejects.append(Reject(PLATFORM, STREAM, key, "file", f"cannot read: {reason}"))
    # A broken file keeps its cursor too: reading it again unchanged would only find the same fault.
    _flush(warehouse, run_id, state.batch, cursor, key, report, outcome, clear=not state.flushed)
    return report


@dataclass
class _FileState:
    """What reading one file (all its documents) carries along; ``batch`` is replaced on flush."""

    batch: _Batch
    warehouse: Warehouse
    run_id: str | None
    batch_messages: int
    report: FileReport
    outcome: SyncOutcome
    progress: Callable[[str], None] | None
    progress_bytes: int
    flushed: bool = False  # the first write of the file also clears its earlier rejects


_NOT_ARRAY = "top-level JSON value is not an array of conversations"


def _read_source(source: ExportSource, state: _FileState) -> int:
    """One JSON document (a file, or a member of a ZIP) into ``state.batch``; returns bytes read."""
    read = ArrayRead()
    ticker = Progress(state.progress, source, "conversation(s)", state.progress_bytes)
    try:
        for item in read_array(source.open, read):
            index = read.index
            state.outcome.conversations_read += 1
            ticker.update(read.bytes_read, index + 1)
            try:
                parsed = parse_conversation(item, source.key, index)
            except ConversationError as exc:
                state.batch.rejects.append(_reject(source.key, index, item, str(exc)))
                continue
            state.batch.add(parsed.conversation, parsed.messages)
            if state.batch.n_messages >= state.batch_messages:
                _flush(
                    state.warehouse,
                    state.run_id,
                    state.batch,
                    None,
                    state.report.path,
                    state.report,
                    state.outcome,
                    clear=not state.flushed,
                )
                state.batch, state.flushed = _Batch(), True
    except NotAnArrayError:
        state.batch.rejects.append(Reject(PLATFORM, STREAM, source.key, "file", _NOT_ARRAY))
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        state.report.action = "error"
        location, reason, excerpt = describe_json_error(exc, "conversation", read.index, read.bytes_read)
        state.batch.rejects.append(Reject(PLATFORM, STREAM, source.key, location, reason, excerpt))
    if read.replaced:
        state.batch.rejects.append(Reject(PLATFORM, STREAM, source.key, *replaced_bytes(read)))
    return read.bytes_read


class _NotAnExport(ValueError):
    pass


def _reject(key: str, index: int, item: Any, reason: str) -> Reject:
    if isinstance(item, dict):
        excerpt = f"id={item.get('conversation_id') or item.get('id')!s} keys={sorted(item)}"
        location = f"conversation {index} ({item.get('conversation_id') or item.get('id')})"
    else:
        excerpt, location = repr(item), f"conversation {index}"
    return Reject(PLATFORM, STREAM, key, location, reason, excerpt)


def _flush(
    warehouse: Warehouse,
    run_id: str | None,
    batch: _Batch,
    cursor: FileCursor | None,
    key: str,
    report: FileReport,
    outcome: SyncOutcome,
    *,
    clear: bool = False,
) -> None:
    with warehouse.transaction(run_id) as tx:
        if clear:
            clear_file_rejects(tx, PLATFORM, STREAM, key)
        winners = _newest_copies(tx, batch.conversations)
        outcome.conversations_superseded += len(batch.conversations) - len(winners)
        ids = [c["conversation_id"] for c in winners]
        messages = [m for cid in ids for m in batch.messages[cid]]
        # Replace each conversation's messages wholesale: a re-export may have dropped a branch.
        tx.delete_where(MESSAGES, "conversation_id", ids)
        conv_written = tx.upsert(CONVERSATIONS, winners)
        msg_written = tx.upsert(MESSAGES, messages)
        rejected = tx.add_rejects(batch.rejects)
        if cursor is not None:
            tx.set_cursor(PLATFORM, STREAM, key, cursor.to_json())
    report.conversations += conv_written
    report.messages += msg_written
    report.rejects += rejected
    outcome.conversations_written += conv_written
    outcome.messages_written += msg_written
    outcome.rejects += rejected


def _newest_copies(tx: Transaction, incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop incoming conversations that another file already holds in a newer or fuller copy."""
    if not incoming:
        return []
    tx.ensure(CONVERSATIONS)
    rows = tx.con.execute(
        f"SELECT conversation_id, source_file, update_time, node_count FROM {CONVERSATIONS.sql_name} "
        "WHERE conversation_id IN (SELECT unnest(?))",
        [[c["conversation_id"] for c in incoming]],
    ).fetchall()
    existing = {r[0]: r[1:] for r in rows}

    def rank(update_time: datetime | None, node_count: int | None) -> tuple[float, int]:
        return (update_time.timestamp() if update_time else float("-inf"), node_count or 0)

    keep = []
    for conv in incoming:
        found = existing.get(conv["conversation_id"])
        if (
            found is None
            or found[0] == conv["source_file"]
            or rank(conv["update_time"], conv["node_count"]) > rank(found[1], found[2])
        ):
            keep.append(conv)
    return keep
