"""A first Neon sync into an empty PostgreSQL warehouse table in bulk (platforms/neon/streams.py
``_bulk_load``): when the keys do not arrive in cursor order, the first load goes in one
transaction with the table's unique key index set aside and built once at the end.

Always on a PostgreSQL warehouse of their own (the feature is PostgreSQL's), in the DuckDB suite
too. Which path a load took is read from the rows themselves: rows written in one transaction
share one ``xmin``; chunk by chunk (each chunk under a savepoint) they do not."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from neon_helpers import materialize, metadata, neon_database, resource, sql
from postgres_harness import fresh_database

from chitty_pipelines.platforms.neon import streams as neon_sync
from chitty_pipelines.platforms.neon.stream_config import StreamSpec
from chitty_pipelines.warehouse.resource import WarehouseResource

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SPEC = StreamSpec(name="events", schema="public", table="events", lookback_seconds=0)
ROWS = 1000
CHUNK = 100

# Keys in no relation to the cursor (as random UUIDs would be): md5 of the row number.
RANDOM_KEYS = f"""
CREATE TABLE public.events (id text PRIMARY KEY, body text NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO public.events
SELECT md5('k' || i), 'v' || i, timestamptz '{T0.isoformat()}' + make_interval(secs => i)
FROM generate_series(1, {ROWS}) AS i;
"""
# Keys that follow the cursor (a serial id).
ORDERED_KEYS = RANDOM_KEYS.replace("md5('k' || i)", "lpad(i::text, 6, '0')")


@pytest.fixture
def neon_dsn(postgres_dsn, monkeypatch):
    yield from neon_database(postgres_dsn, monkeypatch)


@pytest.fixture
def pg_warehouse(postgres_dsn, tmp_path):
    """Factory: a WarehouseResource on a private PostgreSQL database (dropped afterwards)."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def make() -> tuple[WarehouseResource, str]:
            url = stack.enter_context(fresh_database(postgres_dsn, prefix="bulk"))
            return WarehouseResource(path=str(tmp_path / "unused.duckdb"), url=url), url

        yield make


def rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as con:
        return con.execute("SELECT id, body, updated_at FROM raw_neon.events ORDER BY id").fetchall()


def transactions(url: str) -> int:
    """How many transactions (or subtransactions) wrote the table's rows."""
    with psycopg.connect(url) as con:
        return con.execute("SELECT count(DISTINCT xmin::text) FROM raw_neon.events").fetchone()[0]


def key_index(url: str) -> str | None:
    with psycopg.connect(url) as con:
        row = con.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'raw_neon' AND tablename = 'events'"
        ).fetchone()
    return row[0] if row else None


def high_water(url: str) -> str | None:
    with psycopg.connect(url) as con:
        row = con.execute(
            "SELECT cursor_value FROM ops.sync_cursors WHERE platform = 'neon' AND stream = 'events' "
            "AND cursor_key = 'high_water'"
        ).fetchone()
    return row[0] if row else None


INDEX = "CREATE UNIQUE INDEX events_pk ON raw_neon.events USING btree (id) NULLS NOT DISTINCT"


