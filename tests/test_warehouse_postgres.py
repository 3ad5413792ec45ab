"""The PostgreSQL warehouse (CHITTY_WAREHOUSE_URL) on a real throwaway cluster: SQL written once in
DuckDB's dialect, migrations, the op store and pacing in the ``ops`` schema, fail-fast
configuration errors that never print the password, and a server restart between writes.

These run in the default (DuckDB) suite too: they start or reuse a PostgreSQL of their own."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from postgres_harness import fresh_database, with_database
from psycopg.conninfo import conninfo_to_dict

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


def test_a_read_only_role_can_query_and_show_status(pg_url, tmp_path):
    """An analyst's role with SELECT only (no CREATE on the database) opens a warehouse a writer
    has set up: `sql` and `status` work. Before, every open ran `CREATE SCHEMA IF NOT EXISTS ops`
    first and both failed with `permission denied for database`."""
    wh = Warehouse("unused", url=pg_url)
    with wh.transaction() as tx:
        tx.ensure(T)
        tx.upsert(T, [{"id": "a", "n": 1, "tags": ["x"]}])
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"CREATE ROLE {role} LOGIN")
        con.execute(f"GRANT USAGE ON SCHEMA ops, unified, raw_pgtest TO {role}")
        con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA ops, unified, raw_pgtest TO {role}")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CHITTY_HOME": str(tmp_path / "home"),
        "CHITTY_OFFLINE": "1",
        "CHITTY_WAREHOUSE_URL": with_database(pg_url, conninfo_to_dict(pg_url)["dbname"], user=role),
    }
    try:
        for args in (["sql", "SELECT n FROM raw_pgtest.items", "--csv"], ["status", "--no-health"]):
            done = subprocess.run(
                [sys.executable, "-m", "chitty_pipelines.cli", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, (args, done.stdout[-1500:], done.stderr[-1500:])
        assert done.stdout.startswith("**chitty-pipelines status (PostgreSQL"), done.stdout[:300]
        # syncall needs a writer: said once, before any run (was each platform's own failure,
        # `permission denied for table sync_log (configured by CLAUDE_HOME ...)`)
        sync = subprocess.run(
            [sys.executable, "-m", "chitty_pipelines.cli", "syncall"],
            env={**env, "CLAUDE_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        said = sync.stdout + sync.stderr
        assert sync.returncode == 1 and "may not write the PostgreSQL warehouse" in said, said[-2000:]
        assert "sync_platforms" not in said and "sync_unified" not in said, said[-2000:]
    finally:
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(f"DROP OWNED BY {role}")
            con.execute(f"DROP ROLE {role}")


def test_status_warns_of_the_duckdb_warehouse_a_switch_left_behind(pg_url, tmp_path):
    """A laptop that synced into DuckDB, then set CHITTY_WAREHOUSE_URL: status said `never` for
    every platform and nothing about warehouse.duckdb, whose rows (transcripts Claude Code has
    deleted since) PostgreSQL will never get. Now a warning names the file, as long as it exists."""
    home = tmp_path / "home"
    Warehouse(home / "warehouse.duckdb").scalar("SELECT 1")  # what the laptop's syncs left
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CHITTY_HOME": str(home),
        "CHITTY_OFFLINE": "1",
        "CLAUDE_HOME": str(tmp_path),
        "CHITTY_WAREHOUSE_URL": pg_url,
    }

    def warnings() -> list[dict]:
        done = subprocess.run(
            [sys.executable, "-m", "chitty_pipelines.cli", "status", "--no-health", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return [w for w in json.loads(done.stdout)["warnings"] if w["source"] == "warehouse"]

    [warning] = warnings()
    assert str(home / "warehouse.duckdb") in warning["message"] and "not copied" in warning["message"]
    (home / "warehouse.duckdb").rename(tmp_path / "moved-away.duckdb")
    assert warnings() == []


def _session_file(home, session: str) -> None:
    from chitty_pipelines.platforms.claude_code import fake

    lines = [
        fake.user(f"{session}-u", None, session, 1, "hello"),
        fake.assistant(
            f"{session}-a",
            f"{session}-u",
            session,
            2,
            f"{session}-m",
            None,
            [fake.text("hi")],
            fake.usage(10, 5),
        ),
    ]
    fake.write_jsonl(home / "projects" / "-work-app" / f"{session}.jsonl", lines)


def _waiting_on_a_lock(url: str, count: int) -> bool:
    with psycopg.connect(url) as con:
        waiting = con.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]
    return waiting >= count


def test_two_machines_syncing_claude_code_at_once_lose_no_session(pg_url, tmp_path):
    """Machine A derives claude_sessions while machine B commits a new transcript. A read the
    sessions to recompute before its transaction and then cleared the flag, B's among them, so B's
    own derive found nothing to do: B's session never reached raw_local.claude_sessions (the
    default schedule starts every machine's syncall at the same minute). Interleaved here
    exactly: a third connection holds claude_sessions so that A waits inside its derive."""
    from chitty_pipelines.kernel.local_files import LocalSessionsResource
    from chitty_pipelines.platforms.claude_code.streams import ClaudeSync

    homes = {m: tmp_path / m for m in ("a", "b")}
    wh = Warehouse("unused", url=pg_url)

    def machine(name: str) -> ClaudeSync:
        return ClaudeSync(wh, f"run-{name}", False, lambda _: None, workers=1)

    def files(name: str) -> list:
        return list(
            LocalSessionsResource(
                claude_homes=[str(homes[name])], exports_dir=str(tmp_path)
            ).claude_transcripts()
        )

    _session_file(homes["a"], "first")
    first = machine("a")
    first.sync_transcripts(files("a"))
    assert first.derive()
    _session_file(homes["a"], "from-a")
    _session_file(homes["b"], "from-b")
    a, b = machine("a"), machine("b")
    a.sync_transcripts(files("a"))  # flags from-a

    holder = psycopg.connect(pg_url)
    holder.execute("LOCK TABLE raw_local.claude_sessions IN ACCESS EXCLUSIVE MODE")
    errors: list[BaseException] = []

    def run(step) -> None:
        try:
            step()
        except BaseException as exc:  # reported below
            errors.append(exc)

    derive_a = threading.Thread(target=run, args=(a.derive,))
    sync_b = threading.Thread(target=run, args=(lambda: b.sync_transcripts(files("b")),))
    try:
        derive_a.start()
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock(pg_url, 1):
            assert time.monotonic() < deadline, "machine A's derive never reached claude_sessions"
            time.sleep(0.05)
        sync_b.start()  # B's batch commits, or queues behind A's derive
        deadline = time.monotonic() + 30
        while sync_b.is_alive() and not _waiting_on_a_lock(pg_url, 2):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        holder.rollback()
        holder.close()
        derive_a.join(60)
        sync_b.join(60)
    assert not errors, errors
    b.derive()
    got = wh.query("SELECT session_id FROM raw_local.claude_sessions ORDER BY 1")["session_id"].tolist()
    assert got == ["first", "from-a", "from-b"]


@pytest.mark.slow
def test_two_machines_running_syncall_at_once_build_one_consistent_unified_layer(pg_url, tmp_path):
    """Two machines, each with its own Claude Code sessions, run `chitty-sync syncall` at the same
    moment against one PostgreSQL warehouse (the default schedule starts them at the same minute),
    so their unified runs overlap. Every session of both reaches unified.sessions with a topic and
    an id of its own, and a later syncall on one machine finds nothing left to write."""
    import os

    from tests.local_fixtures import write_local_corpus

    def more_sessions(claude, n: int) -> None:
        src = sorted(claude.glob("projects/*/*.jsonl"))[0]
        for _ in range(n):
            new = str(uuid.uuid4())
            (src.parent / f"{new}.jsonl").write_text(src.read_text().replace(src.stem, new))

    def one(sql: str) -> tuple:
        with psycopg.connect(pg_url) as con:
            return con.execute(sql).fetchone()

    base = {k: v for k, v in os.environ.items() if not k.startswith(("CHITTY_", "CLAUDE_", "DAGSTER_"))}
    envs = []
    for name in ("a", "b"):
        claude = write_local_corpus(tmp_path / name)["claude"]
        if name == "b":  # the demo corpus's session ids, renamed: machine B's sessions are its own
            for path in sorted(claude.glob("projects/*/*.jsonl")):
                new = path.with_name(f"{uuid.uuid4()}.jsonl")
                new.write_text(path.read_text().replace(path.stem, new.stem))
                path.unlink()
        env = {**base, "CHITTY_HOME": str(tmp_path / name / "home"), "CLAUDE_HOME": str(claude)}
        env.update(CHITTY_WAREHOUSE_URL=pg_url, CHITTY_EXPORTS_DIR=str(tmp_path / name / "no-exports"))
        envs.append((claude, env))
    cli = [sys.executable, "-m", "chitty_pipelines.cli", "syncall"]
    for n in (3, 4):
        for claude, _env in envs:
            more_sessions(claude, n)
        procs = [
            subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _claude, env in envs
        ]
        outs = [p.communicate(timeout=300)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-2000:] for o in outs)
        (raw,) = one("SELECT count(*) FROM raw_local.claude_sessions")
        unified = one("SELECT count(*), count(DISTINCT chitty_id) FROM unified.sessions")
        (topics,) = one("SELECT count(DISTINCT session_key) FROM unified.session_topics")
        assert raw == unified[0] == unified[1] == topics, (raw, unified, topics)
    again = subprocess.run(cli, env=envs[0][1], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    written = [line for line in again.stderr.splitlines() if "unified/" in line and "written=" in line]
    assert written and all(" written=0 " in line for line in written), written


def test_sql_on_a_warehouse_never_synced_says_so(pg_url, tmp_path):
    """The first `sql` after switching to PostgreSQL answered `relation "unified.sessions" does
    not exist (fix the SQL; ...)`: the SQL was right, nothing had been synced there yet."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CHITTY_HOME": str(tmp_path / "home"),
        "CHITTY_WAREHOUSE_URL": pg_url,
    }

    def sql(query: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "chitty_pipelines.cli", "sql", query],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1
        return done.stdout + done.stderr

    said = sql("SELECT * FROM unified.sessions")
    assert "nothing is synced into the warehouse" in said and "chitty-sync syncall" in said, said
    with Warehouse("unused", url=pg_url).transaction() as tx:
        tx.ensure(T)
    said = sql("SELECT * FROM unified.no_such_table")
    assert "fix the SQL" in said and "nothing is synced" not in said, said


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


