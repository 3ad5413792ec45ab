from __future__ import annotations

import pytest

from chitty_pipelines.warehouse import InvalidIdentifier, Reject, TableSpec, cols, validate_identifier

T = TableSpec("raw_local", "things", cols(("id", "VARCHAR"), ("n", "BIGINT"), ("tags", "VARCHAR[]")), ("id",))


def test_upsert_replaces_by_key_and_last_in_batch_wins(warehouse):
    with warehouse.transaction() as tx:
        assert tx.upsert(T, [{"id": "a", "n": 1}, {"id": "b", "n": 2, "tags": ["x"]}]) == 2
    with warehouse.transaction() as tx:
        tx.upsert(T, [{"id": "a", "n": 10}, {"id": "a", "n": 11}])
    rows = warehouse.query("SELECT id, n FROM raw_local.things ORDER BY id").values.tolist()
    assert rows == [["a", 11], ["b", 2]]


def test_data_and_cursor_roll_back_together(warehouse):
    with pytest.raises(RuntimeError), warehouse.transaction() as tx:
        tx.upsert(T, [{"id": "a", "n": 1}])
        tx.set_cursor("local", "things", "f", {"offset": 10})
        raise RuntimeError("crash between data and cursor")
    assert warehouse.row_count(T) == 0
    assert warehouse.cursors("local", "things") == {}


def test_rejects_are_keyed_by_location(warehouse):
    r = Reject("local", "s", "/f.jsonl", "line 3", "invalid JSON", "{oops")
    with warehouse.transaction("run1") as tx:
        tx.add_rejects([r, r])
    with warehouse.transaction("run2") as tx:
        tx.add_rejects([r])
    assert warehouse.scalar("SELECT count(*) FROM ops.rejects") == 1


@pytest.mark.parametrize("bad", ["x;drop table y", "1abc", "a b", "", "a" * 64, 'q"'])
def test_identifiers_are_validated(bad):
    with pytest.raises(InvalidIdentifier):
        validate_identifier(bad)


def _writer(path: str, url: str | None, worker: int, n: int) -> int:
    from chitty_pipelines.warehouse import Warehouse

    wh = Warehouse(path, lock_timeout_s=120, url=url)
    for i in range(n):
        with wh.transaction() as tx:
            tx.upsert(T, [{"id": f"w{worker}-{i}", "n": i}])
            tx.set_cursor("local", f"w{worker}", "pos", {"i": i})
    return worker