def test_first_load_in_bulk_lands_every_row_and_rebuilds_the_same_index(neon_dsn, pg_warehouse):
    sql(neon_dsn, RANDOM_KEYS)
    bulk, bulk_url = pg_warehouse()
    chunked, chunked_url = pg_warehouse()
    md = metadata(materialize([SPEC], resource(chunk_rows=CHUNK), bulk), "events")
    assert md["rows_written"] == ROWS and md["dagster/row_count"] == ROWS and md["chunks"] == ROWS // CHUNK
    assert transactions(bulk_url) == 1  # the whole first load in one transaction
    # The same stream chunk by chunk (bulk off): the same rows, cursor and index.
    materialize([SPEC], resource(chunk_rows=CHUNK, bulk_load_rows=0), chunked)
    assert transactions(chunked_url) == ROWS // CHUNK
    got = rows(bulk_url)
    assert got == rows(chunked_url)
    assert len(got) == len({r[0] for r in got}) == ROWS
    with psycopg.connect(neon_dsn) as con:
        assert got == con.execute("SELECT id, body, updated_at FROM events ORDER BY id").fetchall()
    assert (
        high_water(bulk_url) == high_water(chunked_url) == f'"{(T0 + timedelta(seconds=ROWS)).isoformat()}"'
    )
    assert key_index(bulk_url) == key_index(chunked_url) == INDEX
    with psycopg.connect(bulk_url) as con:  # built, valid, and enforced
        assert con.execute(
            "SELECT indisvalid AND indisready FROM pg_index WHERE indexrelid = 'raw_neon.events_pk'::regclass"
        ).fetchone() == (True,)
        with pytest.raises(psycopg.errors.UniqueViolation):
            con.execute("INSERT INTO raw_neon.events (id) SELECT id FROM raw_neon.events LIMIT 1")


def test_bulk_stops_after_bulk_load_rows_and_the_rest_goes_chunk_by_chunk(neon_dsn, pg_warehouse):
    sql(neon_dsn, RANDOM_KEYS)
    wh, url = pg_warehouse()
    md = metadata(materialize([SPEC], resource(chunk_rows=CHUNK, bulk_load_rows=250), wh), "events")
    assert md["rows_written"] == ROWS
    # three chunks (300 rows >= 250) in one transaction, then seven of their own
    assert transactions(url) == 1 + 7
    assert len({r[0] for r in rows(url)}) == ROWS and key_index(url) == INDEX


def test_keys_in_cursor_order_load_chunk_by_chunk(neon_dsn, pg_warehouse):
    """Keys that follow the cursor reach the index at its right edge, cheaper than a build."""
    sql(neon_dsn, ORDERED_KEYS)
    wh, url = pg_warehouse()
    assert metadata(materialize([SPEC], resource(chunk_rows=CHUNK), wh), "events")["rows_written"] == ROWS
    assert transactions(url) == ROWS // CHUNK
    assert key_index(url) == INDEX


def test_a_key_twice_in_a_first_load_ends_as_chunk_by_chunk(neon_dsn, pg_warehouse, caplog):
    """A source whose PRIMARY KEY does not hold for what we read: a child table (INHERITS does
    not carry the key over) repeats three keys of its parent, later in cursor order. The bulk
    load's index build refuses them, the transaction rolls back, and the load starts over chunk
    by chunk: the same table as with bulk off, the later row of each key kept."""
    sql(
        neon_dsn,
        RANDOM_KEYS,
        "CREATE TABLE public.events_more () INHERITS (public.events)",
        f"INSERT INTO public.events_more SELECT id, 'again ' || body, updated_at + interval '1 hour' "
        f"FROM public.events WHERE body IN ('v7', 'v500', 'v{ROWS}')",
    )
    bulk, bulk_url = pg_warehouse()
    chunked, chunked_url = pg_warehouse()
    with caplog.at_level(logging.WARNING, logger=neon_sync.__name__):
        md = metadata(materialize([SPEC], resource(chunk_rows=CHUNK), bulk), "events")
    assert "a key came twice in its first load" in caplog.text
    materialize([SPEC], resource(chunk_rows=CHUNK, bulk_load_rows=0), chunked)
    got = rows(bulk_url)
    assert got == rows(chunked_url)
    assert len(got) == len({r[0] for r in got}) == ROWS
    assert sorted(r[1] for r in got if r[1].startswith("again")) == ["again v1000", "again v500", "again v7"]
    assert md["rows_written"] == ROWS + 3 and md["dagster/row_count"] == ROWS
    assert transactions(bulk_url) > 1  # written by the chunk-by-chunk pass
    assert key_index(bulk_url) == INDEX
    assert high_water(bulk_url) == high_water(chunked_url)