def _drive_hub(store) -> list:
    """Every hub method the sync API calls, with values that differ per call; the write counter
    after each step shows which calls counted as hub writes (a repeat that changed nothing not)."""
    t = [datetime(2026, 12, 1, 10, m, tzinfo=UTC) for m in range(6)]
    view = lambda rows: sorted((r["list_id"][-1], r["position"], r["content"], r["status"]) for r in rows)  # noqa: E731
    out: list = []

    def step(value) -> None:
        out.append((value, store.write_stamp()))

    step(store.add_token("ci", "hash-1", "write"))
    step(store.add_token("ci", "hash-2", "read"))  # refused: an active token has that name
    step(store.touch_due("ci"))
    store.touch_token("ci")
    step(store.touch_due("ci"))  # at most once a minute per token and process
    step([(r["name"], r["token_hash"], r["scope"], r["revoked_at"]) for r in store.tokens()])
    step(store.revoke_token("ci").message)
    step(store.revoke_token("ci").message.startswith("already revoked at "))
    step(store.add_token("ci", "hash-3", "admin"))  # a revoked name can be used again
    step(store.active_token_hashes())
    step(store.ensure_project("p1"))
    step(store.ensure_project("p1"))
    for i, sid in enumerate(("s1", "s2", "s3")):
        step(store.register_session(sid, "claude", "p1" if i < 2 else None, now=t[i]))
    step(store.end_session("s3", now=t[3]))
    step(store.sessions_page(2, 0, project_key="p1"))
    step(store.sessions_page(10, 1))
    step(store.session_counts(t[1].isoformat()))
    items = [
        {"content": "a", "status": "pending"},
        {"content": "b", "status": "completed", "active_form": "B"},
    ]
    step(store.add_todo_list("p1", "s1", items, "claude", view, now=t[4]))
    step(store.add_todo_list("p1", "s2", items[:1], None, view, now=t[5]))
    step(sorted((r["list_id"], r["position"], r["ai_tool"], r["active_form"]) for r in store.todo_rows("p1")))
    step(store.todo_fingerprint())
    step(store.clear_todos("p1"))
    step(store.todo_fingerprint())
    record = {"conversation_id": "c1", "category": "dev", "subcategories": ["py"], "confidence": 0.1 + 0.2}
    step(store.upsert_conversation(record, now=t[0]))
    step(store.upsert_conversation({"conversation_id": "c1", "category": "ops", "confidence": 0.5}, now=t[1]))
    step(store.conversations("ops"))
    step(store.conversation("nope"))
    step(store.delete_conversation("c1"))
    step(store.delete_conversation("c1"))
    store.add_run("r1", "sync_gemini", "gemini", "ci", 42)
    step((store.run("r1")["pid"], [r["run_id"] for r in store.runs()], store.run("nope")))
    step(store.delete_project("p1"))
    step(store.project("p1"))
    return [(_no_created_at(v), n) for v, n in out]