def test_processes_writing_at_once_all_succeed(warehouse):
    """DuckDB has one writer per file; other processes wait on the lock instead of failing
    (PostgreSQL: concurrent transactions, same outcome)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        done = pool.starmap(_writer, [(str(warehouse.path), warehouse.url, w, 15) for w in range(3)])
    assert sorted(done) == [0, 1, 2]
    assert warehouse.scalar("SELECT count(*) FROM raw_local.things") == 45
    assert warehouse.cursors("local", "w2") == {"pos": {"i": 14}}


def test_a_column_added_upstream_is_added_to_the_table(warehouse):
    """Schema drift (issue 13): the same on both backends. A source that gains a column gets it
    added to the stored table (platforms/neon/streams.ensure_table); old rows read NULL there."""
    from chitty_pipelines.platforms.neon.streams import ensure_table

    v1 = TableSpec("raw_drift", "things", cols(("id", "VARCHAR"), ("n", "BIGINT")), ("id",))
    v2 = TableSpec("raw_drift", "things", cols(("id", "VARCHAR"), ("n", "BIGINT"), ("meta", "JSON")), ("id",))
    assert ensure_table(warehouse, "r1", v1) == []
    with warehouse.transaction() as tx:
        tx.upsert(v1, [{"id": "a", "n": 1}])
    assert ensure_table(warehouse, "r2", v2) == ["meta"]
    assert ensure_table(warehouse, "r3", v2) == []  # idempotent
    with warehouse.transaction() as tx:
        tx.upsert(v2, [{"id": "b", "n": 2, "meta": '{"k": 1}'}, {"id": "a", "n": 3}])
    rows = warehouse.query("SELECT id, n, meta FROM raw_drift.things ORDER BY id").values.tolist()
    assert rows == [["a", 3, None], ["b", 2, '{"k": 1}']]


def test_append_new_refuses_keys_the_table_holds_and_leaves_the_transaction_usable(warehouse):
    """The first sync's fast path (platforms/neon/streams.py): rows are appended without key
    matching only while none of their keys is stored; otherwise nothing is written (PostgreSQL:
    its unique key index refuses the COPY, undone to a savepoint) and the caller upserts instead,
    in the same transaction."""
    import pyarrow as pa

    def rows(ids: list[str], n: int) -> pa.Table:
        return pa.table({"id": ids, "n": pa.array([n] * len(ids), pa.int64())})

    with warehouse.transaction() as tx:
        tx.ensure(T)
        assert tx.append_new(T, rows(["a", "b"], 1), 0) == 2
        assert tx.append_new(T, rows(["c"], 1), 2) == 1
    with warehouse.transaction() as tx:
        # a later run (it appended nothing yet) whose chunk holds the stored key "b": appending
        # would duplicate it, so nothing of the chunk is written
        assert tx.append_new(T, rows(["d", "b"], 2), 0) is None
        assert tx.upsert(T, [{"id": "d", "n": 2}, {"id": "b", "n": 2}]) == 2
        tx.set_cursor("local", "things", "high_water", 2)
    got = warehouse.query("SELECT id, n FROM raw_local.things ORDER BY id").values.tolist()
    assert got == [["a", 1], ["b", 2], ["c", 1], ["d", 2]]
    assert warehouse.cursors("local", "things") == {"high_water": 2}
    with warehouse.transaction() as tx:
        assert tx.append_new(T, rows([], 3), 0) == 0


def test_small_upserts_store_what_the_arrow_path_stores(warehouse):
    """A few Python rows bypass Arrow on DuckDB (no pandas import for a sync log entry); every
    column type must come out as the Arrow path writes it, on either backend, whatever the
    session's time zone."""
    import datetime as dt
    from decimal import Decimal

    import pyarrow as pa

    from chitty_pipelines.warehouse.store import SMALL_UPSERT_ROWS

    spec = cols(
        ("id", "VARCHAR"), ("n", "BIGINT"), ("i", "INTEGER"), ("x", "DOUBLE"), ("ok", "BOOLEAN"),
        ("at", "TIMESTAMPTZ"), ("naive_at", "TIMESTAMPTZ"), ("wall", "TIMESTAMP"), ("day", "DATE"),
        ("tags", "VARCHAR[]"), ("doc", "JSON"), ("raw", "BLOB"), ("amount", "DECIMAL(18,6)"),
    )  # fmt: skip
    berlin = dt.timezone(dt.timedelta(hours=1))
    rows = [
        {
            "id": "a",
            "n": 2**40,
            "i": -3,
            "x": 1.5,
            "ok": True,
            "at": dt.datetime(2026, 12, 6, 9, 30, 1, 123456, tzinfo=berlin),
            "naive_at": dt.datetime(2026, 12, 6, 9, 30),
            "wall": dt.datetime(2026, 12, 6, 9, 30, tzinfo=berlin),
            "day": dt.date(2026, 12, 6),
            "tags": ["x", "y"],
            "doc": '{"k": [1, 2]}',
            "raw": b"\x00\xff",
            "amount": Decimal("12.345678"),
        },
        {"id": "b"},  # every other column NULL
        {"id": "a", "n": 1, "tags": []},  # same key later in the batch: this one wins...
        {"id": "c", "n": 5, "tags": None, "doc": "null", "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
    ]
    rows.insert(2, dict(rows[0], id="d"))  # ...and a copy of the full row under its own key
    small, big = TableSpec("raw_local", "small", spec, ("id",)), TableSpec("raw_local", "big", spec, ("id",))
    with warehouse.transaction() as tx:
        tx.con.execute("SET TimeZone = 'America/Los_Angeles'") if warehouse.url is None else None
        assert tx.upsert(small, rows) == len(rows)
        assert (
            tx.upsert(big, pa.Table.from_pylist(rows, schema=big.arrow_schema()).select(big.column_names)) > 0
        )
        assert tx.upsert(small, []) == 0
    with warehouse.connect() as con:
        small_rows, big_rows = (
            con.execute(f"SELECT * FROM raw_local.{t} ORDER BY id").fetchall() for t in ("small", "big")
        )
    assert small_rows == big_rows and len(small_rows) == 4
    full = dict(zip(small.column_names, next(r for r in small_rows if r[0] == "d"), strict=True))
    assert full["at"] == dt.datetime(2026, 12, 6, 8, 30, 1, 123456, tzinfo=dt.UTC)
    assert full["naive_at"] == dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC)  # naive = UTC
    assert full["wall"] == dt.datetime(2026, 12, 6, 8, 30)  # the UTC wall time
    assert (full["tags"], full["raw"], full["amount"]) == (["x", "y"], b"\x00\xff", Decimal("12.345678"))
    assert warehouse.scalar("SELECT n FROM raw_local.small WHERE id = 'a'") == 1
    # More rows than the threshold take the Arrow path, with the same result.
    many = [{"id": f"k{i:04d}", "n": i} for i in range(SMALL_UPSERT_ROWS + 1)]
    with warehouse.transaction() as tx:
        assert tx.upsert(small, many[:3]) == 3
        assert tx.upsert(small, many) == len(many)
    assert warehouse.scalar("SELECT count(*) FROM raw_local.small WHERE id LIKE 'k%'") == len(many)


