"""The hub store: everything the sync API writes (sessions, heartbeats, todo lists, topic
conversations, API tokens, submitted runs), in the operational store's SQLite file (WAL mode),
or, with ``CHITTY_WAREHOUSE_URL``, in the PostgreSQL warehouse's ``ops`` schema (``url=``).

Why not the DuckDB warehouse: DuckDB lets one process at a time open its file for writing and a
syncall is another process that may hold it for minutes. The API's writes must never wait behind
a sync, so they land here: SQLite in WAL mode serves concurrent readers while one short
``BEGIN IMMEDIATE`` transaction writes, and two writers queue on the busy timeout. The unified
assets read this store as a source (sessions and projects through ``OpStore``, todo lists through
``todo_observations``), and a sensor refreshes them after writes (``write_stamp``).

On PostgreSQL the same statements run on the ``ops`` tables (warehouse/opstore_db.py): readers
never wait (MVCC) and writers queue on an advisory lock, so the API never waits behind a sync
there either, and a second machine's API or worker sees the same tokens, sessions and todos.
``open_hub()`` picks the backend as the op store does.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from chitty_pipelines.warehouse.opstore import OpStore, Outcome, _iso

HUB_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS api_tokens (
    name         TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,   -- sha256 hex of the token; the token itself is never stored
    scope        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE TABLE IF NOT EXISTS todo_items (
    project_key TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    list_id     TEXT NOT NULL,           -- one submitted list: api:<session>:<seq>
    position    INTEGER NOT NULL,
    content     TEXT NOT NULL,
    status      TEXT NOT NULL,
    active_form TEXT,
    ai_tool     TEXT,
    observed_at TEXT NOT NULL,
    PRIMARY KEY (list_id, position)
);
CREATE INDEX IF NOT EXISTS todo_items_project ON todo_items (project_key);
CREATE TABLE IF NOT EXISTS topic_conversations (
    conversation_id TEXT PRIMARY KEY,
    category        TEXT NOT NULL,
    subcategories   TEXT NOT NULL DEFAULT '[]',
    confidence      REAL NOT NULL,
    file            TEXT,
    content_preview TEXT,
    categorized_at  TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    categorized_by  TEXT                 -- client, or server:tfidf when the hub derived the category
);
CREATE INDEX IF NOT EXISTS topic_conversations_category ON topic_conversations (category);
CREATE TABLE IF NOT EXISTS api_runs (
    run_id       TEXT PRIMARY KEY,
    job_name     TEXT NOT NULL,
    target       TEXT NOT NULL,          -- the platform, 'local' or 'syncall'
    submitted_at TEXT NOT NULL,
    submitted_by TEXT,                   -- the token's name (never the token)
    pid          INTEGER
);
"""

PREVIEW_CHARS = 200
TOUCH_EVERY_S = 60.0  # the original stored the first 200 characters of a conversation


def now_iso(now: datetime | None = None) -> str:
    return _iso(now)