def test_a_crash_mid_bulk_load_leaves_the_empty_table_with_its_index(neon_dsn, pg_warehouse, monkeypatch):
    sql(neon_dsn, RANDOM_KEYS)
    wh, url = pg_warehouse()
    real = neon_sync.ChunkConverter.__call__
    calls = {"n": 0}

    def crash_on_fourth(self, data):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("simulated crash mid bulk load")
        return real(self, data)

    monkeypatch.setattr(neon_sync.ChunkConverter, "__call__", crash_on_fourth)
    assert not materialize([SPEC], resource(chunk_rows=CHUNK), wh, raise_on_error=False).success
    # three chunks were written, all rolled back: the table as the load found it
    assert rows(url) == [] and key_index(url) == INDEX and high_water(url) is None

    monkeypatch.setattr(neon_sync.ChunkConverter, "__call__", real)
    md = metadata(materialize([SPEC], resource(chunk_rows=CHUNK), wh), "events")
    assert md["rows_written"] == ROWS and transactions(url) == 1
    assert len({r[0] for r in rows(url)}) == ROWS and key_index(url) == INDEX


def test_readers_wait_for_a_bulk_load_and_never_see_the_table_without_its_key(
    neon_dsn, pg_warehouse, monkeypatch
):
    sql(neon_dsn, RANDOM_KEYS)
    wh, url = pg_warehouse()
    real = neon_sync.ChunkConverter.__call__
    seen: dict[str, object] = {}
    calls = {"n": 0}

    def look_from_outside(self, data):
        calls["n"] += 1
        if calls["n"] == 3:  # two chunks written in the load's transaction
            with psycopg.connect(url, autocommit=True) as other:
                other.execute("SET lock_timeout = '200ms'")
                # the catalog alone (pg_get_indexdef would wait for the lock too)
                seen["index"] = other.execute(
                    "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                    "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
                    "WHERE n.nspname = 'raw_neon' AND t.relname = 'events' AND x.indisunique"
                ).fetchall()
                try:
                    other.execute("SELECT count(*) FROM raw_neon.events").fetchone()
                    seen["read"] = "not blocked"
                except psycopg.errors.LockNotAvailable:
                    seen["read"] = "waited"
        return real(self, data)

    monkeypatch.setattr(neon_sync.ChunkConverter, "__call__", look_from_outside)
    assert metadata(materialize([SPEC], resource(chunk_rows=CHUNK), wh), "events")["rows_written"] == ROWS
    assert transactions(url) == 1
    # mid-load: another session still sees the committed index, and its read waits for the
    # load's lock instead of seeing a table without its key
    assert seen == {"index": [("events_pk",)], "read": "waited"}


def test_the_next_sync_after_a_bulk_load_is_incremental(neon_dsn, pg_warehouse):
    sql(neon_dsn, RANDOM_KEYS)
    wh, url = pg_warehouse()
    materialize([SPEC], resource(chunk_rows=CHUNK), wh)
    assert transactions(url) == 1
    later = T0 + timedelta(seconds=ROWS + 10)
    sql(
        neon_dsn,
        f"INSERT INTO events SELECT md5('n' || i), 'new' || i, timestamptz '{later.isoformat()}' "
        "+ make_interval(secs => i) FROM generate_series(1, 150) AS i",
        f"UPDATE events SET body = 'changed', updated_at = timestamptz '{later.isoformat()}' "
        "WHERE body = 'v3'",
    )
    md = metadata(materialize([SPEC], resource(chunk_rows=CHUNK), wh), "events")
    # only what changed since the mark (look-back 0: the tie at the mark too), upserted by key
    assert md["rows_written"] == 1 + 150 + 1 and md["dagster/row_count"] == ROWS + 150
    got = rows(url)
    assert len(got) == len({r[0] for r in got}) == ROWS + 150
    assert [r[1] for r in got if r[1] == "changed"] == ["changed"]
    assert key_index(url) == INDEX
    assert high_water(url) == f'"{(later + timedelta(seconds=150)).isoformat()}"'