_drive_hub_final_stamp = 9  # the write counter after _drive_hub (the SQLite store agrees above)


def _no_created_at(value):
    """Token creation times are the wall clock (no ``now`` parameter): compare them as present."""
    if isinstance(value, list):
        return [_no_created_at(v) for v in value]
    if isinstance(value, dict) and "created_at" in value:
        return {**value, "created_at": bool(value["created_at"])}
    return value


@pytest.mark.parametrize("keep_open", [False, True], ids=["per-call", "kept"])
def test_pg_hub_store_answers_exactly_like_the_sqlite_one(tmp_path, pg_url, keep_open):
    """The hub store on PostgreSQL (``chitty-sync serve`` with CHITTY_WAREHOUSE_URL) gives the same
    answers and the same write counter as the SQLite one, call for call; ``keep_open`` (the
    server's kept connection per thread) too, and it never sits inside a transaction."""
    from psycopg.pq import TransactionStatus

    from chitty_pipelines.warehouse.hubstore import Hub, HubStore

    pg = HubStore(url=pg_url, keep_open=keep_open)
    assert isinstance(pg, Hub) and pg.backend == "postgres" and "password" not in str(pg.path)
    assert _drive_hub(pg) == _drive_hub(HubStore(tmp_path / "hub.sqlite", keep_open=keep_open))
    if keep_open:
        kept = pg._db._local.con
        assert kept.info.transaction_status == TransactionStatus.IDLE
        duplicate = (
            "INSERT INTO {api_runs} (run_id, job_name, target, submitted_at) VALUES ('r1', 'j', 't', 'x')"
        )
        # a failed write rolls back whole
        with pytest.raises(psycopg.errors.UniqueViolation), pg._write() as con:
            con.execute("UPDATE {hub_meta} SET value = value + 100")
            con.execute(duplicate)
        assert pg._db._local.con is kept and kept.info.transaction_status == TransactionStatus.IDLE
        assert pg.write_stamp() == _drive_hub_final_stamp
        kept.close()  # the server dropped it: the next call opens a new one
        assert pg.run("r1")["pid"] == 42 and pg._db._local.con is not kept
    with psycopg.connect(pg_url) as con:  # it lives in the warehouse's ops schema, nowhere else
        assert con.execute("SELECT count(*) FROM ops.api_tokens").fetchone()[0] == 1


