"""The parallel parse path (worker processes, Arrow units) must write exactly what the serial
path writes: same rows in every table, same rejects, same cursors, exact tokens; on a first
sync and on a resumed one."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from chitty_pipelines.kernel.local_files import LocalSessionsResource
from chitty_pipelines.platforms.claude_code.streams import ClaudeSync
from chitty_pipelines.warehouse import Warehouse
from tests.import_probe import imported_by
from tests.warehouse_support import warehouse_at

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.local_ingest.generate import generate  # noqa: E402

TABLES = ("claude_sessions", "claude_messages", "claude_tool_calls", "claude_todos", "claude_subagents")
BAD_LINES = [
    b'{"type": "user", "uuid": "t1", "message": {"role": "us',
    b"42",
    b"[1]",
    b'{"silly": "this"}',
    b'{"type":"user","uuid":"u8","message":{"role":"user","content":"caf\xe9 \xff"}}',
]


def _sync(wh: Warehouse, res: LocalSessionsResource, **kwargs) -> ClaudeSync:
    sync = ClaudeSync(wh, "run", False, lambda _: None, **kwargs)
    sync.sync_transcripts(list(res.claude_transcripts()))
    sync.derive()
    return sync


def _snapshot(wh: Warehouse) -> dict[str, list[str]]:
    out = {}
    with wh.connect() as con:
        for t in TABLES:
            out[t] = sorted(map(repr, con.execute(f"SELECT * FROM raw_local.{t}").fetchall()))
        out["rejects"] = sorted(
            map(repr, con.execute("SELECT source, location, reason, excerpt FROM ops.rejects").fetchall())
        )
    out["cursors"] = sorted(map(repr, wh.cursors("claude_code", "claude_code").items()))
    return out


def test_parallel_parse_writes_exactly_what_serial_does(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    manifest = generate(corpus, 2.0, seed=5, resume_rate=0.15, gateway_rate=0.2, rare=4)
    bad = corpus / "projects" / "-bad" / "bad.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\n".join(BAD_LINES) + b"\n")
    res = LocalSessionsResource(claude_homes=[str(corpus)], exports_dir=str(tmp_path / "none"))
    serial_wh, parallel_wh = (
        warehouse_at(tmp_path / "serial.duckdb"),
        warehouse_at(tmp_path / "parallel.duckdb"),
    )
    # small batches: many units on both workers, several commits, and the largest files
    # (over a batch) still read serially in blocks
    small = {"batch_bytes": 200_000}
    serial = _sync(serial_wh, res, workers=1, **small)
    parallel = _sync(parallel_wh, res, workers=2, parallel_min_bytes=0, **small)
    assert serial.stats.batches > 3 and parallel.stats.batches > 3
    transcripts = sum(p.stat().st_size for p in corpus.rglob("*.jsonl"))
    assert parallel.stats.bytes_read == serial.stats.bytes_read == transcripts
    assert parallel.stats.rejects == serial.stats.rejects == len(BAD_LINES)
    assert _snapshot(parallel_wh) == _snapshot(serial_wh)
    truth = manifest["true_tokens"]
    got = parallel_wh.query(
        "SELECT sum(input_tokens) i, sum(output_tokens) o, sum(cache_creation_tokens) cc,"
        " sum(cache_read_tokens) cr, sum(total_tokens) t FROM raw_local.claude_sessions"
    ).iloc[0]
    keys = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "total_tokens")
    assert [int(v) for v in got] == [truth[k] for k in keys]

    # grow two files; the resumed reads go through the workers too, and still match
    mains = sorted(corpus.glob("projects/*/*.jsonl"))[:2]
    for path in mains:
        last = orjson.loads(path.read_bytes().splitlines()[-1])
        last["uuid"] = f"{last.get('uuid')}-more"
        with path.open("ab") as fh:
            fh.write(orjson.dumps(last) + b"\n" + BAD_LINES[1] + b"\n")
    serial = _sync(serial_wh, res, workers=1, **small)
    parallel = _sync(parallel_wh, res, workers=2, parallel_min_bytes=0, **small)
    assert parallel.stats.files_read == serial.stats.files_read == 2
    assert _snapshot(parallel_wh) == _snapshot(serial_wh)


def test_scoped_derive_equals_a_full_recompute_across_sessions(tmp_path: Path) -> None:
    """Only the changed sessions (and those sharing a uuid or message id with them) are
    recomputed; after each of five replays of other sessions' largest responses into the
    earliest session (so uuids and message ids are shared across sessions, §1.8 rules 3-5), the
    sessions table must equal recomputing every session from scratch."""
    corpus = tmp_path / "corpus"
    generate(corpus, 1.0, seed=6, resume_rate=0.3, gateway_rate=0.2, rare=4)
    res = LocalSessionsResource(claude_homes=[str(corpus)], exports_dir=str(tmp_path / "none"))
    wh = warehouse_at(tmp_path / "w.duckdb")
    _sync(wh, res, workers=1)
    first_at = wh.query(
        "SELECT source_file, session_id, min(timestamp) AS t FROM raw_local.claude_messages"
        " WHERE file_kind = 'main' GROUP BY ALL ORDER BY t"
    )
    x_file, x_session = first_at.iloc[0]["source_file"], first_at.iloc[0]["session_id"]
    candidates = wh.query(
        "SELECT source_file, line_no FROM raw_local.claude_messages WHERE usage_eligible"
        " AND file_kind = 'main' AND session_id <> ? ORDER BY total_tokens DESC, source_file LIMIT 5",
        [x_session],
    ).values.tolist()
    lines_of_x = "SELECT line_count FROM raw_local.claude_sessions WHERE session_id = ?"
    for y_file, y_line in candidates:
        entry = Path(y_file).read_bytes().splitlines()[int(y_line) - 1]
        with open(x_file, "ab") as fh:
            fh.write(entry.rstrip(b"\r") + b"\n")
        count = wh.scalar(lines_of_x, [x_session])
        sync = _sync(wh, res, workers=1)
        assert sync.stats.files_read == 1 and sync.stats.sessions_touched == {x_session}
        assert wh.scalar(lines_of_x, [x_session]) == count + 1  # the scoped derive ran
        scoped = _snapshot(wh)["claude_sessions"]
        assert ClaudeSync(wh, "run", True, lambda _: None).derive()  # full refresh: every session
        assert _snapshot(wh)["claude_sessions"] == scoped


def test_a_worker_printing_to_stdout_does_not_break_the_results(tmp_path: Path, monkeypatch) -> None:
    """Workers send results over a pipe of their own: noise on their stdout (here a
    sitecustomize that prints at start-up and at every pickle load, as a profiler attached to a
    worker once did) used to land inside the pickle stream ("invalid load key")."""
    corpus = tmp_path / "corpus"
    manifest = generate(corpus, 0.5, seed=8)
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    (noisy / "sitecustomize.py").write_text(
        "import builtins, pickle, sys\n"
        "print('7 noise at start-up')\n"
        "_load = pickle.load\n"
        "def load(*a, **k):\n"
        "    sys.stdout.write('7 noise mid-stream\\n'); sys.stdout.flush()\n"
        "    return _load(*a, **k)\n"
        "pickle.load = load\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{noisy}:{ROOT}")
    res = LocalSessionsResource(claude_homes=[str(corpus)], exports_dir=str(tmp_path / "none"))
    wh = warehouse_at(tmp_path / "w.duckdb")
    sync = _sync(wh, res, workers=2, parallel_min_bytes=0, batch_bytes=100_000)
    assert sync.stats.files_read == len(list(corpus.rglob("*.jsonl")))
    total = wh.scalar("SELECT sum(total_tokens) FROM raw_local.claude_sessions")
    assert int(total) == manifest["true_tokens"]["total_tokens"]


def test_a_parse_worker_imports_neither_dagster_nor_the_warehouse() -> None:
    """A worker is a fresh interpreter per sync: importing Dagster would cost it ~0.5-1 s of
    start-up (the warehouse package imports Dagster through config), on every core."""
    heavy = ("dagster", "chitty_pipelines.warehouse", "duckdb", "pandas")
    assert imported_by("import chitty_pipelines.platforms.claude_code.parse_worker", heavy) == []


def test_a_parse_worker_converts_to_arrow_without_importing_pandas() -> None:
    """pyarrow imports pandas on its first ``pa.array()`` unless told pandas is absent; the
    worker tells it, and the tables come out the same."""
    code = """
from chitty_pipelines.platforms.claude_code.parse_worker import without_pandas
without_pandas()
from chitty_pipelines.platforms.claude_code.arrow_rows import RESULTS_SCHEMA, columns_to_arrow
rows = [("s1", "t1", True, "2026-01-02T03:04:05.123Z", None), ("s2", "t2", False, None, "a1")] * 5000
table = columns_to_arrow(RESULTS_SCHEMA, rows, pandas_free=False)
assert table.num_rows == 10000 and table.column("is_error").to_pylist()[:2] == [True, False]
assert str(table.column("result_at")[0]) == "2026-01-02 03:04:05.123000+00:00", table.column("result_at")[0]
"""
    assert imported_by(code, ("pandas",)) == []
    # The probe can see pandas at all: without the call, the same conversion imports it.
    assert imported_by(code.replace("without_pandas()\n", "", 1), ("pandas",)) == ["pandas"]
