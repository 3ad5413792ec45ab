"""The PostgreSQL warehouse (CHITTY_WAREHOUSE_URL) on a real throwaway cluster: SQL written once in
DuckDB's dialect, migrations, the op store and pacing in the ``ops`` schema, fail-fast
configuration errors that never print the password, and a server restart between writes.

These run in the default (DuckDB) suite too: they start or reuse a PostgreSQL of their own."""

from __future__ import annotations

import itertools
import multiprocessing
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
from postgres_harness import fresh_database, with_database

from chitty_pipelines.warehouse import Reject, TableSpec, Warehouse, cols
from chitty_pipelines.warehouse.backend import WarehouseUnavailable, describe_url
from chitty_pipelines.warehouse.dialect import to_postgres
from chitty_pipelines.warehouse.migrations import MIGRATIONS, migrate
from chitty_pipelines.warehouse.opstore import OpStore
from chitty_pipelines.warehouse.opstore_pg import PgOpStore, PgPacer

T = TableSpec("raw_pgtest", "items", cols(("id", "VARCHAR"), ("n", "BIGINT"), ("tags", "VARCHAR[]")), ("id",))


@pytest.fixture
def pg_url(postgres_dsn):
    with fresh_database(postgres_dsn, prefix="pgw") as url:
        yield url


# --- SQL written once ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("duckdb_sql", "must_contain", "must_not_contain"),
    [
        (
            "SELECT id FROM t QUALIFY row_number() OVER (PARTITION BY id ORDER BY n DESC) = 1",
            "ROW_NUMBER() OVER",
            "QUALIFY",
        ),
        ("SELECT status, count(*) FROM s GROUP BY ALL", "GROUP BY 1", "ALL"),
        ("SELECT list(x ORDER BY y) FROM t", "ARRAY_AGG(x ORDER BY y)", "LIST("),
        ("SELECT a FROM t WHERE b = ? AND c LIKE '%x'", "b = %s AND c LIKE '%%x'", "?"),
        ("SELECT a FROM t WHERE b = $feed", "%(feed)s", "$feed"),
        ("SELECT count(*) FROM (SELECT 1)", ") AS _s", "FROM (SELECT 1)\n"),
        ("SELECT sum(hash(a, b)) FROM t", "HASHTEXTEXTENDED", "HASH("),
    ],
)
def test_duckdb_only_sql_is_transpiled(duckdb_sql, must_contain, must_not_contain):
    pg = to_postgres(duckdb_sql)
    assert must_contain in pg and must_not_contain not in pg, pg


PLAIN = [
    "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
    'SELECT cursor_value FROM "ops"."sync_cursors" WHERE platform = ? AND stream = ? '
    "AND cursor_key = 'high_water'",
    'SELECT count(*) FROM "raw_neon"."event_store"',
    "SELECT DISTINCT a, b AS c FROM t WHERE x IS NULL AND (y = 1 OR y <> 2) ORDER BY a ASC LIMIT 5",
    "SELECT max(n), min(n) FROM t WHERE id IN (?, ?) AND EXISTS (SELECT 1 FROM u WHERE u.k = t.k)",
    "DELETE FROM ops.sync_cursors WHERE platform = ? AND stream = ?",
    'CREATE SCHEMA IF NOT EXISTS "ops"',
]
NOT_PLAIN = [
    "SELECT a FROM t ORDER BY a DESC",  # PostgreSQL sorts NULLs first there: sqlglot adds NULLS LAST
    "SELECT status, count(*) FROM s GROUP BY ALL",
    "SELECT id FROM t QUALIFY row_number() OVER (PARTITION BY id) = 1",
    "SELECT a FROM t WHERE b = $feed",
    "SELECT a FROM t WHERE c LIKE '%x'",
    "SELECT ?::TEXT",
    "SELECT CAST(a AS JSON) FROM t",
    "SELECT len(a) FROM t",
    "SELECT a || b FROM t",
    "SELECT a FROM t; SELECT b FROM t",
    "SELECT * EXCLUDE (a) FROM t",
    "SELECT timestamp '2024-01-01' FROM t",
    "DELETE FROM t WHERE id IN (SELECT unnest(?))",
    "CREATE OR REPLACE TABLE t AS SELECT 1",
    "SELECT count(*) FROM (SELECT 1)",
]