def _hub_writer(url: str, worker: int) -> None:
    from chitty_pipelines.warehouse.hubstore import HubStore

    store = HubStore(url=url)
    for i in range(10):
        store.add_todo_list("p", f"s{worker}", [{"content": f"{worker}-{i}", "status": "pending"}], None, len)


def test_pg_hub_writers_in_several_processes_queue_and_lose_nothing(pg_url):
    """Todo lists take their sequence number inside the write transaction: writers in three
    processes never collide on a list id, and every write is counted once."""
    from chitty_pipelines.warehouse.hubstore import HubStore

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        pool.starmap(_hub_writer, [(pg_url, w) for w in range(3)])
    store = HubStore(url=pg_url)
    rows = store.todo_rows("p")
    assert len(rows) == 30 and len({r["list_id"] for r in rows}) == 30
    assert store.write_stamp() == 30


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


@pytest.mark.parametrize("url", ["foo://x", "mysql://chitty:wrong-password-456@db.example.com/db"])
def test_an_unparsable_url_names_the_variable_never_the_password(url):
    # psycopg raises ProgrammingError (not OperationalError) for these: every step of a run
    # launched from the UI crashed with its traceback, naming no variable.
    with pytest.raises(WarehouseUnavailable) as info:
        Warehouse("unused", url=url).scalar("SELECT 1")
    message = str(info.value)
    assert "CHITTY_WAREHOUSE_URL is not a PostgreSQL connection string" in message, message
    assert "unset it for DuckDB" in message and "wrong-password-456" not in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("not a url password=hunter2 pw-tail-789", "neither a postgresql:// URL nor key=value pairs"),
        ("host=127.0.0.1 sslmod=require password=pw-tail-789", 'invalid connection option "sslmod"'),
    ],
)
def test_a_string_that_is_no_connection_string_names_the_variable(url, shown):
    """Was `✗ ProgrammingError: missing "=" after "pw-tail-789" in connection info string`: no
    variable named, and the piece quoted may be part of the password."""
    with pytest.raises(WarehouseUnavailable) as info:
        Warehouse("unused", url=url).scalar("SELECT 1")
    message = str(info.value)
    assert message.startswith("CHITTY_WAREHOUSE_URL is not a PostgreSQL connection string"), message
    assert shown in message and "pw-tail-789" not in message and "hunter2" not in message, message


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