class HubStore(OpStore):
    """The operational store plus the API's own tables."""

    def __init__(
        self,
        path: Path | str | None = None,
        busy_timeout_s: float = 30.0,
        keep_open: bool = False,
        *,
        url: str | None = None,
    ):
        super().__init__(path, busy_timeout_s, keep_open, url=url)
        self._touched: dict[str, float] = {}

    def schema_sql(self) -> str:
        return super().schema_sql() + HUB_SCHEMA_SQL

    # --- tokens --------------------------------------------------------------------------------
    def add_token(self, name: str, token_hash: str, scope: str) -> Outcome:
        with self._write(counted=False) as con:
            old = con.execute("SELECT * FROM {api_tokens} WHERE name = ?", [name]).fetchone()
            if old is not None and not old["revoked_at"]:
                return Outcome(False, message=f"a token named {name!r} exists; revoke it first")
            con.execute("DELETE FROM {api_tokens} WHERE name = ?", [name])
            con.execute(
                "INSERT INTO {api_tokens} (name, token_hash, scope, created_at) VALUES (?, ?, ?, ?)",
                [name, token_hash, scope, _iso(None)],
            )
        return Outcome(True, True, "created")

    def tokens(self) -> list[dict[str, Any]]:
        """Every token's name, scope and times (hashes included: callers compare, never print)."""
        with self._connect() as con:
            return [dict(r) for r in con.execute("SELECT * FROM {api_tokens} ORDER BY name")]

    def active_token_hashes(self) -> list[tuple[str, str, str]]:
        with self._connect() as con:
            return [
                (r["name"], r["token_hash"], r["scope"])
                for r in con.execute("SELECT * FROM {api_tokens} WHERE revoked_at IS NULL")
            ]

    def revoke_token(self, name: str) -> Outcome:
        with self._write(counted=False) as con:
            row = con.execute("SELECT * FROM {api_tokens} WHERE name = ?", [name]).fetchone()
            if row is None:
                return Outcome(False, message=f"no token named {name!r}")
            if row["revoked_at"]:
                return Outcome(True, False, f"already revoked at {row['revoked_at']}")
            con.execute("UPDATE {api_tokens} SET revoked_at = ? WHERE name = ?", [_iso(None), name])
        return Outcome(True, False, "revoked")

    def touch_due(self, name: str) -> bool:
        """Whether this token's use should be recorded now: at most once a minute per token and
        process (a read-heavy client must not turn every request into a write)."""
        return time.monotonic() - self._touched.get(name, -TOUCH_EVERY_S) >= TOUCH_EVERY_S

    def touch_token(self, name: str) -> None:
        if not self.touch_due(name):
            return
        self._touched[name] = time.monotonic()
        with self._connect() as con:  # not counted as a hub write: nothing unified reads changed
            con.execute("UPDATE {api_tokens} SET last_used_at = ? WHERE name = ?", [_iso(None), name])

    # --- sessions ------------------------------------------------------------------------------
    def sessions_page(
        self,
        limit: int,
        offset: int = 0,
        project_key: str | None = None,
        ai_platform: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = _where(project_key=project_key, ai_platform=ai_platform)
        with self._connect() as con:
            total = con.execute("SELECT count(*) AS n FROM {sessions}" + where, params).fetchone()["n"]
            rows = con.execute(
                # the order of sessions_by_heartbeat, walked backwards: no sort of every session
                "SELECT * FROM {sessions}" + where + " ORDER BY last_heartbeat_at DESC, session_id DESC "
                "LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        return [dict(r) for r in rows], int(total)

    def session_counts(self, active_since: str) -> tuple[int, int]:
        """(all sessions, sessions not ended whose last heartbeat is at or after ``active_since``)."""
        with self._connect() as con:
            total = con.execute("SELECT count(*) AS n FROM {sessions}").fetchone()["n"]
            # a range scan of sessions_by_heartbeat: only the recent heartbeats are read
            active = con.execute(
                "SELECT count(*) AS n FROM {sessions} WHERE last_heartbeat_at >= ? AND ended_at IS NULL",
                [active_since],
            ).fetchone()["n"]
        return int(total), int(active)

    def project(self, project_key: str) -> dict[str, Any] | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM {projects} WHERE project_key = ?", [project_key]).fetchone()
        return dict(row) if row else None

    def ensure_project(self, project_key: str) -> bool:
        """Register a project named by a session or a todo list on first use (named after its key);
        True when it was new. The unified projects asset then knows it, so links resolve."""
        if self.project(project_key) is not None:
            return False
        with self._write() as con:
            ts = _iso(None)
            return (
                con.execute(
                    "INSERT INTO {projects} (project_key, name, registered_at, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (project_key) DO NOTHING",
                    [project_key, project_key, ts, ts],
                ).rowcount
                > 0
            )

    def delete_project(self, project_key: str) -> bool:
        with self._write() as con:
            return con.execute("DELETE FROM {projects} WHERE project_key = ?", [project_key]).rowcount > 0

    # --- todos ---------------------------------------------------------------------------------
    def todo_rows(self, project_key: str | None = None) -> list[dict[str, Any]]:
        where, params = _where(project_key=project_key)
        with self._connect() as con:
            return [dict(r) for r in con.execute("SELECT * FROM {todo_items}" + where, params)]

    def add_todo_list(
        self,
        project_key: str,
        session_id: str,
        items: list[dict[str, Any]],
        ai_tool: str | None,
        merge_view: Any,
        now: datetime | None = None,
    ) -> tuple[Any, Any]:
        """Store one submitted list and return ``merge_view(rows before)`` and ``merge_view(rows
        after)``, both read inside the same write transaction (so a concurrent sync of the same
        project can neither slip in between nor be counted twice)."""
        ts = _iso(now)
        with self._write() as con:
            before = [
                dict(r)
                for r in con.execute("SELECT * FROM {todo_items} WHERE project_key = ?", [project_key])
            ]
            seq = con.execute("SELECT count(DISTINCT list_id) AS n FROM {todo_items}").fetchone()["n"]
            list_id = f"api:{session_id}:{ts}:{seq}"
            con.executemany(
                "INSERT INTO {todo_items} (project_key, session_id, list_id, position, content, status, "
                "active_form, ai_tool, observed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        project_key,
                        session_id,
                        list_id,
                        i,
                        it["content"],
                        it["status"],
                        it.get("active_form"),
                        ai_tool,
                        ts,
                    )
                    for i, it in enumerate(items)
                ],
            )
            after = before + [
                dict(r) for r in con.execute("SELECT * FROM {todo_items} WHERE list_id = ?", [list_id])
            ]
        return merge_view(before), merge_view(after)

    def todo_fingerprint(self) -> str:
        """Changes whenever a todo list is added or cleared (unified/todos.py compares it)."""
        with self._connect() as con:
            row = con.execute(
                "SELECT count(*) AS n, max(observed_at) AS last, count(DISTINCT list_id) AS lists "
                "FROM {todo_items}"
            ).fetchone()
        return f"{row['n']}:{row['last']}:{row['lists']}"

    def clear_todos(self, project_key: str) -> int:
        with self._write() as con:
            return con.execute("DELETE FROM {todo_items} WHERE project_key = ?", [project_key]).rowcount

    # --- topics --------------------------------------------------------------------------------
    def upsert_conversation(self, record: dict[str, Any], now: datetime | None = None) -> Outcome:
        ts = _iso(now)
        with self._write(counted=False) as con:  # no unified table reads conversations
            old = con.execute(
                "SELECT * FROM {topic_conversations} WHERE conversation_id = ?", [record["conversation_id"]]
            ).fetchone()
            row = {**(dict(old) if old else {}), **{k: v for k, v in record.items() if v is not None}}
            row.setdefault("categorized_at", ts)
            row["updated_at"] = ts
            row["subcategories"] = (
                json.dumps(row.get("subcategories") or [])
                if not isinstance(row.get("subcategories"), str)
                else row["subcategories"]
            )
            con.execute(
                "INSERT INTO {topic_conversations} (conversation_id, category, subcategories, confidence, "
                "file, content_preview, categorized_at, updated_at, categorized_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (conversation_id) DO UPDATE SET category = excluded.category, "
                "subcategories = excluded.subcategories, confidence = excluded.confidence, "
                "file = excluded.file, content_preview = excluded.content_preview, "
                "categorized_at = excluded.categorized_at, updated_at = excluded.updated_at, "
                "categorized_by = excluded.categorized_by",
                [
                    row["conversation_id"],
                    row["category"],
                    row["subcategories"],
                    row["confidence"],
                    row.get("file"),
                    row.get("content_preview"),
                    row["categorized_at"],
                    row["updated_at"],
                    row.get("categorized_by"),
                ],
            )
            new = con.execute(
                "SELECT * FROM {topic_conversations} WHERE conversation_id = ?", [record["conversation_id"]]
            ).fetchone()
        return Outcome(True, old is None, "created" if old is None else "updated", dict(new))

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        with self._connect() as con:
            row = con.execute(
                "SELECT * FROM {topic_conversations} WHERE conversation_id = ?", [conversation_id]
            ).fetchone()
        return dict(row) if row else None

    def conversations(self, category: str | None = None) -> list[dict[str, Any]]:
        where, params = _where(category=category)
        with self._connect() as con:
            return [
                dict(r)
                for r in con.execute(
                    "SELECT * FROM {topic_conversations}"
                    + where
                    + " ORDER BY categorized_at DESC, conversation_id",
                    params,
                )
            ]

    def delete_conversation(self, conversation_id: str) -> bool:
        with self._write(counted=False) as con:
            return (
                con.execute(
                    "DELETE FROM {topic_conversations} WHERE conversation_id = ?", [conversation_id]
                ).rowcount
                > 0
            )

    # --- runs ----------------------------------------------------------------------------------
    def add_run(self, run_id: str, job_name: str, target: str, submitted_by: str | None, pid: int) -> None:
        with self._connect() as con:  # bookkeeping of the API, not a hub write the sensor cares about
            con.execute(
                "INSERT INTO {api_runs} (run_id, job_name, target, submitted_at, submitted_by, pid) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, job_name, target, _iso(None), submitted_by, pid],
            )

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM {api_runs} WHERE run_id = ?", [run_id]).fetchone()
        return dict(row) if row else None

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._connect() as con:
            return [
                dict(r)
                for r in con.execute("SELECT * FROM {api_runs} ORDER BY submitted_at DESC LIMIT ?", [limit])
            ]