def test_rows_and_records_are_plain_values_that_write_back_unchanged(warehouse):
    """What a sync reads back (stored rows it diffs or keeps as history) is plain Python on both
    backends: NULL is None (never NaN/NaT), a BIGINT with a NULL beside it stays int, times are
    datetimes; rows read with ``records`` and upserted again store exactly what was there."""
    from datetime import UTC, datetime

    spec = TableSpec(
        "raw_local",
        "plain",
        cols(
            ("id", "VARCHAR"), ("n", "BIGINT"), ("ok", "BOOLEAN"), ("seen_at", "TIMESTAMPTZ"), ("doc", "JSON")
        ),
        ("id",),
    )
    at = datetime(2026, 12, 6, 15, 4, 5, 123456, tzinfo=UTC)
    with warehouse.transaction() as tx:
        tx.upsert(spec, [{"id": "a", "n": 7, "ok": True, "seen_at": at, "doc": '{"k":1}'}, {"id": "b"}])
    select = "SELECT id, n, ok, seen_at, doc FROM raw_local.plain ORDER BY id"
    expected = [("a", 7, True, at, '{"k":1}'), ("b", None, None, None, None)]
    got = warehouse.rows(select)
    assert [tuple(r) for r in got] == expected
    assert [type(v) for v in got[0]] == [str, int, bool, datetime, str]
    records = warehouse.records(select)
    assert [tuple(r.values()) for r in records] == expected
    with warehouse.transaction() as tx:
        tx.upsert(spec, records)  # the few-rows path
        tx.upsert(spec, records * 200)  # past SMALL_UPSERT_ROWS: through Arrow
    assert [tuple(r) for r in warehouse.rows(select)] == expected


def test_a_table_an_older_version_created_gains_the_new_columns(warehouse):
    """A spec that gained a column since its table was created (a platform's new project feed
    adds ``on_<platform>`` and its count columns to unified.projects): the first write of the new
    version adds it, empty for the old rows, instead of failing every write ("Referenced column
    on_chatgpt not found"). Through ``Transaction.ensure``, on both backends."""
    old = TableSpec("unified_drift", "projects", cols(("key", "VARCHAR"), ("name", "VARCHAR")), ("key",))
    new = TableSpec(
        "unified_drift",
        "projects",
        cols(("key", "VARCHAR"), ("name", "VARCHAR"), ("on_chatgpt", "BOOLEAN"), ("gpt_count", "BIGINT")),
        ("key",),
    )
    with warehouse.transaction() as tx:
        tx.ensure(old)
        tx.upsert(old, [{"key": "a", "name": "alpha"}])
    with warehouse.transaction() as tx:
        assert tx.ensure(new) == ["on_chatgpt", "gpt_count"]
        assert tx.ensure(new) == []
        tx.upsert(new, [{"key": "b", "name": "beta", "on_chatgpt": True, "gpt_count": 2}])
    rows = warehouse.rows("SELECT key, name, on_chatgpt, gpt_count FROM unified_drift.projects ORDER BY key")
    assert [tuple(r) for r in rows] == [("a", "alpha", None, None), ("b", "beta", True, 2)]


def test_a_wait_for_the_duckdb_lock_is_said_once(tmp_path, caplog):
    """Another process holding the DuckDB file made a command wait silently (`topic set` during a
    sync waited up to CHITTY_LOCK_TIMEOUT, printing nothing). After ~2 s it says so, once."""
    import logging
    import subprocess
    import sys
    import time

    from chitty_pipelines.warehouse.backend import DuckDBBackend

    path = tmp_path / "held.duckdb"
    hold = f"import duckdb, time; c = duckdb.connect({str(path)!r}); print(1, flush=True); time.sleep(4.5)"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"1"
        started = time.monotonic()
        wh = DuckDBBackend(path, lock_timeout_s=60)
        with caplog.at_level(logging.INFO, logger="chitty_pipelines.warehouse"), wh.connect() as con:
            assert con.execute("SELECT 1").fetchone() == (1,)
        assert time.monotonic() - started > 3
    finally:
        holder.kill()
        holder.wait()
    waiting = [r for r in caplog.records if "waiting for the warehouse lock" in r.getMessage()]
    assert len(waiting) == 1 and waiting[0].levelno == logging.WARNING, caplog.text
    assert str(path) in waiting[0].getMessage() and "CHITTY_LOCK_TIMEOUT" in waiting[0].getMessage()
