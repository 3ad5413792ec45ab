"""The ChittyOS data repository (``chittychat-data``) read through the contents API.

Layout written by the original sync service (chittyos-contracts §1.3, §7):
``consolidated/<project>/state.json``, ``todos/<project>/todos.json`` (``{projectName, todos,
updatedAt}``) and ``projects/*.json``.

Change detection costs three conditional requests: each top folder's listing carries an ETag,
and its entries carry git shas (a folder's sha changes when anything under it does), so only
changed projects' files are downloaded. Bad JSON goes to ops.rejects; the file's sha is still
remembered, so the same bad bytes are not re-read and re-rejected every run.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from chitty_pipelines.platforms.github.resource import GitHubClient
from chitty_pipelines.platforms.github.streams import Batch, _reject, _status
from chitty_pipelines.platforms.github.tables import SCHEMA, raw, ts
from chitty_pipelines.warehouse import TableSpec, cols

STREAM = "chittychat_data"
FOLDERS = {"consolidated": "state.json", "todos": "todos.json", "projects": None}

PROJECT_STATES = TableSpec(
    SCHEMA,
    "project_states",
    cols(
        ("project", "VARCHAR", "folder name under consolidated/"),
        ("project_name", "VARCHAR"),
        ("project_path", "VARCHAR"),
        ("data_type", "VARCHAR"),
        ("total_sessions", "BIGINT"),
        ("last_activity", "TIMESTAMPTZ"),
        ("consolidated_at", "TIMESTAMPTZ"),
        ("synced_at", "TIMESTAMPTZ"),
        ("path", "VARCHAR"),
        ("sha", "VARCHAR", "git blob sha of the file read"),
        ("state", "JSON"),
    ),
    primary_key=("project",),
    description="consolidated/<project>/state.json of the ChittyOS data repository.",
)

PROJECT_TODOS = TableSpec(
    SCHEMA,
    "project_todos",
    cols(
        ("project", "VARCHAR"),
        ("position", "BIGINT", "index in the todos array"),
        ("content", "VARCHAR"),
        ("status", "VARCHAR", "pending | in_progress | completed"),
        ("active_form", "VARCHAR"),
        ("project_name", "VARCHAR"),
        ("file_updated_at", "TIMESTAMPTZ", "the file's updatedAt"),
        ("path", "VARCHAR"),
        ("sha", "VARCHAR"),
        ("raw", "JSON"),
    ),
    primary_key=("project", "position"),
    description="todos/<project>/todos.json, one row per todo.",
)

PROJECTS = TableSpec(
    SCHEMA,
    "projects",
    cols(
        ("project_id", "VARCHAR", "file name without .json"),
        ("name", "VARCHAR"),
        ("path", "VARCHAR"),
        ("sha", "VARCHAR"),
        ("raw", "JSON"),
    ),
    primary_key=("project_id",),
    description="projects/*.json of the ChittyOS data repository.",
)

DATA_TABLES = (PROJECT_STATES, PROJECT_TODOS, PROJECTS)
TABLE_OF = {"consolidated": PROJECT_STATES, "todos": PROJECT_TODOS, "projects": PROJECTS}
KEY_OF = {"consolidated": "project", "todos": "project", "projects": "project_id"}


def sync_data_repo(
    client: GitHubClient, repo: str, stored: dict[str, Any], full_refresh: bool = False
) -> Batch:
    from github import GithubException  # PyGithub is imported by the steps that call GitHub

    batch = Batch(STREAM, replace_cursors=True)
    for t in DATA_TABLES:
        batch.rows.setdefault(t, [])
    for folder, filename in FOLDERS.items():
        key = f"/repos/{repo}/contents/{folder}"
        prev = None if full_refresh else stored.get(key)
        try:
            reply = client.get(key, etag=prev["etag"] if prev else None)
        except GithubException as exc:
            if _status(exc) != 404:  # a missing folder (or repository) just has no rows
                raise
            batch.extra.setdefault("missing", []).append(f"{repo}/{folder}")
            continue
        if reply.not_modified:
            batch.cursors[key] = prev
            continue
        old = (prev or {}).get("entries", {})
        entries = {
            e["name"]: e["sha"] for e in reply.data or [] if isinstance(e, dict) and _wanted(e, filename)
        }
        batch.cursors[key] = {"etag": reply.etag, "entries": entries}
        gone = sorted(set(old) - set(entries))
        if gone:
            batch.deletes.append((TABLE_OF[folder], KEY_OF[folder], [_name(folder, n) for n in gone]))
        for name, sha in sorted(entries.items()):
            if old.get(name) == sha:
                continue
            path = f"{folder}/{name}/{filename}" if filename else f"{folder}/{name}"
            got = _download(client, repo, path)
            if got is not None:
                _parse(batch, repo, folder, _name(folder, name), path, *got)
    return batch


def _wanted(entry: dict[str, Any], filename: str | None) -> bool:
    if filename:  # consolidated/ and todos/ hold one folder per project
        return entry.get("type") == "dir"
    return entry.get("type") == "file" and str(entry.get("name", "")).endswith(".json")


def _name(folder: str, entry: str) -> str:
    return entry[: -len(".json")] if folder == "projects" else entry


def _download(client: GitHubClient, repo: str, path: str) -> tuple[str, str] | None:
    """The file's text and git blob sha, or None when it does not exist."""
    from github import GithubException

    try:
        data = client.get(f"/repos/{repo}/contents/{path}").data
    except GithubException as exc:
        if _status(exc) == 404:  # a project folder without the expected file
            return None
        raise
    if data.get("encoding") != "base64" or not data.get("content"):
        # Files over 1 MB come without content; the blobs API serves them (up to 100 MB).
        data = client.get(f"/repos/{repo}/git/blobs/{data['sha']}").data
    text = base64.b64decode(data.get("content") or "").decode("utf-8", errors="replace")
    return text, data["sha"]


