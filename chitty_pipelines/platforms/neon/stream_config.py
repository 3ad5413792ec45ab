"""Which Neon tables are synced: the default ChittyOS streams plus ``NEON_STREAMS``.

Streams must be known when the definitions load (each is an asset), so they come from the
environment, not from the resource. ``NEON_STREAMS`` is a JSON list; each item is either
``"schema.table"`` or an object::

    {"table": "billing.invoices",       # schema-qualified; "invoices" means public.invoices
     "name": "invoices",                 # warehouse table raw_neon.<name> and asset raw_neon/<name>
     "cursor": "updated_at",             # incremental column; omit to use the first of
                                         # updated_at/modified_at/created_at/timestamp found
     "primary_key": ["id"],              # omit to use the table's PRIMARY KEY constraint
     "lookback_seconds": 900,            # re-read window below the high-water mark
     "partition": "daily"}               # also a raw_neon/<name>_by_day asset, daily partitions
                                         # by the cursor, to re-sync date ranges (backfill)

A stream with the name of a default stream replaces it. Every identifier is validated here,
before anything reaches SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from chitty_pipelines import config
from chitty_pipelines.warehouse import validate_identifier

CURSOR_CANDIDATES: tuple[str, ...] = ("updated_at", "modified_at", "created_at", "timestamp")


@dataclass(frozen=True)
class StreamSpec:
    name: str
    schema: str
    table: str
    cursor: str | None = None  # None: the first CURSOR_CANDIDATES column the table has
    primary_key: tuple[str, ...] | None = None  # None: the table's PRIMARY KEY constraint
    fallback_primary_key: tuple[str, ...] = ()  # used when the table has no PRIMARY KEY
    lookback_seconds: float | None = None  # None: the resource's default
    partitioned: bool = False
    optional: bool = False  # a default stream: absent table = zero rows, not an error
    description: str = ""

    def __post_init__(self) -> None:
        validate_identifier(self.name, "stream name")
        validate_identifier(self.schema, "schema")
        validate_identifier(self.table, "table")
        if self.cursor is not None:
            validate_identifier(self.cursor, "cursor column")
        for col in (*(self.primary_key or ()), *self.fallback_primary_key):
            validate_identifier(col, "primary key column")
        if self.partitioned and not self.cursor:
            raise ValueError(f"stream {self.name}: a daily-partitioned stream needs an explicit cursor")

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


DEFAULT_STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(
        name="event_store",
        schema="public",
        table="event_store",
        cursor="timestamp",
        fallback_primary_key=("chitty_id",),
        partitioned=True,
        optional=True,
        description="ChittyOS event store (chitty_id, aggregate_id, aggregate_type, event_type, "
        "event_data jsonb, event_hash, timestamp), incremental by timestamp; re-sync days with "
        "raw_neon/event_store_by_day.",
    ),
    StreamSpec(
        name="evidence_ledger",
        schema="public",
        table="evidence_ledger",
        fallback_primary_key=("id",),
        optional=True,
        description="ChittyOS evidence ledger, incremental by its updated_at/created_at column.",
    ),
)


def _stream(item: Any, position: int) -> StreamSpec:
    where = f"NEON_STREAMS[{position}]"
    if isinstance(item, str):
        item = {"table": item}
    if not isinstance(item, dict) or not isinstance(item.get("table"), str):
        raise ValueError(f'{where}: expected "schema.table" or an object with a "table" key')
    unknown = set(item) - {"table", "name", "cursor", "primary_key", "lookback_seconds", "partition"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    parts = item["table"].split(".")
    if len(parts) > 2:
        raise ValueError(f'{where}: table must be "schema.table" or "table"')
    schema, table = parts if len(parts) == 2 else ("public", parts[0])
    pk = item.get("primary_key")
    if isinstance(pk, str):
        pk = [pk]
    partition = item.get("partition")
    if partition not in (None, "daily"):
        raise ValueError(f'{where}: partition must be "daily" or absent')
    lookback = item.get("lookback_seconds")
    return StreamSpec(
        name=item.get("name") or (table if schema == "public" else f"{schema}_{table}"),
        schema=schema,
        table=table,
        cursor=item.get("cursor"),
        primary_key=tuple(pk) if pk else None,
        lookback_seconds=float(lookback) if lookback is not None else None,
        partitioned=partition == "daily",
        description=f"PostgreSQL table {schema}.{table} (from NEON_STREAMS).",
    )


def parse_streams(text: str | None) -> list[StreamSpec]:
    """Default streams plus the configured ones; raises ValueError with a clear message."""
    streams = {s.name: s for s in DEFAULT_STREAMS}
    if not text:
        return list(streams.values())
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"NEON_STREAMS is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(items, list):
        raise ValueError("NEON_STREAMS must be a JSON list")
    for i, item in enumerate(items):
        spec = _stream(item, i)
        default = streams.get(spec.name)
        if default is not None:
            # Overriding a default keeps its shape unless the user says otherwise.
            spec = replace(
                spec,
                cursor=spec.cursor or default.cursor,
                fallback_primary_key=default.fallback_primary_key,
                partitioned=spec.partitioned or default.partitioned,
                description=default.description,
            )
        streams[spec.name] = spec
    for spec in streams.values():
        if spec.partitioned and f"{spec.name}_by_day" in streams:
            raise ValueError(f"NEON_STREAMS: {spec.name}_by_day is the name of {spec.name}'s re-sync asset")
    return list(streams.values())


def load_streams() -> tuple[list[StreamSpec], str | None]:
    """Streams from the environment, never raising: a bad NEON_STREAMS keeps the defaults and
    returns the error (the health check shows it), so the definitions still load."""
    try:
        return parse_streams(config.env("NEON_STREAMS")), None
    except ValueError as exc:
        return list(DEFAULT_STREAMS), str(exc)