# --- a few Python rows: one INSERT ... VALUES (backend.upsert_rows) --------------------------------
TYPED = TableSpec(
    "raw_pgtest",
    "typed",
    cols(
        ("id", "VARCHAR"),
        ("n", "BIGINT"),
        ("x", "DOUBLE"),
        ("ok", "BOOLEAN"),
        ("at", "TIMESTAMPTZ"),
        ("wall", "TIMESTAMP"),
        ("day", "DATE"),
        ("amount", "DECIMAL(10,2)"),
        ("tags", "VARCHAR[]"),
        ("doc", "JSON"),
    ),
    ("id",),
)


def test_python_rows_land_as_through_arrow_whatever_the_session_time_zone(postgres_dsn, monkeypatch):
    """Plain Python rows go to PostgreSQL as one INSERT ... VALUES (no Arrow, temp table or
    COPY); what lands is what the Arrow path lands, the last row of a key winning, also with a
    session time zone that is not UTC (naive times are UTC, as Arrow takes them). Values that are
    not plain for their column (numpy's int64, a dict) still go through Arrow."""
    import numpy as np

    from chitty_pipelines.warehouse.backend import PostgresBackend

    naive = datetime(2024, 5, 1, 12, 30, 15, 123456)
    aware = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    rows = [
        {"id": "a", "n": 1, "x": 0.5, "ok": True, "at": naive, "wall": aware, "day": naive.date(),
         "amount": Decimal("12.34"), "tags": ["p", None], "doc": '{"k": 1}'},
        {"id": "b", "n": None, "x": 2, "ok": False, "at": naive, "wall": aware, "tags": [],
         "day": naive.date(), "amount": Decimal("0.50"), "doc": "[]"},
        {"id": "a", "n": 2, "x": 1.5, "ok": False, "at": aware, "wall": naive, "tags": ["q", 'x"y']},
    ]  # fmt: skip
    arrow_path = []
    real_upsert = PostgresBackend.upsert

    def counted(self, con, table, batch):
        arrow_path.append(batch.num_rows)
        return real_upsert(self, con, table, batch)

    monkeypatch.setattr(PostgresBackend, "upsert", counted)
    landed = []
    for values in (True, False):
        if not values:  # the Arrow path only, as before
            monkeypatch.setattr(PostgresBackend, "upsert_rows", lambda *_a: False)
        with fresh_database(postgres_dsn, prefix="rows") as url:
            wh = Warehouse("unused", url=url)
            with wh.transaction() as tx:
                tx.con.raw.execute("SET LOCAL TIME ZONE 'America/New_York'")
                assert tx.upsert(TYPED, rows) == 3
                assert tx.upsert(TYPED, [{"id": "c", "n": np.int64(7), "doc": None}]) == 1
            with psycopg.connect(url) as con:
                con.execute("SET TIME ZONE 'UTC'")
                landed.append(con.execute("SELECT * FROM raw_pgtest.typed ORDER BY id").fetchall())
    # with VALUES: only numpy's int64 went through Arrow; without: all three batches
    assert arrow_path == [1, 3, 1]
    assert landed[0] == landed[1]
    a, b, c = landed[0]
    # the last row of a key replaces the whole row
    assert a == ("a", 2, 1.5, False, aware, naive, None, None, ["q", 'x"y'], None)
    assert b == ("b", None, 2.0, False, aware, naive, naive.date(), Decimal("0.50"), [], "[]")
    assert c[:2] == ("c", 7)