@pytest.mark.parametrize("sql", PLAIN)
def test_plain_sql_skips_sqlglot_and_reads_as_sqlglot_would_write_it(sql):
    """Statements both databases read alike are passed through (no sqlglot import in a step
    that runs only these): the same text sqlglot would give, up to case and spacing."""
    from chitty_pipelines.warehouse.dialect import _plain, transpile

    def norm(statements):
        return [(" ".join(t.lower().replace("exists(", "exists (").split()), n, p) for t, n, p in statements]

    fast = _plain(sql)
    assert fast is not None
    assert norm(fast) == norm(transpile(sql))


@pytest.mark.parametrize("sql", NOT_PLAIN)
def test_sql_that_needs_rewriting_is_never_taken_as_plain(sql):
    from chitty_pipelines.warehouse.dialect import _plain

    assert _plain(sql) is None


def test_the_same_sql_gives_the_same_answers_on_both_backends(tmp_path, pg_url):
    rows = [{"id": f"k{i % 7}", "n": i, "tags": [f"t{i % 3}", "x"]} for i in range(40)]
    queries = [
        "SELECT id, n FROM raw_pgtest.items QUALIFY row_number() OVER (PARTITION BY id ORDER BY n DESC) = 1 "
        "ORDER BY id",
        "SELECT id, count(*) AS c FROM raw_pgtest.items GROUP BY ALL ORDER BY id",
        "SELECT id, list_sort(list(DISTINCT n)) AS ns FROM raw_pgtest.items WHERE id IN (SELECT unnest(?)) "
        "GROUP BY ALL ORDER BY id",
        "SELECT count(*) FROM (SELECT id FROM raw_pgtest.items GROUP BY ALL HAVING count(*) > 1)",
        "SELECT len(tags), len(id) FROM raw_pgtest.items ORDER BY id LIMIT 1",
    ]
    answers = []
    for wh in (Warehouse(tmp_path / "w.duckdb"), Warehouse("unused", url=pg_url)):
        with wh.transaction() as tx:
            tx.upsert(T, rows)
        with wh.connect() as con:
            answers.append(
                [
                    [_plain(r) for r in con.execute(q, [["k1", "k2"]] if "?" in q else None).fetchall()]
                    for q in queries
                ]
            )
    assert answers[0] == answers[1]
    assert answers[1][0] == [(f"k{i}", max(n for n in range(40) if n % 7 == i)) for i in range(7)]


def _plain(row: tuple) -> tuple:
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)


# --- migrations ---------------------------------------------------------------------------------
def _open(url: str) -> None:
    Warehouse("unused", url=url).scalar("SELECT 1")


def test_migrations_are_versioned_and_applied_once_by_concurrent_workers(pg_url):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        pool.map(_open, [pg_url] * 3)
    wh = Warehouse("unused", url=pg_url)
    versions = wh.query("SELECT version FROM ops.schema_migrations ORDER BY version")["version"].tolist()
    assert versions == [v for v, _, _ in MIGRATIONS]
    with wh.backend.connect() as con:
        from chitty_pipelines.warehouse import migrations

        migrations.forget()
        assert migrate(con, wh.backend) == []  # idempotent: nothing left to apply