def _parse(batch: Batch, repo: str, folder: str, name: str, path: str, text: str, sha: str) -> None:
    source = f"{repo}/{path}"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        batch.rejects.append(_reject(STREAM, source, f"line {exc.lineno}", f"invalid JSON: {exc.msg}", text))
        return
    if not isinstance(doc, dict):
        batch.rejects.append(_reject(STREAM, source, "document", "expected a JSON object", text))
        return
    if folder == "consolidated":
        batch.add(
            PROJECT_STATES,
            [
                {
                    "project": name,
                    "project_name": doc.get("projectName"),
                    "project_path": doc.get("projectPath"),
                    "data_type": doc.get("dataType"),
                    "total_sessions": doc.get("totalSessions")
                    if isinstance(doc.get("totalSessions"), int)
                    else None,
                    "last_activity": ts(doc.get("lastActivity")),
                    "consolidated_at": ts(doc.get("consolidatedAt")),
                    "synced_at": ts(doc.get("syncedAt")),
                    "path": path,
                    "sha": sha,
                    "state": raw(doc),
                }
            ],
        )
    elif folder == "todos":
        todos = doc.get("todos")
        if not isinstance(todos, list):
            batch.rejects.append(_reject(STREAM, source, "todos", "todos is not a list", text))
            return
        batch.deletes.append((PROJECT_TODOS, "project", [name]))  # the file is the whole list
        rows = []
        for n, todo in enumerate(todos):
            if not isinstance(todo, dict) or not isinstance(todo.get("content"), str):
                batch.rejects.append(
                    _reject(STREAM, source, f"todos[{n}]", "todo without text content", todo)
                )
                continue
            rows.append(
                {
                    "project": name,
                    "position": n,
                    "content": todo["content"],
                    "status": todo.get("status"),
                    "active_form": todo.get("activeForm"),
                    "project_name": doc.get("projectName"),
                    "file_updated_at": ts(doc.get("updatedAt")),
                    "path": path,
                    "sha": sha,
                    "raw": raw(todo),
                }
            )
        batch.add(PROJECT_TODOS, rows)
    else:
        batch.add(
            PROJECTS,
            [
                {
                    "project_id": name,
                    "name": doc.get("name") or doc.get("projectName"),
                    "path": path,
                    "sha": sha,
                    "raw": raw(doc),
                }
            ],
        )