def _where(**filters: Any) -> tuple[str, list[Any]]:
    """`` WHERE a = ? AND b = ?`` for the filters that are set (column names are this module's)."""
    used = {k: v for k, v in filters.items() if v is not None}
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{k} = ?" for k in used), list(used.values())


@runtime_checkable
class Hub(Protocol):
    """What the sync API and the unified assets need from a hub store. ``HubStore`` implements
    it on SQLite (WAL) and on the PostgreSQL warehouse (``url=``); tests/api/test_api_views.py
    checks the signatures."""

    path: Path | str  # where it lives (GET /health reports it): the file, or host/db (ops schema)

    def write_stamp(self) -> int: ...
    def add_token(self, name: str, token_hash: str, scope: str) -> Outcome: ...
    def tokens(self) -> list[dict[str, Any]]: ...
    def active_token_hashes(self) -> list[tuple[str, str, str]]: ...
    def revoke_token(self, name: str) -> Outcome: ...
    def touch_due(self, name: str) -> bool: ...
    def touch_token(self, name: str) -> None: ...
    def register_project(
        self,
        project_key: str,
        name: str,
        path: str | None = None,
        git_remote: str | None = None,
        now: datetime | None = None,
    ) -> Outcome: ...
    def ensure_project(self, project_key: str) -> bool: ...
    def project(self, project_key: str) -> dict[str, Any] | None: ...
    def projects(self, include_removed: bool = False) -> list[dict[str, Any]]: ...
    def delete_project(self, project_key: str) -> bool: ...
    def register_session(
        self,
        session_id: str,
        ai_platform: str,
        project_key: str | None = None,
        machine_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        now: datetime | None = None,
        chitty_id: str | None = None,
        id_source: str | None = None,
    ) -> Outcome: ...
    def heartbeat(
        self,
        session_id: str,
        metadata: dict[str, Any] | None = None,
        now: datetime | None = None,
        reopen: bool = False,
    ) -> Outcome: ...
    def end_session(self, session_id: str, now: datetime | None = None) -> Outcome: ...
    def session(self, session_id: str) -> dict[str, Any] | None: ...
    def sessions(self) -> list[dict[str, Any]]: ...
    def sessions_page(
        self, limit: int, offset: int = 0, project_key: str | None = None, ai_platform: str | None = None
    ) -> tuple[list[dict[str, Any]], int]: ...
    def session_counts(self, active_since: str) -> tuple[int, int]: ...
    def todo_rows(self, project_key: str | None = None) -> list[dict[str, Any]]: ...
    def todo_fingerprint(self) -> str: ...
    def add_todo_list(
        self,
        project_key: str,
        session_id: str,
        items: list[dict[str, Any]],
        ai_tool: str | None,
        merge_view: Any,
        now: datetime | None = None,
    ) -> tuple[Any, Any]: ...
    def clear_todos(self, project_key: str) -> int: ...
    def upsert_conversation(self, record: dict[str, Any], now: datetime | None = None) -> Outcome: ...
    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...
    def conversations(self, category: str | None = None) -> list[dict[str, Any]]: ...
    def delete_conversation(self, conversation_id: str) -> bool: ...
    def add_run(
        self, run_id: str, job_name: str, target: str, submitted_by: str | None, pid: int
    ) -> None: ...
    def run(self, run_id: str) -> dict[str, Any] | None: ...
    def runs(self, limit: int = 50) -> list[dict[str, Any]]: ...


__all__ = ["Hub", "HubStore", "Outcome", "now_iso"]