# --- the op store and pacing in the ops schema ---------------------------------------------------
def _drive(store) -> list:
    t = [datetime(2026, 12, 1, 10, m, tzinfo=UTC) for m in range(6)]
    return [
        store.register_project("p1", "One", "/src/one", None, now=t[0]),
        store.register_project("p1", "One!", None, "git@x:one.git", now=t[1]),
        store.register_session("s1", "claude", "p1", "m1", {"a": 1}, now=t[1]),
        store.register_session("s1", "claude", now=t[2]),
        store.heartbeat("s1", {"b": 2}, now=t[3]),
        store.heartbeat("nope", now=t[3]),
        store.end_session("s1", now=t[4]),
        store.heartbeat("s1", now=t[5]),
        store.end_session("s1", now=t[5]),
        store.projects(),
        store.sessions(),
        store.session("s1"),
        store.remove_project("p1", now=t[5]),
        store.remove_project("p1", now=t[5]),
        store.remove_project("nope", now=t[5]),
        store.projects(),
        store.projects(include_removed=True),
        store.removed_projects(),
        store.register_project("p1", "One again", now=t[5]),
        store.projects(),
    ]


def test_pg_op_store_answers_exactly_like_the_sqlite_one(tmp_path, pg_url):
    assert _drive(PgOpStore(pg_url)) == _drive(OpStore(tmp_path / "ops.sqlite"))


def _pace(url: str, n: int) -> list[float]:
    pacer = PgPacer(10.0, url, "test-api")
    return [pacer.wait() for _ in range(n)]


