"""How a platform says which of its tables feed the unified layer (projects, sessions, todos).

A platform lists its ``FEEDS`` in ``platforms/<name>/feeds.py``; ``PlatformSpec.feeds()`` loads
them. unified/ reads every feed the same way, so it holds no per-platform SQL:

* ``source`` is the raw table whose rows feed (``schema.table``); ``key`` and ``changed_at`` are
  SQL expressions over one row of it. ``changed_at`` (or ``fingerprint``) must change whenever
  the row's feed output can change (a synced_at, updated_at or last-message time). Unified keeps
  a probe of every feed in ``ops.sync_cursors`` (high-water mark, row count, hash of keys and
  markers): when it is unchanged, nothing more is read from that feed. Otherwise the per-key
  markers (``markers_sql``) are compared with the stored ones to find the changed and removed
  keys, and only those keys' rows are read.
* ``query`` (optional) is a SELECT over ``source`` and ``requires`` when one row is not enough
  (a session's prompts live in another table). It must return a column named ``source_key``
  holding the same value as ``key``, so unified can ask for just the changed keys.
* ``columns`` maps each target column of the entity (see ``TARGET_COLUMNS``) to a SQL
  expression over a row of ``query`` (or of ``source``), aliased ``src``. Columns left out are
  NULL. Named parameters (``$name``) come from the unified asset's config (``params``).

Only the kernel is imported here: platforms import this module, unified consumes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Entity = Literal["project", "session", "todo"]

# The columns a feed of each entity may map (anything else is an error at declaration time).
TARGET_COLUMNS: dict[str, tuple[str, ...]] = {
    # one project source record (unified/resolution.py SourceRecord)
    "project": (
        "source_id",
        "name",
        "path",
        "git_remote",
        "last_active_at",
        "record_count",
        "full_name",
    ),
    # one session; ``prompts`` (a list of texts) becomes summary_text after the title (or after
    # summary_title, when the feed maps it: NULL leaves the title out of the summary)
    "session": (
        "session_key",
        "platform",
        "ai_tool",
        "source_id",
        "parent_session_key",
        "is_subagent",
        "heartbeat_based",
        "link",
        "project_hint",
        "pwd",
        "machine_id",
        "models",
        "started_at",
        "last_active_at",
        "ended_at",
        "message_count",
        "prompt_count",
        "tool_call_count",
        "input_tokens",
        "output_tokens",
        "cache_creation_tokens",
        "cache_read_tokens",
        "total_tokens",
        "heartbeats",
        "title",
        "summary_title",
        "prompts",
    ),
    # one item of one todo list (Claude TodoWrite shape, contracts section 7), for unified/todos:
    # ``session_key`` is the unified.sessions key of the session that wrote the list and
    # ``parent_session_key`` its parent's (a subagent's todos count for its parent's project);
    # ``project_id`` is used when no session links the item to a project; ``list_id`` and
    # ``position`` say which list and where in it (the merge replays lists in order)
    "todo": (
        "todo_key",
        "project_id",
        "session_id",
        "session_key",
        "parent_session_key",
        "ai_tool",
        "list_id",
        "position",
        "source",
        "content",
        "status",
        "active_form",
        "priority",
        "platform",
        "updated_at",
    ),
}

# Values of the session ``link`` column: how unified links a session to a project.
#   cwd        -- project_hint is a working directory recorded as a project alias of this platform
#   registered -- project_hint may be a registered project key; else pwd is matched to project paths
#   none       -- not linked (subagents follow their parent whatever their link says)
LINKS = ("cwd", "registered", "none")


@dataclass(frozen=True)
class Feed:
    """One table of one platform feeding one unified entity."""

    platform: str  # the PlatformSpec name
    entity: Entity
    source: str  # "schema.table" whose rows feed (the change-detection table)
    key: str  # SQL over a source row: its identity (one output row per key, or per key group)
    changed_at: str | None  # SQL over a source row: changes whenever its output may change
    # (None: the table has no such column; then ``fingerprint`` must)
    columns: Mapping[str, str]  # target column -> SQL over a row of ``query`` (alias src)
    query: str | None = None  # SELECT with a ``source_key`` column; default: the source table
    requires: tuple[str, ...] = ()  # other tables ``query`` reads (all must exist)
    params: tuple[str, ...] = ()  # named parameters the SQL uses, supplied by the unified asset
    where: str = "true"  # SQL over a source row: only these rows feed (probe and change reads too)
    fingerprint: str | None = None  # SQL over a source row that changes with it (default changed_at)
    # project feeds: how their records resolve (unified/resolution.py)
    project_rank: int = 50  # anchor strength, lower first (registered projects are 0)
    code: bool = False  # a repository or checkout: names match exactly, never with a suffix stripped
    project_kind: str = ""  # the records' kind (alias platform); default: the platform
    # unified.projects columns this feed fills: column -> (how, description); how is "records"
    # (the project's records of this kind), "record_count" (their record_count summed) or
    # "full_name" (the first such record's full_name)
    project_columns: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    working_directories: bool = False  # ``path`` is a folder on this machine: git gives its origin,
    # generic folders (~, /tmp) belong to no project, a folder inside a project's folder joins it
    # False when the source is an asset only in some configurations (a Neon stream named in
    # NEON_STREAMS): a declared dependency on it would make Dagster invent a stub asset
    asset_dependency: bool = True
    description: str = ""
    name: str = field(default="")  # unique id; default "<platform>.<table>.<entity>"

    def __post_init__(self) -> None:
        allowed = TARGET_COLUMNS[self.entity]
        unknown = sorted(set(self.columns) - set(allowed))
        if unknown:
            raise ValueError(f"feed {self.source}: unknown {self.entity} column(s) {', '.join(unknown)}")
        if len(self.source.split(".")) != 2:
            raise ValueError(f"feed source must be schema.table, got {self.source!r}")
        if self.entity == "project" and not self.project_kind:
            object.__setattr__(self, "project_kind", self.platform)
        if not self.name:
            object.__setattr__(self, "name", f"{self.platform}.{self.source.split('.')[1]}.{self.entity}")

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table the feed reads: it yields nothing until all exist."""
        return (self.source, *self.requires)

    def select_sql(self, keyed: bool) -> str:
        """The feed's rows as target columns plus ``source_key``; with ``keyed``, only the keys in
        the list parameter ``$feed_keys``."""
        body = self.query or f"SELECT *, {self.key} AS source_key FROM {self.source}"
        cols = [
            f"({self.columns[c]}) AS {c}" if c in self.columns else f"NULL AS {c}"
            for c in TARGET_COLUMNS[self.entity]
        ]
        where = " WHERE CAST(src.source_key AS VARCHAR) IN (SELECT unnest($feed_keys))" if keyed else ""
        key = "CAST(src.source_key AS VARCHAR) AS source_key"
        return f"SELECT {key}, {', '.join(cols)} FROM ({body}) AS src{where}"

    @property
    def _changed(self) -> str:
        # one type for every feed, so a stored mark compares the same whatever the column type
        return f"CAST(({self.changed_at or 'NULL'}) AS TIMESTAMPTZ)"

    def probe_sql(self) -> str:
        """[high-water mark, row count, hash of every (key, change marker)]: equal to the stored
        probe, nothing changed. A columnar scan of two columns; no feed row is built."""
        marker = self.fingerprint or self.changed_at or "NULL"
        return (
            f"SELECT CAST(max({self._changed}) AS VARCHAR), count(*), "
            f"CAST(coalesce(sum(hash({self.key}, {marker})), 0) AS VARCHAR) "
            f"FROM {self.source} WHERE {self.where}"
        )

    def markers_sql(self) -> str:
        """(source_key, marker) of every key: the marker changes whenever the key's rows do. Unified
        compares them with the markers it stored, in SQL, to find the changed and removed keys even
        when a row changed below the high-water mark."""
        marker = self.fingerprint or self.changed_at or "NULL"
        return (
            f"SELECT CAST({self.key} AS VARCHAR) AS source_key, "
            f"CAST(sum(hash({marker})) AS VARCHAR) AS marker FROM {self.source} WHERE {self.where} GROUP BY 1"
        )
