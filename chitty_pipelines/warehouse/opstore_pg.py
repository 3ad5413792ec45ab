"""The op store and hub store in the PostgreSQL warehouse's ``ops`` schema (``CHITTY_WAREHOUSE_URL``
set), so a worker on another machine needs nothing on local disk: registered projects and
sessions, the write counter, API tokens, todo lists, topic conversations, submitted runs, and
the API pacing. Same API and same values as the SQLite store (timestamps stored as ISO text,
metadata as JSON text): it is the same class (``HubStore``) running the same statements through
warehouse/opstore_db.py, so callers cannot tell them apart. This module holds the PostgreSQL
tables (applied by warehouse/migrations.py) and the pacer.
"""

from __future__ import annotations

from chitty_pipelines.warehouse.hubstore import HubStore

PROJECTS = "ops.registered_projects"
SESSIONS = "ops.registered_sessions"
PACING = "ops.api_pacing"
# Applied by warehouse/migrations.py (version 2); plain PostgreSQL, run as written.
SCHEMA_SQL: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {PROJECTS} (
        project_key   TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        path          TEXT,
        git_remote    TEXT,
        registered_at TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        removed_at    TEXT)""",
    f"""CREATE TABLE IF NOT EXISTS {SESSIONS} (
        session_id        TEXT PRIMARY KEY,
        project_key       TEXT,
        ai_platform       TEXT NOT NULL,
        machine_id        TEXT,
        started_at        TEXT NOT NULL,
        last_heartbeat_at TEXT NOT NULL,
        ended_at          TEXT,
        heartbeats        INTEGER NOT NULL DEFAULT 0,
        metadata          TEXT NOT NULL DEFAULT '{{}}')""",
    # client-side pacing shared by every worker: the next free slot (epoch seconds) per key
    f"CREATE TABLE IF NOT EXISTS {PACING} (pacing_key TEXT PRIMARY KEY, next_slot DOUBLE PRECISION NOT NULL)",
)


# Applied by warehouse/migrations.py (version 6): the hub's tables, as the SQLite HUB_SCHEMA_SQL
# (REAL is DOUBLE PRECISION here: SQLite's REAL is 8 bytes).
HUB_SCHEMA_SQL: tuple[str, ...] = (
    f"CREATE INDEX IF NOT EXISTS registered_sessions_by_heartbeat "
    f"ON {SESSIONS} (last_heartbeat_at, session_id)",
    f"CREATE INDEX IF NOT EXISTS registered_sessions_by_project "
    f"ON {SESSIONS} (project_key, last_heartbeat_at, session_id)",
    "CREATE TABLE IF NOT EXISTS ops.hub_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "INSERT INTO ops.hub_meta VALUES ('writes', 0) ON CONFLICT (key) DO NOTHING",
    """CREATE TABLE IF NOT EXISTS ops.api_tokens (
        name         TEXT PRIMARY KEY,
        token_hash   TEXT NOT NULL UNIQUE,
        scope        TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at   TEXT)""",
    """CREATE TABLE IF NOT EXISTS ops.todo_items (
        project_key TEXT NOT NULL,
        session_id  TEXT NOT NULL,
        list_id     TEXT NOT NULL,
        position    INTEGER NOT NULL,
        content     TEXT NOT NULL,
        status      TEXT NOT NULL,
        active_form TEXT,
        ai_tool     TEXT,
        observed_at TEXT NOT NULL,
        PRIMARY KEY (list_id, position))""",
    "CREATE INDEX IF NOT EXISTS todo_items_project ON ops.todo_items (project_key)",
    """CREATE TABLE IF NOT EXISTS ops.topic_conversations (
        conversation_id TEXT PRIMARY KEY,
        category        TEXT NOT NULL,
        subcategories   TEXT NOT NULL DEFAULT '[]',
        confidence      DOUBLE PRECISION NOT NULL,
        file            TEXT,
        content_preview TEXT,
        categorized_at  TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        categorized_by  TEXT)""",
    "CREATE INDEX IF NOT EXISTS topic_conversations_category ON ops.topic_conversations (category)",
    """CREATE TABLE IF NOT EXISTS ops.api_runs (
        run_id       TEXT PRIMARY KEY,
        job_name     TEXT NOT NULL,
        target       TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        submitted_by TEXT,
        pid          INTEGER)""",
)


class PgOpStore(HubStore):
    """The hub store (and so the op store) on the PostgreSQL warehouse."""

    def __init__(self, url: str):
        super().__init__(url=url)
        self.url = url


class PgPacer:
    """Spaces calls at least ``1/rate`` seconds apart across threads, processes and machines: the
    next free slot lives in ``ops.api_pacing``, taken under ``pg_advisory_xact_lock`` of the key
    (released with the transaction, so a dead worker never holds it)."""

    _MAX_AHEAD_S = 120.0  # a slot further ahead than this is stale (clock jump, crashed writer)

    def __init__(self, rate_per_s: float, url: str, key: str):
        self.interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self.key = key
        from chitty_pipelines.warehouse.store import Warehouse

        self._warehouse = Warehouse("unused", url=url)

    def wait(self) -> float:
        """Sleep until this caller's slot; returns the slot (epoch seconds, the database's clock)."""
        import time

        if not self.interval:
            return time.time()
        with self._warehouse.connect() as con:
            raw = con.raw
            raw.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [self.key])
            row = raw.execute(f"SELECT next_slot FROM {PACING} WHERE pacing_key = %s", [self.key]).fetchone()
            # the database's clock: workers on several machines share one time line
            now = float(raw.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])
            slot = float(row[0]) if row else 0.0
            if slot - now > self._MAX_AHEAD_S:
                slot = 0.0
            start = max(now, slot)
            raw.execute(
                f"INSERT INTO {PACING} VALUES (%s, %s) "
                "ON CONFLICT (pacing_key) DO UPDATE SET next_slot = EXCLUDED.next_slot",
                [self.key, start + self.interval],
            )
        if start > now:
            time.sleep(start - now)
        return start