def test_pacing_is_shared_by_processes_through_the_warehouse(pg_url):
    """Two workers drawing from one 10/s budget: every call gets its own slot, 0.1 s after the
    one before it, whichever process made it."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        stamps = sorted(s for part in pool.starmap(_pace, [(pg_url, 6), (pg_url, 6)]) for s in part)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) == 12 and min(gaps) >= 0.1 - 1e-6, gaps


# --- faults -------------------------------------------------------------------------------------
def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _password_role(dsn: str) -> str:
    """A role that must log in with a password: pg_hba gets a scram line for it (the throwaway
    cluster trusts everyone else)."""
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("DROP ROLE IF EXISTS pw_user")
        con.execute("CREATE ROLE pw_user LOGIN PASSWORD 'right-password-123'")
        hba = con.execute("SHOW hba_file").fetchone()[0]
        text = con.execute("SELECT pg_read_file(%s)", [hba]).fetchone()[0]
        if "pw_user" not in text:
            lines = ["host all pw_user 127.0.0.1/32 scram-sha-256", *text.replace("\t", " ").splitlines()]
            con.execute(
                psycopg.sql.SQL("COPY (SELECT unnest({}::text[])) TO {}").format(
                    psycopg.sql.Literal(lines), psycopg.sql.Literal(hba)
                )
            )
            con.execute("SELECT pg_reload_conf()")
    return with_database(dsn, "postgres", user="pw_user", password="wrong-password-456")


@pytest.mark.parametrize("fault", ["port", "host", "password"])
def test_a_wrong_url_fails_fast_naming_the_variable_never_the_password(postgres_dsn, fault):
    secret = "wrong-password-456"
    if fault == "port":
        url = f"postgresql://chitty:{secret}@127.0.0.1:{_closed_port()}/db"
    elif fault == "host":
        url = f"postgresql://chitty:{secret}@no-such-host.invalid:5432/db"
    else:
        url = _password_role(postgres_dsn)
    started = time.monotonic()
    with pytest.raises(WarehouseUnavailable) as info:
        Warehouse("unused", url=url).scalar("SELECT 1")
    message = str(info.value)
    assert "CHITTY_WAREHOUSE_URL" in message and secret not in message, message
    assert describe_url(url) in message
    # a configuration error is not retried (a restart of a server already reached is)
    assert time.monotonic() - started < 30
    if fault == "password":
        assert "password authentication failed" in message


def test_the_cli_names_the_variable_and_hides_the_password(tmp_path):
    secret = "hunter2-pw-789"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CHITTY_HOME": str(tmp_path / "home"),
        "CHITTY_WAREHOUSE_URL": f"postgresql://chitty:{secret}@127.0.0.1:{_closed_port()}/db?sslmode=disable",
    }
    shown = subprocess.run(
        [sys.executable, "-m", "chitty_pipelines.cli", "env"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stderr.startswith("warehouse: PostgreSQL 127.0.0.1:"), shown.stderr[:300]
    status = subprocess.run(
        [sys.executable, "-m", "chitty_pipelines.cli", "status", "--no-health"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode != 0
    assert "CHITTY_WAREHOUSE_URL" in status.stdout + status.stderr
    assert secret not in shown.stdout + shown.stderr + status.stdout + status.stderr


@pytest.fixture
def own_cluster():
    """A private cluster this test may stop and start (never the shared one)."""
    from chitty_pipelines.platforms.neon.fake import _bin_dir, _can_run_binaries, _PrivateCluster

    if _bin_dir() is None or not _can_run_binaries():
        pytest.skip("needs PostgreSQL binaries to restart a server")
    cluster = _PrivateCluster(_bin_dir())
    dsn = cluster.start()
    try:
        yield cluster, dsn
    finally:
        cluster.stop()


def _restart(cluster, down_s: float) -> threading.Thread:
    cluster._run("pg_ctl", "-D", str(cluster.data), "-m", "fast", "-w", "stop")

    def later() -> None:
        time.sleep(down_s)
        opts = f"-p {cluster.port} -k {cluster.tmp} -c fsync=off -c listen_addresses=127.0.0.1"
        cluster._run(
            "pg_ctl", "-D", str(cluster.data), "-o", opts, "-l", str(cluster.tmp / "log"), "-w", "start"
        )

    thread = threading.Thread(target=later)
    thread.start()
    return thread


def _write(wh: Warehouse, ids: range, position: int) -> None:
    with wh.transaction("run") as tx:
        tx.upsert(T, [{"id": f"r{i}", "n": i} for i in ids])
        tx.set_cursor("pgtest", "items", "pos", position)
        tx.add_rejects([Reject("pgtest", "items", "src", f"line {position}", "bad")])


def test_a_restart_between_two_writes_is_retried_and_loses_nothing(own_cluster):
    cluster, dsn = own_cluster
    wh = Warehouse("unused", url=dsn)
    _write(wh, range(0, 50), 50)
    thread = _restart(cluster, down_s=2.0)  # the server is down when the next write starts
    _write(wh, range(40, 100), 100)  # overlaps the first write: upserted, not duplicated
    thread.join()
    assert wh.scalar("SELECT count(*) FROM raw_pgtest.items") == 100
    assert wh.scalar("SELECT count(DISTINCT id) FROM raw_pgtest.items") == 100
    assert wh.cursors("pgtest", "items") == {"pos": 100}
    assert wh.scalar("SELECT count(*) FROM ops.rejects") == 2


def test_a_restart_inside_a_transaction_rolls_back_and_the_rerun_completes(own_cluster):
    cluster, dsn = own_cluster
    wh = Warehouse("unused", url=dsn)
    _write(wh, range(0, 10), 10)
    with pytest.raises(psycopg.OperationalError), wh.transaction("run") as tx:
        tx.upsert(T, [{"id": f"r{i}", "n": -i} for i in range(5, 20)])
        tx.set_cursor("pgtest", "items", "pos", 20)
        _restart(cluster, down_s=1.0).join()
        tx.upsert(T, [{"id": "late", "n": 0}])
    assert wh.cursors("pgtest", "items") == {"pos": 10}  # nothing of the lost transaction
    assert wh.scalar("SELECT count(*) FROM raw_pgtest.items") == 10
    _write(wh, range(5, 20), 20)  # the step's retry
    assert wh.scalar("SELECT count(*) FROM raw_pgtest.items") == 20
    assert wh.cursors("pgtest", "items") == {"pos": 20}
