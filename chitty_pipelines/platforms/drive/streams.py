"""The Drive sync itself, apart from Dagster: list or apply changes, derive paths, fetch small
contents, then write rows, deletions, rejects and the change token in one transaction.

State is the table itself: every row keeps the file's raw metadata, so an incremental sync
rebuilds the tree from the warehouse, applies the change feed, re-derives every path and trash
flag (a moved or trashed folder changes its descendants without any of them being re-read) and
writes only the rows that differ. A full sync goes through the same diff, so a re-run never
duplicates and files that vanished upstream are deleted.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chitty_pipelines.kernel.platform_asset import TableResult
from chitty_pipelines.platforms.drive.resource import (
    FILE_FIELDS,
    DriveApiError,
    DriveClient,
    DriveResource,
    DriveUnreachable,
)
from chitty_pipelines.warehouse import Reject, TableSpec, Warehouse, cols

PLATFORM = "drive"
FOLDER = "application/vnd.google-apps.folder"
GOOGLE_DOC = "application/vnd.google-apps.document"
FIELDS = FILE_FIELDS + ",explicitlyTrashed"
STREAM = "files"

FILES = TableSpec(
    "raw_drive",
    "files",
    cols(
        ("id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("path", "VARCHAR", "full path below the synced folder, '/'-separated"),
        ("mime_type", "VARCHAR"),
        ("is_folder", "BOOLEAN"),
        ("parent_id", "VARCHAR"),
        ("parents", "VARCHAR[]"),
        ("size_bytes", "BIGINT", "absent for Google-native files"),
        ("md5", "VARCHAR"),
        ("modified_time", "TIMESTAMPTZ"),
        ("created_time", "TIMESTAMPTZ"),
        ("version", "BIGINT"),
        ("owners", "VARCHAR[]", "owner email addresses"),
        ("trashed", "BOOLEAN", "trashed itself or through a trashed ancestor folder"),
        ("drive_id", "VARCHAR", "shared drive id, null in My Drive"),
        ("web_view_link", "VARCHAR"),
        ("raw", "JSON", "the file resource as last received"),
    ),
    primary_key=("id",),
    description="Every file and folder below the chittyos-data folder (or shared drive), with its path.",
)

CONTENTS = TableSpec(
    "raw_drive",
    "file_contents",
    cols(
        ("file_id", "VARCHAR"),
        ("format", "VARCHAR", "json, markdown, text or google_doc (exported as text/plain)"),
        ("mime_type", "VARCHAR"),
        ("content_key", "VARCHAR", "md5 (or modified time for Google Docs) of the version read"),
        ("bytes", "BIGINT"),
        ("text", "VARCHAR"),
        ("json", "JSON", "parsed content of valid JSON files"),
        ("valid_json", "BOOLEAN"),
        ("skipped_reason", "VARCHAR", "why text is null, e.g. larger than DRIVE_CONTENT_MAX_BYTES"),
    ),
    primary_key=("file_id",),
    description="Content of small JSON, Markdown and text files and of Google Docs, keyed by file id.",
)


@dataclass
class SyncOutcome:
    """What one sync did (``results`` turns it into the kernel's one ``TableResult`` per table)."""

    mode: str  # full | incremental
    page_token: str
    changes_seen: int = 0
    files_written: int = 0
    files_deleted: int = 0
    contents_written: int = 0
    contents_deleted: int = 0
    content_bytes: int = 0
    rejects: list[Reject] = field(default_factory=list)
    files_total: int = 0


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _is_folder(raw: dict[str, Any]) -> bool:
    return raw.get("mimeType") == FOLDER


def file_row(raw: dict[str, Any], path: str, trashed: bool) -> dict[str, Any]:
    parents = list(raw.get("parents") or [])
    size = raw.get("size")
    return {
        "id": raw["id"],
        "name": raw.get("name"),
        "path": path,
        "mime_type": raw.get("mimeType"),
        "is_folder": _is_folder(raw),
        "parent_id": parents[0] if parents else None,
        "parents": parents,
        "size_bytes": int(size) if size is not None else None,  # int64 arrives as a string
        "md5": raw.get("md5Checksum"),
        "modified_time": _ts(raw.get("modifiedTime")),
        "created_time": _ts(raw.get("createdTime")),
        "version": int(raw["version"]) if raw.get("version") is not None else None,
        "owners": [o.get("emailAddress") for o in raw.get("owners") or [] if o.get("emailAddress")],
        "trashed": trashed,
        "drive_id": raw.get("driveId"),
        "web_view_link": raw.get("webViewLink"),
        "raw": json.dumps(raw, sort_keys=True),
    }


def derive_tree(items: dict[str, dict[str, Any]], root: str) -> dict[str, tuple[str, bool]]:
    """Path and effective trash flag of every item reachable from ``root`` through parents[0].

    Items whose chain leaves the tree (moved out, or never in it) are absent from the result.
    """
    known: dict[str, tuple[str, bool] | None] = {root: ("", False)}
    for start in items:
        chain: list[str] = []
        fid: str | None = start
        while fid is not None and fid not in known:
            raw = items.get(fid)
            if raw is None or fid in chain:  # parent outside the tree, or a cycle
                break
            chain.append(fid)
            parents = raw.get("parents") or []
            fid = parents[0] if parents else None
        base = known.get(fid) if fid is not None else None
        for cid in reversed(chain):
            if base is None:
                known[cid] = None
                continue
            raw = items[cid]
            own = bool(raw.get("explicitlyTrashed", raw.get("trashed")))
            path = f"{base[0]}/{raw.get('name', '')}" if base[0] else str(raw.get("name", ""))
            base = (path, base[1] or own)
            known[cid] = base
    return {k: v for k, v in known.items() if v is not None and k != root}


def content_format(row: dict[str, Any]) -> str | None:
    if row["is_folder"] or row["trashed"]:
        return None
    mime, name = row["mime_type"] or "", (row["name"] or "").lower()
    if mime == GOOGLE_DOC:
        return "google_doc"
    if mime == "application/json" or name.endswith(".json"):
        return "json"
    if mime in ("text/markdown", "text/x-markdown") or name.endswith((".md", ".markdown")):
        return "markdown"
    if mime == "text/plain" or name.endswith(".txt"):
        return "text"
    return None


def walk(client: DriveClient, resource: DriveResource, roots: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Every descendant of ``roots``, listing several folders per ``files.list`` query."""
    params = dict(
        resource.list_params(), pageSize=resource.page_size, fields=f"nextPageToken,files({FIELDS})"
    )
    items: dict[str, dict[str, Any]] = {}
    roots = list(roots)
    if resource.shared_drive_id and roots == [resource.shared_drive_id]:
        # The whole shared drive: one flat corpus listing beats a folder-by-folder walk.
        for page in client.pages("files", "files.list", **params):
            items.update((f["id"], f) for f in page.get("files", []))
        return items
    queue, seen = deque(roots), set(roots)
    while queue:
        batch = [queue.popleft() for _ in range(min(resource.folders_per_query, len(queue)))]
        q = " or ".join(
            "'{}' in parents".format(fid.replace("\\", "\\\\").replace("'", "\\'")) for fid in batch
        )
        for page in client.pages("files", "files.list", q=q, **params):
            for f in page.get("files", []):
                items[f["id"]] = f
                if _is_folder(f) and f["id"] not in seen:
                    seen.add(f["id"])
                    queue.append(f["id"])
    return items


def read_changes(
    client: DriveClient, resource: DriveResource, token: str
) -> tuple[list[dict[str, Any]], str]:
    """All changes since ``token`` and the token to store for next time."""
    changes: list[dict[str, Any]] = []
    fields = f"nextPageToken,newStartPageToken,changes(changeType,fileId,removed,time,driveId,file({FIELDS}))"
    while True:
        page = client.execute(
            lambda t=token: client.service.changes().list(
                pageToken=t,
                pageSize=resource.page_size,
                includeRemoved=True,
                fields=fields,
                **resource.changes_params(),
            ),
            "changes.list",
        )
        changes.extend(page.get("changes", []))
        if page.get("newStartPageToken"):
            return changes, page["newStartPageToken"]
        token = page["nextPageToken"]


def check_root(client: DriveClient, resource: DriveResource) -> None:
    """A missing or unshared folder would otherwise list as empty and wipe the table."""
    root = resource.root_id
    variable = "DRIVE_FOLDER_ID" if resource.folder_id else "DRIVE_SHARED_DRIVE_ID"
    try:
        meta = client.execute(
            lambda: client.service.files().get(fileId=root, fields="id,mimeType", supportsAllDrives=True),
            "files.get(root)",
        )
    except DriveUnreachable:
        raise  # names DRIVE_BASE_URL: the folder id is not the problem
    except DriveApiError as exc:
        raise DriveApiError(
            f"{exc}; check {variable} ({root}) and that it is shared with the account in "
            f"{client.credential_var}"
        ) from None
    if meta.get("mimeType") != FOLDER:
        raise DriveApiError(f"{variable} ({root}) is not a folder but {meta.get('mimeType')}")


def start_token(client: DriveClient, resource: DriveResource) -> str:
    params: dict[str, Any] = {"supportsAllDrives": True}
    if resource.shared_drive_id:
        params["driveId"] = resource.shared_drive_id
    page = client.execute(
        lambda: client.service.changes().getStartPageToken(**params), "changes.getStartPageToken"
    )
    return str(page["startPageToken"])


def load_state(
    warehouse: Warehouse,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, str]]:
    """(raw items, rows as stored, content keys) from the warehouse."""
    items: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}
    if warehouse.table_exists(FILES.schema, FILES.name):
        found = warehouse.rows(f"SELECT id, path, trashed, raw FROM {FILES.sql_name}")
        for fid, path, trashed, raw_text in found:
            raw = json.loads(raw_text)
            items[fid] = raw
            rows[fid] = file_row(raw, path, bool(trashed))
    if warehouse.table_exists(CONTENTS.schema, CONTENTS.name):
        keys = dict(warehouse.rows(f"SELECT file_id, content_key FROM {CONTENTS.sql_name}"))
    return items, rows, keys


def _content_key(row: dict[str, Any]) -> str:
    return row["md5"] or (row["modified_time"].isoformat() if row["modified_time"] else "")


def fetch_content(
    client: DriveClient, resource: DriveResource, row: dict[str, Any], fmt: str
) -> tuple[dict[str, Any], Reject | None]:
    out: dict[str, Any] = {
        "file_id": row["id"],
        "format": fmt,
        "mime_type": row["mime_type"],
        "content_key": _content_key(row),
        "bytes": None,
        "text": None,
        "json": None,
        "valid_json": None,
        "skipped_reason": None,
    }
    limit = resource.content_max_bytes
    if fmt != "google_doc" and (row["size_bytes"] or 0) > limit:
        out["skipped_reason"] = f"larger than {limit} bytes"
        return out, None
    files = client.service.files()
    if fmt == "google_doc":
        data = client.execute(lambda: files.export(fileId=row["id"], mimeType="text/plain"), "files.export")
    else:
        data = client.execute(
            lambda: files.get_media(fileId=row["id"], supportsAllDrives=True), "files.get(alt=media)"
        )
    data = data if isinstance(data, bytes) else str(data).encode()
    out["bytes"] = len(data)
    if len(data) > limit:
        out["skipped_reason"] = f"larger than {limit} bytes"
        return out, None
    reject = None
    try:
        text = data.decode("utf-8-sig")  # Docs' text export starts with a BOM
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        reject = Reject(
            PLATFORM, "file_contents", row["path"], row["id"], f"not UTF-8: {exc.reason}", text[:300]
        )
    out["text"] = text
    if fmt == "json":
        try:
            out["json"] = json.dumps(json.loads(text))
            out["valid_json"] = True
        except ValueError as exc:
            out["valid_json"] = False
            reject = Reject(
                PLATFORM, "file_contents", row["path"], row["id"], f"invalid JSON: {exc}", text[:300]
            )
    return out, reject


def sync(
    resource: DriveResource, client: DriveClient, warehouse: Warehouse, run_id: str | None, full_refresh: bool
) -> SyncOutcome:
    root = resource.root_id or ""
    cursor_key = f"{resource.shared_drive_id or 'my_drive'}:{root}"
    saved = warehouse.cursors(PLATFORM, STREAM).get(cursor_key)
    incremental = bool(saved) and not full_refresh
    relevant: list[dict[str, Any]] = []
    if incremental:
        changes, token = read_changes(client, resource, saved["page_token"])
        relevant = [c for c in changes if c.get("changeType", "file") == "file" and c.get("fileId") != root]
        if not relevant:  # the common poll: nothing to rebuild, only the token moves
            with warehouse.transaction(run_id) as tx:
                tx.set_cursor(PLATFORM, STREAM, cursor_key, {"page_token": token, "root_id": root})
            return SyncOutcome(
                "incremental", token, changes_seen=len(changes), files_total=warehouse.row_count(FILES)
            )
    old_items, old_rows, stored_keys = load_state(warehouse)
    content_keys = {} if full_refresh else stored_keys  # a full refresh re-reads contents too
    if not incremental:
        check_root(client, resource)
        # The token first: a change made while we list is then replayed next time, never lost.
        outcome = SyncOutcome("full", start_token(client, resource))
        items = walk(client, resource, [root])
    else:
        outcome = SyncOutcome("incremental", token, changes_seen=len(changes))
        items = dict(old_items)
        for change in relevant:
            if change.get("removed") or "file" not in change:
                items.pop(change["fileId"], None)
            else:
                items[change["fileId"]] = change["file"]
        # Folders that entered the tree (created or moved in) bring descendants the feed may
        # not list: read those subtrees, and only those.
        entered = [fid for fid in derive_tree(items, root) if fid not in old_rows and _is_folder(items[fid])]
        if entered:
            items.update(walk(client, resource, entered))
    tree = derive_tree(items, root)
    new_rows: dict[str, dict[str, Any]] = {}
    for fid, (path, trashed) in tree.items():
        try:
            new_rows[fid] = file_row(items[fid], path, trashed)
        except (KeyError, ValueError, TypeError) as exc:
            raw = json.dumps(items[fid])[:300]
            outcome.rejects.append(Reject(PLATFORM, STREAM, path, fid, f"bad file resource: {exc!r}", raw))
    changed = [row for fid, row in new_rows.items() if old_rows.get(fid) != row]
    deleted = [fid for fid in old_rows if fid not in new_rows]

    contents: list[dict[str, Any]] = []
    wanted: set[str] = set()
    for fid, row in new_rows.items():
        fmt = content_format(row) if resource.content_max_bytes > 0 else None
        if fmt is None:
            continue
        wanted.add(fid)
        if content_keys.get(fid) != _content_key(row):
            content, reject = fetch_content(client, resource, row, fmt)
            contents.append(content)
            outcome.content_bytes += content["bytes"] or 0
            if reject:
                outcome.rejects.append(reject)
    stale = [fid for fid in stored_keys if fid not in wanted]

    with warehouse.transaction(run_id) as tx:
        tx.ensure(FILES)
        tx.ensure(CONTENTS)
        tx.delete_where(FILES, "id", deleted)
        outcome.files_written = tx.upsert(FILES, changed)
        tx.delete_where(CONTENTS, "file_id", stale)
        outcome.contents_written = tx.upsert(CONTENTS, contents)
        tx.add_rejects(outcome.rejects)
        tx.set_cursor(PLATFORM, STREAM, cursor_key, {"page_token": outcome.page_token, "root_id": root})
    outcome.files_deleted = len(deleted)
    outcome.contents_deleted = len(stale)
    outcome.files_total = len(new_rows)
    return outcome


def results(outcome: SyncOutcome, resource: DriveResource, api_requests: int) -> list[TableResult]:
    """``files`` and ``file_contents``, each with its own rejects (a content reject is not a file's)."""
    content_rejects = sum(1 for r in outcome.rejects if r.stream == "file_contents")
    files = TableResult(
        FILES,
        rows_written=outcome.files_written,
        rejects=len(outcome.rejects) - content_rejects,
        metadata={
            "mode": outcome.mode,
            "changes_seen": outcome.changes_seen,
            "rows_deleted": outcome.files_deleted,
            "page_token": outcome.page_token,
            "root_id": resource.root_id or "",
            "api_requests": api_requests,
        },
    )
    contents = TableResult(
        CONTENTS,
        rows_written=outcome.contents_written,
        bytes_read=outcome.content_bytes,
        rejects=content_rejects,
        metadata={"rows_deleted": outcome.contents_deleted, "max_bytes": resource.content_max_bytes},
    )
    return [files, contents]
