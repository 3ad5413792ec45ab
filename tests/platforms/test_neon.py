"""Neon against a real PostgreSQL: type fidelity, incremental look-back, crash resume, missing
tables, identifiers, secrets, not configured, health."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dagster as dg
import psycopg
import pytest
from neon_helpers import PASSWORD, materialize, metadata, neon_database, resource, sql

from chitty_pipelines.platforms.neon import streams as neon_sync
from chitty_pipelines.platforms.neon.health import probe
from chitty_pipelines.platforms.neon.resource import NeonError, NeonResource
from chitty_pipelines.platforms.neon.stream_config import (
    DEFAULT_STREAMS,
    StreamSpec,
    load_streams,
    parse_streams,
)
from chitty_pipelines.warehouse import InvalidIdentifier

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def neon_dsn(postgres_dsn, monkeypatch):
    yield from neon_database(postgres_dsn, monkeypatch)


TYPES_DDL = """
CREATE SCHEMA app;
CREATE TABLE app.things (
    id bigint PRIMARY KEY,
    payload jsonb,
    happened_at timestamptz,
    amount numeric(20,6),
    exact numeric,
    tags text[],
    counts int[],
    ref uuid,
    blob bytea,
    flag boolean,
    day date,
    note text,
    ratio double precision,
    "bad name" text,
    updated_at timestamptz NOT NULL
)"""
INSERT = "INSERT INTO app.things VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"


def things_spec(**kw) -> StreamSpec:
    return StreamSpec(name="things", schema="app", table="things", cursor="updated_at", **kw)


def test_type_fidelity(neon_dsn, warehouse, warehouse_resource):
    ref = uuid.uuid4()
    rows = [
        (
            1,
            json.dumps({"a": [1, 2, {"b": None}], "ü": "x"}),
            T0,
            Decimal("12345678901234.123456"),
            Decimal("3.14159265358979323846264338327950288419716939937510"),
            ["x", "y,z", 'q"uote', ""],
            [1, None, 3],
            ref,
            b"\x00\x01\xff",
            True,
            datetime(2024, 2, 29).date(),
            'a,b\n"c"',
            0.1,
            "n",
            T0,
        ),
        (2, None, None, None, None, None, None, None, None, None, None, None, None, None, T0),
        (
            3,
            json.dumps([]),
            T0 + timedelta(microseconds=7),
            Decimal("-0.000001"),
            Decimal("1e-30"),
            [],
            [],
            None,
            b"",
            False,
            None,
            "",
            float("inf"),
            None,
            T0,
        ),
    ]
    with psycopg.connect(neon_dsn, autocommit=True) as con:
        con.execute(TYPES_DDL)
        for row in rows:
            con.execute(INSERT, list(row))
        # numeric(20,6) accepts NaN, DuckDB DECIMAL does not: that row must become a reject.
        con.execute(
            INSERT, [4, None, None, "NaN", None, None, None, None, None, None, None, None, None, None, T0]
        )

    result = materialize([things_spec()], resource(), warehouse_resource)
    md = metadata(result, "things")
    assert md["rows_written"] == 3 and md["rejects"] == 1 and md["dagster/row_count"] == 3
    assert md["skipped_columns"] == "bad name"
    assert md["duration_s"] > 0  # seconds, as in every other platform's metadata

    if warehouse.kind == "postgres":  # the same columns in PostgreSQL's types (JSON is text there)
        with warehouse.connect() as con:
            pg_types = dict(
                con.raw.execute(
                    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = 'raw_neon.things'::regclass AND attnum > 0 AND NOT attisdropped"
                ).fetchall()
            )
        assert pg_types == {
            "id": "bigint",
            "payload": "text",
            "happened_at": "timestamp with time zone",
            "amount": "numeric(20,6)",
            "exact": "text",
            "tags": "text[]",
            "counts": "integer[]",
            "ref": "uuid",
            "blob": "bytea",
            "flag": "boolean",
            "day": "date",
            "note": "text",
            "ratio": "double precision",
            "updated_at": "timestamp with time zone",
        }
    types = dict(
        warehouse.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw_neon' AND table_name = 'things'"
        ).itertuples(index=False)
    )
    assert warehouse.kind == "postgres" or types == {
        "id": "BIGINT",
        "payload": "JSON",
        "happened_at": "TIMESTAMP WITH TIME ZONE",
        "amount": "DECIMAL(20,6)",
        "exact": "VARCHAR",
        "tags": "VARCHAR[]",
        "counts": "INTEGER[]",
        "ref": "UUID",
        "blob": "BLOB",
        "flag": "BOOLEAN",
        "day": "DATE",
        "note": "VARCHAR",
        "ratio": "DOUBLE",
        "updated_at": "TIMESTAMP WITH TIME ZONE",
    }
    with warehouse.connect() as con:
        got = con.execute(
            "SELECT id, payload, happened_at, amount, exact, tags, counts, ref, blob, flag, day, note, ratio "
            "FROM raw_neon.things ORDER BY id"
        ).fetchall()
    r1, r2, r3 = got
    assert json.loads(r1[1]) == {"a": [1, 2, {"b": None}], "ü": "x"}
    assert r1[2] == T0 and r3[2] == T0 + timedelta(microseconds=7)
    assert r1[3] == Decimal("12345678901234.123456") and r3[3] == Decimal("-0.000001")
    assert r1[4] == "3.14159265358979323846264338327950288419716939937510"
    assert r1[5] == ["x", "y,z", 'q"uote', ""] and r1[6] == [1, None, 3]
    assert r1[7] == ref and r1[8] == b"\x00\x01\xff" and r1[9] is True
    assert str(r1[10]) == "2024-02-29" and r1[11] == 'a,b\n"c"' and r1[12] == 0.1
    assert r2[1:] == (None,) * 12  # NULLs stay NULL, never '' or 0
    assert r3[1] == "[]" and r3[5] == [] and r3[8] == b"" and r3[11] == "" and r3[12] == float("inf")

    reject = warehouse.query("SELECT stream, location, reason, excerpt FROM ops.rejects").iloc[0]
    assert reject["stream"] == "things" and json.loads(reject["location"]) == {"id": "4"}
    assert "amount" in reject["reason"] and json.loads(reject["excerpt"]) == {"amount": "NaN"}
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [True]


EVENTS_DDL = "CREATE TABLE public.ledger (id int PRIMARY KEY, body text, updated_at timestamptz)"


def ledger_rows(dsn: str, ids: range, at: datetime) -> None:
    sql(
        dsn,
        *[
            f"INSERT INTO ledger VALUES ({i}, 'v{i}', '{(at + timedelta(seconds=i)).isoformat()}')"
            for i in ids
        ],
    )


def ledger(warehouse) -> list[tuple]:
    with warehouse.connect() as con:
        return con.execute("SELECT id, body FROM raw_neon.ledger ORDER BY id").fetchall()


@pytest.mark.parametrize("lookback,expect_late", [(600.0, True), (0.0, False)])
def test_late_commit_lookback(neon_dsn, warehouse, warehouse_resource, lookback, expect_late):
    """A row committed after a sync with a cursor older than the high-water mark is picked up
    by the look-back window (and, as the control, lost without it)."""
    spec = StreamSpec(name="ledger", schema="public", table="ledger", lookback_seconds=lookback)
    sql(neon_dsn, EVENTS_DDL)
    ledger_rows(neon_dsn, range(1, 11), T0)  # updated_at T0+1s .. T0+10s
    first = metadata(materialize([spec], resource(), warehouse_resource), "ledger")
    assert first["rows_written"] == 10 and first["high_water"] == str(T0 + timedelta(seconds=10))
    assert first["cursor_column"] == "updated_at"  # discovered, not configured

    # The late transaction: its updated_at (T0+5.5s) is below the high-water mark (T0+10s).
    sql(neon_dsn, f"INSERT INTO ledger VALUES (99, 'late', '{(T0 + timedelta(seconds=5.5)).isoformat()}')")
    second = metadata(materialize([spec], resource(), warehouse_resource), "ledger")
    ids = [r[0] for r in ledger(warehouse)]
    assert (99 in ids) is expect_late
    assert len(ids) == len(set(ids)) == (11 if expect_late else 10)
    # The look-back re-reads the whole 10 s window (11 rows) and nothing more; without it only
    # the tie at the mark is re-read.
    assert second["rows_written"] == (11 if expect_late else 1)
    assert second["high_water"] == str(T0 + timedelta(seconds=10))


def test_no_change_resync_reads_only_the_overlap(neon_dsn, warehouse, warehouse_resource):
    sql(neon_dsn, EVENTS_DDL)
    ledger_rows(neon_dsn, range(1, 501), T0 - timedelta(days=1))
    spec = StreamSpec(name="ledger", schema="public", table="ledger", lookback_seconds=60)
    assert metadata(materialize([spec], resource(), warehouse_resource), "ledger")["rows_written"] == 500
    again = metadata(materialize([spec], resource(), warehouse_resource), "ledger")
    assert again["rows_written"] == 61  # cursor >= mark - 60 s: ids 440..500
    assert again["dagster/row_count"] == 500


def test_resume_after_crash_between_chunks(neon_dsn, warehouse, warehouse_resource, monkeypatch):
    sql(neon_dsn, EVENTS_DDL)
    ledger_rows(neon_dsn, range(1, 1001), T0)
    spec = StreamSpec(name="ledger", schema="public", table="ledger", lookback_seconds=0)
    real = neon_sync.ChunkConverter.__call__
    calls = {"n": 0}

    def crash_on_fourth(self, data):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("simulated crash between chunks")
        return real(self, data)

    monkeypatch.setattr(neon_sync.ChunkConverter, "__call__", crash_on_fourth)
    failed = materialize([spec], resource(chunk_rows=100), warehouse_resource, raise_on_error=False)
    assert not failed.success
    # Three chunks committed with their cursor; nothing of the fourth.
    assert [r[0] for r in ledger(warehouse)] == list(range(1, 301))
    assert warehouse.cursors("neon", "ledger")["high_water"] == (T0 + timedelta(seconds=300)).isoformat()

    monkeypatch.setattr(neon_sync.ChunkConverter, "__call__", real)
    ledger_rows(neon_dsn, range(1001, 1011), T0)  # new rows arrive meanwhile
    done = metadata(materialize([spec], resource(chunk_rows=100), warehouse_resource), "ledger")
    assert [r[0] for r in ledger(warehouse)] == list(range(1, 1011))  # no loss, no duplicates
    assert done["rows_written"] == 711  # resumed at the mark (id 300, the tie) instead of from zero
    assert done["chunks"] == 8


def test_missing_table_fails_only_its_stream(neon_dsn, warehouse, warehouse_resource):
    sql(neon_dsn, EVENTS_DDL)
    ledger_rows(neon_dsn, range(1, 4), T0)
    good = StreamSpec(name="ledger", schema="public", table="ledger")
    missing = StreamSpec(name="ghost", schema="public", table="no_such_table", cursor="updated_at")
    absent_default = StreamSpec(
        name="evidence_ledger", schema="public", table="evidence_ledger", optional=True
    )
    result = materialize(
        [good, missing, absent_default], resource(), warehouse_resource, raise_on_error=False
    )
    assert not result.success
    assert metadata(result, "ledger")["rows_written"] == 3
    assert metadata(result, "evidence_ledger")["table_exists"] is False
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["raw_neon__ghost"]
    message = failures[0].event_specific_data.error.message
    assert "public.no_such_table does not exist" in message and "NEON_STREAMS" in message
    log = warehouse.query("SELECT asset, status FROM ops.sync_log ORDER BY asset")
    assert dict(log.itertuples(index=False)) == {
        "evidence_ledger": "success",
        "ghost": "failed",  # like every platform (it was "error": not in status --json's schema)
        "ledger": "success",
    }


@pytest.mark.parametrize(
    "text",
    [
        '["public.x; DROP TABLE y"]',
        '[{"table": "public.t", "cursor": "updated_at\\" OR 1=1 --"}]',
        '[{"table": "a.b.c"}]',
        '[{"table": "t", "primary_key": ["id", "x y"]}]',
        '[{"table": "t", "name": "Robert\'); DROP"}]',
        '[{"table": "t", "colour": "blue"}]',
        "not json",
    ],
)
def test_identifiers_rejected(text, monkeypatch):
    with pytest.raises(ValueError):
        parse_streams(text)
    monkeypatch.setenv("NEON_STREAMS", text)
    streams, error = load_streams()  # the definitions still load, with the defaults
    assert error and [s.name for s in streams] == ["event_store", "evidence_ledger"]
    with pytest.raises(InvalidIdentifier):
        StreamSpec(name="ok", schema="public", table='t"; --')


def test_streams_config_parsing():
    streams = {
        s.name: s
        for s in parse_streams(
            '["billing.invoices", {"table": "orders", "cursor": "changed", "primary_key": "oid", '
            '"lookback_seconds": 5}, {"table": "ops.events", "name": "event_store"}]'
        )
    }
    assert streams["billing_invoices"].qualified == "billing.invoices"
    assert streams["orders"].primary_key == ("oid",) and streams["orders"].lookback_seconds == 5
    # Overriding the default event store keeps it daily-partitioned by timestamp.
    ev = streams["event_store"]
    assert (ev.qualified, ev.cursor, ev.partitioned) == ("ops.events", "timestamp", True)
    with pytest.raises(ValueError, match="re-sync asset"):
        parse_streams('["event_store_by_day"]')


def test_secrets_never_leak(neon_dsn, warehouse, warehouse_resource, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    sql(neon_dsn, EVENTS_DDL)
    ledger_rows(neon_dsn, range(1, 4), T0)
    ok = materialize(
        [StreamSpec(name="ledger", schema="public", table="ledger")], resource(), warehouse_resource
    )
    missing = materialize(
        [StreamSpec(name="ghost", schema="public", table="nope", cursor="x")],
        resource(),
        warehouse_resource,
        raise_on_error=False,
    )
    # A server that is not there: the connection error must not carry the DSN either.
    dead = neon_dsn.replace(f"port={psycopg.conninfo.conninfo_to_dict(neon_dsn)['port']}", "port=1")
    monkeypatch.setenv("NEON_DATABASE_URL", dead)
    unreachable = materialize(
        [StreamSpec(name="ledger", schema="public", table="ledger")],
        resource(connect_timeout_s=2),
        warehouse_resource,
        raise_on_error=False,
    )
    assert ok.success and not missing.success and not unreachable.success
    texts = [caplog.text]
    for result in (ok, missing, unreachable):
        for event in result.all_events:
            texts.append(str(event.message))
            texts.append(repr(event.event_specific_data))
    texts.append(warehouse.query("SELECT * FROM ops.sync_log").to_string())
    texts.append(warehouse.query("SELECT * FROM ops.rejects").to_string())
    texts.append(warehouse.query("SELECT * FROM ops.sync_cursors").to_string())
    blob = "\n".join(texts)
    assert "connecting to Neon: OperationalError" in blob  # the error is there ...
    assert PASSWORD not in blob  # ... the password is not
    health = probe(resource(connect_timeout_s=2))
    assert health["ok"] is False and PASSWORD not in json.dumps(health)


def test_not_configured_succeeds_with_zero_rows(warehouse, warehouse_resource, monkeypatch):
    monkeypatch.delenv("NEON_DATABASE_URL", raising=False)
    neon = NeonResource.from_settings()
    assert not neon.configured
    result = materialize(list(DEFAULT_STREAMS), neon, warehouse_resource, with_health=False)
    assert result.success
    for name in ("event_store", "evidence_ledger"):
        md = metadata(result, name)
        assert md["configured"] is False and md["dagster/row_count"] == 0
    assert set(warehouse.query("SELECT status FROM ops.sync_log")["status"]) == {"not_configured"}
    assert probe(neon)["ok"] is True and probe(neon)["configured"] is False


def test_health(neon_dsn, warehouse_resource):
    health = probe(resource())
    assert health["ok"] is True and health["server_version"].split(".")[0].isdigit()
    assert health["host_kind"] == "direct"
    pooled = NeonResource(database_url="postgresql://u:p@ep-cool-1-pooler.us-east-2.aws.neon.tech/db")
    assert pooled.host_kind() == "pooled"
    # As an asset check next to the event store (absent here: a default stream, zero rows).
    result = materialize(list(DEFAULT_STREAMS)[:1], resource(), warehouse_resource, with_health=True)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["neon_health"].passed
    assert evaluations["neon_health"].metadata["host_kind"].value == "direct"
    meta = evaluations["neon_health"].metadata  # numbers and booleans, not their str()
    assert isinstance(meta["latency_ms"], dg.FloatMetadataValue) and meta["latency_ms"].value >= 0
    assert meta["configured"] == dg.BoolMetadataValue(True)
    assert metadata(result, "event_store")["table_exists"] is False


def test_health_names_a_neon_streams_table_that_does_not_exist(neon_dsn, monkeypatch):
    """status and check said "ok: connected" while the stream's sync failed on the table."""
    monkeypatch.setenv("NEON_STREAMS", '["public.not_there_yet"]')
    health = probe(resource())
    assert health["ok"] is False
    assert "public.not_there_yet does not exist" in health["reason"] and "NEON_STREAMS" in health["reason"]
    sql(neon_dsn, "CREATE TABLE public.not_there_yet (id int PRIMARY KEY)")
    assert probe(resource())["ok"] is True


def test_health_names_a_neon_streams_that_is_refused(neon_dsn, monkeypatch):
    """A NEON_STREAMS refused before SQL (an identifier with a quote) syncs the defaults only, and
    status and check said "ok: connected" (only syncall's neon_health line turned red, no reason)."""
    monkeypatch.setenv("NEON_STREAMS", '[{"table": "We ird-Schema.t\\"x"}]')
    health = probe(resource())
    assert health["ok"] is False, health
    assert "NEON_STREAMS" in health["reason"] and "only the defaults sync" in health["reason"], health


def test_a_database_that_does_not_exist_is_named_at_once(neon_dsn):
    """A wrong database name in NEON_DATABASE_URL was retried after a pause and then blamed
    on the host: `(check the host and port of NEON_DATABASE_URL)`."""
    from postgres_harness import with_database

    started = time.monotonic()
    wrong = NeonResource(database_url=with_database(neon_dsn, "no_such_db_4711"))
    with pytest.raises(NeonError) as info, wrong.connect():
        pass
    message = str(info.value)
    assert "fix the database name in NEON_DATABASE_URL" in message and "host and port" not in message, message
    assert time.monotonic() - started < 1.0  # no retry pause
