"""A fake Google Drive v3 on 127.0.0.1 for google-api-python-client.

Point the client at it with ``client_options={"api_endpoint": f"{fake.base_url}/drive/v3/"}``;
service-account and refresh-token credentials get their access token from ``{base_url}/token``
(the JWT assertion's RS256 signature is verified against the registered public key).

Speaks: files.list (``q``, ``fields``, ``pageSize`` <= 1000, ``pageToken``/``nextPageToken``,
``corpora``/``driveId``), files.get (metadata or ``alt=media``), files.export, about.get,
changes.getStartPageToken and changes.list (``nextPageToken``/``newStartPageToken``), with
Google's error envelope. Seeded programmatically; every mutation (add, update, rename, move,
trash, delete) appends to the change log exactly as Drive's changes feed would show it.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from chitty_pipelines.kernel.fake_server import FakeService, Faults, Request, Response
from chitty_pipelines.platforms.drive.fake_query import QueryError, parse_fields, parse_query, project
from chitty_pipelines.platforms.drive.fake_token import TokenEndpoint

FOLDER = "application/vnd.google-apps.folder"
GOOGLE_DOC = "application/vnd.google-apps.document"
MY_DRIVE_ROOT = "0AMyDriveRootFake"
_PARENT_ONLY = re.compile(
    r"^\s*\(?\s*'[^'\\]+'\s+in\s+parents(\s+or\s+'[^'\\]+'\s+in\s+parents)*\s*\)?"
    r"(\s+and\s+trashed\s*=\s*(true|false))?\s*$"
)
_DEFAULT_FILE_FIELDS = {"kind": None, "id": None, "name": None, "mimeType": None}
EXPORT_LIMIT = 10 * 1024 * 1024


@dataclass
class FakeFile:
    id: str
    name: str
    mime_type: str
    parent: str | None
    seq: int
    created: datetime
    modified: datetime
    content: bytes | None = None
    version: int = 1
    explicitly_trashed: bool = False
    drive_id: str | None = None
    owners: list[dict[str, Any]] = field(default_factory=list)


def _rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _error(status: int, reason: str, message: str, domain: str = "global") -> Response:
    statuses = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
    statuses |= {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE"}
    return Response(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
                "status": statuses.get(status, "UNKNOWN"),
            }
        },
    )


class FakeDrive(TokenEndpoint, FakeService):
    def __init__(self, faults: Faults | None = None, *, require_auth: bool = True, owner_email: str = ""):
        super().__init__(faults)
        self.require_auth = require_auth
        self.owner = {
            "kind": "drive#user",
            "displayName": "ChittyOS Data",
            "emailAddress": owner_email or "data@chitty.example",
            "permissionId": "0123456789",
            "me": True,
        }
        self.files: dict[str, FakeFile] = {}
        self.children: dict[str, list[str]] = {}
        self.change_log: list[tuple[str, datetime, str | None]] = []  # (file id, time, drive id)
        self._ids = itertools.count(1)
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)
        self._state = threading.RLock()
        self._init_tokens()
        self.method_overrides = 0  # long GETs sent as POST + X-HTTP-Method-Override
        self.route("POST", "/token", self._token)
        self.route("GET", "/drive/v3/files", self._files_list)
        self.route("GET", "/drive/v3/files/{file_id}", self._files_get)
        self.route("GET", "/drive/v3/files/{file_id}/export", self._files_export)
        self.route("GET", "/drive/v3/changes/startPageToken", self._start_token)
        self.route("GET", "/drive/v3/changes", self._changes_list)
        self.route("GET", "/drive/v3/about", self._about)

    def _route(self, req: Request) -> Response:
        # google-api-python-client turns a GET whose URL passes 2,048 characters into a POST
        # with ``X-HTTP-Method-Override: GET`` and the query as a form body; Google accepts it.
        override = req.headers.get("x-http-method-override")
        if req.method == "POST" and override:
            req.method = override.upper()
            for key, values in parse_qs(req.body.decode(), keep_blank_values=True).items():
                req.query.setdefault(key, []).extend(values)
            self.method_overrides += 1
        return super()._route(req)

    # --- seeding and mutations (each one is a change in the feed) --------------------------
    def _tick(self) -> datetime:
        self._clock += timedelta(seconds=1)
        return self._clock

    def _log(self, f: FakeFile) -> None:
        self.change_log.append((f.id, self._clock, f.drive_id))

    def add_shared_drive(self, drive_id: str, name: str) -> str:
        """A shared drive's root folder has the drive's id (as in Drive)."""
        with self._state:
            t = self._tick()
            self.files[drive_id] = FakeFile(
                drive_id, name, FOLDER, None, next(self._ids), t, t, drive_id=drive_id
            )
            return drive_id

    def add(
        self,
        name: str,
        parent: str = MY_DRIVE_ROOT,
        *,
        content: bytes | str | None = None,
        mime_type: str = "text/plain",
        file_id: str | None = None,
    ) -> str:
        with self._state:
            seq = next(self._ids)
            fid = file_id or f"1fake{seq:06d}{hashlib.sha1(name.encode()).hexdigest()[:12]}"
            t = self._tick()
            drive_id = self.files[parent].drive_id if parent in self.files else None
            data = content.encode() if isinstance(content, str) else content
            f = FakeFile(
                fid,
                name,
                mime_type,
                parent,
                seq,
                t,
                t,
                content=data if mime_type != FOLDER else None,
                drive_id=drive_id,
                owners=[] if drive_id else [dict(self.owner)],
            )
            self.files[fid] = f
            self.children.setdefault(parent, []).append(fid)
            self._log(f)
            return fid

    def add_folder(self, name: str, parent: str = MY_DRIVE_ROOT, *, file_id: str | None = None) -> str:
        return self.add(name, parent, mime_type=FOLDER, file_id=file_id)

    def add_doc(self, name: str, parent: str, text: str, *, file_id: str | None = None) -> str:
        return self.add(name, parent, content=text, mime_type=GOOGLE_DOC, file_id=file_id)

    def update(self, file_id: str, content: bytes | str) -> None:
        with self._state:
            f = self.files[file_id]
            f.content = content.encode() if isinstance(content, str) else content
            f.modified = self._tick()
            f.version += 1
            self._log(f)

    def rename(self, file_id: str, name: str) -> None:
        with self._state:
            f = self.files[file_id]
            f.name = name
            self._tick()
            f.version += 1
            self._log(f)

    def move(self, file_id: str, new_parent: str) -> None:
        with self._state:
            f = self.files[file_id]
            self.children[f.parent or ""].remove(file_id)
            self.children.setdefault(new_parent, []).append(file_id)
            f.parent = new_parent
            self._tick()
            f.version += 1
            self._log(f)

    def trash(self, file_id: str, trashed: bool = True) -> None:
        """Trashing a folder trashes its descendants implicitly: they report ``trashed`` but
        only the folder appears in the change feed."""
        with self._state:
            f = self.files[file_id]
            f.explicitly_trashed = trashed
            self._tick()
            f.version += 1
            self._log(f)

    def delete(self, file_id: str) -> None:
        """Permanent deletion (descendants go too); the feed reports the item as removed."""
        with self._state:
            f = self.files[file_id]
            self._tick()
            stack = [file_id]
            while stack:
                fid = stack.pop()
                stack.extend(self.children.pop(fid, []))
                self.files.pop(fid, None)
            self.children[f.parent or ""].remove(file_id)
            self.change_log.append((file_id, self._clock, f.drive_id))

    def fault_response(self, status: int, headers: dict[str, str]) -> Response:
        if status == 403:
            resp = _error(403, "userRateLimitExceeded", "User rate limit exceeded.", "usageLimits")
        elif status == 429:
            resp = _error(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")
        else:
            resp = _error(status, "backendError", "Backend Error")
        resp.headers.update(headers)
        return resp

    # --- resources ----------------------------------------------------------------------
    def _trashed(self, f: FakeFile) -> bool:
        while f is not None:
            if f.explicitly_trashed:
                return True
            f = self.files.get(f.parent) if f.parent else None  # type: ignore[assignment]
        return False

    def resource(self, f: FakeFile) -> dict[str, Any]:
        r: dict[str, Any] = {
            "kind": "drive#file",
            "id": f.id,
            "name": f.name,
            "mimeType": f.mime_type,
            "createdTime": _rfc3339(f.created),
            "modifiedTime": _rfc3339(f.modified),
            "trashed": self._trashed(f),
            "explicitlyTrashed": f.explicitly_trashed,
            "version": str(f.version),
            "webViewLink": f"https://drive.google.com/file/d/{f.id}/view",
        }
        if f.parent:
            r["parents"] = [f.parent]
        if f.owners:
            r["owners"] = f.owners
        if f.drive_id:
            r["driveId"] = f.drive_id
        if f.content is not None and not f.mime_type.startswith("application/vnd.google-apps."):
            r["size"] = str(len(f.content))  # int64 as a string, as in Drive
            r["md5Checksum"] = hashlib.md5(f.content).hexdigest()
        return r

    def _visible(self, f: FakeFile, req: Request) -> bool:
        return f.drive_id is None or req.arg("supportsAllDrives") == "true"

    def _fields(self, req: Request) -> dict[str, Any] | None:
        fields = req.arg("fields")
        return parse_fields(fields) if fields else None

    def _files_list(self, req: Request) -> Response:
        if not self._authorized(req):
            return self._unauthorized()
        try:
            page_size = int(req.arg("pageSize", "100") or 100)
            if not 1 <= page_size <= 1000:
                return _error(400, "invalid", "Invalid Value: pageSize must be 1-1000")
            offset = int(req.arg("pageToken", "0") or 0)
            q = req.arg("q")
            pred = parse_query(q)
            spec = self._fields(req)
        except (QueryError, ValueError) as exc:
            return _error(400, "invalid", str(exc))
        corpora = req.arg("corpora", "user")
        drive_id = req.arg("driveId")
        all_drives = req.arg("includeItemsFromAllDrives") == "true" and req.arg("supportsAllDrives") == "true"
        if drive_id and (corpora != "drive" or not all_drives):
            return _error(400, "invalid", "driveId requires corpora=drive and includeItemsFromAllDrives=true")
        with self._state:
            fast = bool(q and _PARENT_ONLY.match(q))
            if fast:
                ids = {
                    i
                    for pid in re.findall(r"'([^'\\]+)'\s+in\s+parents", q or "")
                    for i in self.children.get(pid, [])
                }
                candidates = sorted((self.files[i] for i in ids), key=lambda f: f.seq)
            else:
                candidates = sorted(self.files.values(), key=lambda f: f.seq)
            # Parent terms alone are settled by the children index: resources are built only
            # for the page returned, which keeps a 20,000-file fake fast.
            needs_pred = not fast or "trashed" in (q or "")
            hits: list[FakeFile] = []
            for f in candidates:
                if f.id == f.drive_id:  # a shared drive's root is not a listed file
                    continue
                if drive_id and f.drive_id != drive_id:
                    continue
                if not drive_id and f.drive_id and not all_drives:
                    continue
                if not needs_pred or pred(self.resource(f)):
                    hits.append(f)
            page = [self.resource(f) for f in hits[offset : offset + page_size]]
        body: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False, "files": page}
        if offset + page_size < len(hits):
            body["nextPageToken"] = str(offset + page_size)
        if spec is None:
            body["files"] = [project(r, _DEFAULT_FILE_FIELDS) for r in page]
            return Response(200, body)
        return Response(200, project(body, spec))

    def _lookup(self, req: Request) -> FakeFile | Response:
        if not self._authorized(req):
            return self._unauthorized()
        fid = req.params["file_id"]
        f = self.files.get(MY_DRIVE_ROOT if fid == "root" else fid)
        if f is None and fid in ("root", MY_DRIVE_ROOT):
            t = self._clock
            f = FakeFile(MY_DRIVE_ROOT, "My Drive", FOLDER, None, 0, t, t, owners=[dict(self.owner)])
        if f is None or not self._visible(f, req):
            return _error(404, "notFound", f"File not found: {fid}.")
        return f

    def _files_get(self, req: Request) -> Response:
        with self._state:
            f = self._lookup(req)
            if isinstance(f, Response):
                return f
            if req.arg("alt") == "media":
                if f.content is None or f.mime_type.startswith("application/vnd.google-apps."):
                    return _error(
                        403, "fileNotDownloadable", "Only files with binary content can be downloaded."
                    )
                return Response(200, f.content, {"Content-Type": f.mime_type})
            try:
                spec = self._fields(req)
            except QueryError as exc:
                return _error(400, "invalid", str(exc))
            return Response(200, project(self.resource(f), spec or _DEFAULT_FILE_FIELDS))

    def _files_export(self, req: Request) -> Response:
        with self._state:
            f = self._lookup(req)
            if isinstance(f, Response):
                return f
            if f.mime_type != GOOGLE_DOC or f.content is None:
                return _error(403, "fileNotExportable", "Export only supports Docs Editors files.")
            if req.arg("mimeType") not in ("text/plain", "text/markdown"):
                return _error(400, "badRequest", "The requested conversion is not supported.")
            data = b"\xef\xbb\xbf" + f.content  # Drive's text/plain export starts with a BOM
            if len(data) > EXPORT_LIMIT:
                return _error(403, "exportSizeLimitExceeded", "This file is too large to be exported.")
            return Response(200, data, {"Content-Type": "text/plain"})

    def _about(self, req: Request) -> Response:
        if not self._authorized(req):
            return self._unauthorized()
        if not req.arg("fields"):
            return _error(400, "required", "The 'fields' parameter is required for this method.")
        body = {"kind": "drive#about", "user": self.owner}
        return Response(200, project(body, self._fields(req)))

    # --- changes --------------------------------------------------------------------------
    def _in_scope(self, drive: str | None, req: Request) -> bool:
        drive_id = req.arg("driveId")
        if drive_id:
            return drive == drive_id
        all_drives = req.arg("includeItemsFromAllDrives") == "true" and req.arg("supportsAllDrives") == "true"
        return drive is None or all_drives

    def _start_token(self, req: Request) -> Response:
        if not self._authorized(req):
            return self._unauthorized()
        if req.arg("driveId") and req.arg("supportsAllDrives") != "true":
            return _error(400, "invalid", "driveId requires supportsAllDrives=true")
        with self._state:
            return Response(
                200, {"kind": "drive#startPageToken", "startPageToken": str(len(self.change_log) + 1)}
            )

    def _changes_list(self, req: Request) -> Response:
        if not self._authorized(req):
            return self._unauthorized()
        try:
            start = int(req.arg("pageToken") or "")
            page_size = int(req.arg("pageSize", "100") or 100)
            spec = self._fields(req)
        except (ValueError, QueryError):
            return _error(400, "invalid", "Invalid Value: pageToken")
        if start < 1 or not 1 <= page_size <= 1000:
            return _error(400, "invalid", "Invalid Value")
        include_removed = req.arg("includeRemoved", "true") != "false"
        changes: list[dict[str, Any]] = []
        with self._state:
            i = start - 1
            while i < len(self.change_log) and len(changes) < page_size:
                fid, t, drive = self.change_log[i]
                i += 1
                if not self._in_scope(drive, req):
                    continue
                f = self.files.get(fid)
                change: dict[str, Any] = {
                    "kind": "drive#change",
                    "changeType": "file",
                    "time": _rfc3339(t),
                    "fileId": fid,
                    "removed": f is None,
                }
                if drive:
                    change["driveId"] = drive
                if f is not None:
                    change["file"] = self.resource(f)
                elif not include_removed:
                    continue
                changes.append(change)
            body: dict[str, Any] = {"kind": "drive#changeList", "changes": changes}
            if i < len(self.change_log):
                body["nextPageToken"] = str(i + 1)
            else:
                body["newStartPageToken"] = str(len(self.change_log) + 1)
        return Response(200, project(body, spec) if spec else body)

    def _unauthorized(self) -> Response:
        return _error(401, "authError", "Request had invalid authentication credentials.")
