"""``chitty-sync syncall`` as a user runs it: only configured platforms, a failure that stays where
it happened, and platforms in parallel processes giving the same tables as one after the other."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.local_fixtures import write_local_corpus
from tests.warehouse_support import open_warehouse

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "chitty_pipelines.cli"]


def _closed_port() -> int:
    with socket.socket() as s:  # bound then released: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(tmp_path: Path, new_warehouse_url) -> dict[str, str]:
    paths = write_local_corpus(tmp_path)
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("CHITTY_", "CLAUDE_", "DAGSTER_", "NEON_", "NOTION_", "GITHUB_", "CLOUDFLARE_", "DRIVE_")
        )
    }
    out = {
        **base,
        "CHITTY_HOME": str(tmp_path / "home"),
        "CLAUDE_HOME": str(paths["claude"]),
        "CHITTY_EXPORTS_DIR": str(paths["exports"]),
    }
    url = new_warehouse_url()  # --warehouse=postgres: a private database; else DuckDB under CHITTY_HOME
    if url:
        out["CHITTY_WAREHOUSE_URL"] = url
    return out


def _tables(env: dict[str, str]) -> dict[str, list]:
    with open_warehouse(env).connect() as con:
        out = {}
        for table, key in (
            ("raw_local.claude_sessions", "session_id"),
            ("raw_local.claude_messages", "source_file, line_no"),
            ("raw_local.chatgpt_messages", "node_id"),
            ("unified.sessions", "session_key"),
        ):
            out[table] = [tuple(r) for r in con.execute(f"SELECT {key} FROM {table} ORDER BY 1").fetchall()]
        return out


def _steps(env: dict[str, str], job: str) -> set[str]:
    with dg.DagsterInstance.from_config(str(Path(env["CHITTY_HOME"]) / "dagster")) as instance:
        (record,) = instance.get_run_records(filters=dg.RunsFilter(job_name=job), limit=1)
        return {s.step_key for s in instance.get_run_step_stats(record.dagster_run.run_id)}


def test_a_failing_platform_fails_alone_and_is_named_last(env):
    env = {
        **env,
        "NOTION_TOKEN": "secret_not_a_real_token",
        "NOTION_BASE_URL": f"http://127.0.0.1:{_closed_port()}",
        "NOTION_DATABASES": "0123456789abcdef0123456789abcdef",
    }
    run = subprocess.run([*CLI, "syncall"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-4:]
    assert "syncall failed" in last[-1]
    # Nothing listens at NOTION_BASE_URL: that is the variable named, and no other one after it
    # (it used to end "(configured by NOTION_TOKEN)", pointing at a token that was never tried).
    line = next(line for line in last if "notion failed" in line)
    assert "check NOTION_BASE_URL" in line and "NOTION_TOKEN" not in line
    assert "Traceback" not in run.stderr
    # The other platforms synced, and the unified layer ran on them all the same.
    tables = _tables(env)
    # 2 Claude Code sessions, 1 ChatGPT conversation, 1 Gemini session (tests/local_fixtures).
    assert len(tables["raw_local.claude_sessions"]) == 2 and len(tables["unified.sessions"]) == 4
    assert "secret_not_a_real_token" not in run.stdout + run.stderr
    # The retries before the failure are in the run's event log (the Dagster UI's run page), not
    # only on the terminal, and printed once (from the stored event, not also by Python's logging).
    with dg.DagsterInstance.from_config(str(Path(env["CHITTY_HOME"]) / "dagster")) as instance:
        (record,) = instance.get_run_records(filters=dg.RunsFilter(job_name="sync_platforms"), limit=1)
        retries = [
            e for e in instance.all_logs(record.dagster_run.run_id)
            if e.user_message and "notion databases.retrieve failed (ConnectError)" in e.user_message
        ]  # fmt: skip
    assert retries and all(e.step_key == "notion_sync" and e.level == 30 for e in retries), retries
    assert "attempt 1/6; retrying" in retries[0].user_message
    assert run.stderr.count("attempt 1/6; retrying") == 1, run.stderr[-3000:]


def test_the_cli_instance_file_is_written_upgraded_or_left_alone(tmp_path: Path) -> None:
    """A new home gets the CLI's dagster.yaml (managed loggers included); a home holding what an
    earlier version wrote is brought up to it; a file the user wrote is never touched."""
    from chitty_pipelines.cli.runner import ensure_instance_folder

    new, earlier, mine = tmp_path / "new", tmp_path / "earlier", tmp_path / "mine"
    ensure_instance_folder(new)
    text = (new / "dagster.yaml").read_text()
    assert "managed_python_loggers:\n    - chitty_pipelines" in text and "enabled: false" in text
    earlier.mkdir()
    before = "telemetry:\n  enabled: false\npython_logs:\n  python_log_level: INFO\n"
    (earlier / "dagster.yaml").write_text(before)
    ensure_instance_folder(earlier)
    assert (earlier / "dagster.yaml").read_text() == text
    mine.mkdir()
    (mine / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    ensure_instance_folder(mine)
    assert (mine / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"


def test_unconfigured_platforms_are_not_steps(env):
    run = subprocess.run([*CLI, "syncall"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "not configured (not synced): neon" in run.stderr.replace("\n", " ")
    # The three local AI tools: one step each, checks inside it; no step of any API platform.
    assert _steps(env, "sync_platforms") == {"claude_code_transcripts", "chatgpt_exports", "gemini_activity"}


def test_parallel_platforms_give_the_same_tables_as_sequential(env, tmp_path, new_warehouse_url):
    sequential = {**env, "CHITTY_HOME": str(tmp_path / "seq"), "CHITTY_MAX_CONCURRENT_PLATFORMS": "1"}
    parallel = {**env, "CHITTY_HOME": str(tmp_path / "par"), "CHITTY_MAX_CONCURRENT_PLATFORMS": "2"}
    if env.get("CHITTY_WAREHOUSE_URL"):
        parallel["CHITTY_WAREHOUSE_URL"] = new_warehouse_url()
    for e in (sequential, parallel):
        run = subprocess.run([*CLI, "syncall"], env=e, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
    assert _tables(sequential) == _tables(parallel)
    with dg.DagsterInstance.from_config(str(tmp_path / "par" / "dagster")) as instance:
        (record,) = instance.get_run_records(filters=dg.RunsFilter(job_name="sync_platforms"), limit=1)
        assert "multiprocess" in str(record.dagster_run.run_config.get("execution", {}))


def test_a_killed_run_is_marked_failed_by_the_next_command(env, tmp_path):
    """kill -9 leaves no one to end the run; the next command on this machine finds its process
    gone, marks the run failed, and status shows it."""
    only_notion = {k: v for k, v in env.items() if k not in ("CLAUDE_HOME", "CHITTY_EXPORTS_DIR")}
    only_notion.update(
        HOME=str(tmp_path / "nohome"),  # no ~/.claude: Claude Code is not configured
        CHITTY_EXPORTS_DIR=str(tmp_path / "no-exports"),
        NOTION_TOKEN="secret_x",
        NOTION_BASE_URL=f"http://127.0.0.1:{_closed_port()}",  # retried with backoff: the run lasts
        NOTION_DATABASES="0123456789abcdef0123456789abcdef",
    )
    home = Path(only_notion["CHITTY_HOME"]) / "dagster"
    # The production instance's pool limits (dagster.yaml.example): the killed step holds the
    # notion slot, which the next command must free or every later notion run would wait forever.
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n"
    )
    proc = subprocess.Popen(
        [*CLI, "syncall"], env=only_notion, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        run_id = None
        claimed: list = []
        deadline = time.monotonic() + 120
        while not (run_id and claimed) and time.monotonic() < deadline:
            time.sleep(0.5)
            if not (home / ".chitty-instance.lock").exists():
                continue
            # The CLI creates the instance's schema under this lock; take it too before looking.
            with (home / ".chitty-instance.lock").open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                with dg.DagsterInstance.from_config(str(home)) as instance:
                    started = instance.get_run_records(
                        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]), limit=1
                    )
                    claimed = instance.event_log_storage.get_concurrency_info("notion").claimed_slots
            run_id = started[0].dagster_run.run_id if started else None
        assert run_id, "the run never started"
        assert claimed, "the notion step never claimed its pool slot"
    finally:
        proc.kill()  # SIGKILL: nothing in the process gets to end the run
        proc.wait(timeout=30)
    status = subprocess.run(
        [*CLI, "status", "--no-health"], env=only_notion, capture_output=True, text=True, timeout=300
    )
    assert status.returncode == 0, status.stderr[-2000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info("notion").claimed_slots == []
    assert "run sync_platforms: FAILURE" in status.stdout and run_id[:8] in status.stdout


@pytest.mark.duckdb_only("PostgreSQL writes go through Arrow and COPY")
def test_a_small_syncall_imports_neither_pandas_nor_sklearn(env: dict[str, str]) -> None:
    """Importing pandas costs 0.15-0.4 s, a tenth of a syncall that finds nothing new; the local
    platforms, the unified steps and their checks read and write without it (issue 11). The
    first syncall may import it (Arrow conversions of many rows). A syncall that finds nothing
    new imports neither pyarrow nor numpy."""
    first = subprocess.run([*CLI, "syncall"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "chitty_pipelines.cli", "syncall"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in again.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "chitty_pipelines.definitions" in imported  # the measurement works
    assert "pandas" not in imported
    # Nothing to read, nothing to build in Arrow: pyarrow and numpy (~0.2 s) stay unloaded too.
    assert "pyarrow" not in imported and "numpy" not in imported
    # The common sync: one transcript gained a line. Its rows reach Arrow without pandas too
    # (warehouse/arrow_columns.py), and the topic step's classifier loads from its disk cache.
    transcript = next(Path(env["CLAUDE_HOME"]).glob("projects/*/*.jsonl"))
    last = json.loads(transcript.read_text().splitlines()[-1])
    line = {**last, "uuid": "one-more-line", "parentUuid": last.get("uuid"),
            "message": {"role": "user", "content": "and one more question about the deploy"}}  # fmt: skip
    with transcript.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    grown = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "chitty_pipelines.cli", "syncall"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert grown.returncode == 0, grown.stderr[-2000:]
    with open_warehouse(env).connect() as con:
        stored = con.execute("SELECT count(*) FROM raw_local.claude_messages WHERE uuid = 'one-more-line'")
        assert stored.fetchone()[0] == 1  # the line was read and written
    timed = [ln for ln in grown.stderr.splitlines() if ln.startswith("import time:")]
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in timed}
    assert "pandas" not in imported and "sklearn" not in imported


def test_nothing_configured_ends_with_what_to_do_next(env, tmp_path):
    """A first run with no AI tool's files and no token: the last lines say where the files are
    looked for, what to set, and how to try everything with fakes."""
    bare = {k: v for k, v in env.items() if k not in ("CLAUDE_HOME", "CHITTY_EXPORTS_DIR")}
    bare.update(HOME=str(tmp_path / "nohome"), CHITTY_EXPORTS_DIR=str(tmp_path / "none"))
    (tmp_path / "none").mkdir()
    run = subprocess.run([*CLI, "syncall"], env=bare, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    tail = " ".join(run.stderr.split()[-80:])
    assert "no platform is configured" in tail
    assert str(tmp_path / "nohome" / ".claude" / "projects") in tail and "CLAUDE_HOME" in tail
    assert str(tmp_path / "none") in tail and "CHITTY_EXPORTS_DIR" in tail
    assert "chitty-sync demo" in tail


def test_a_configured_platform_gets_no_first_steps_hint(env):
    run = subprocess.run([*CLI, "syncall"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "no platform is configured" not in run.stderr and "chitty-sync demo" not in run.stderr
    # Each platform's bytes are shown once, on the table that read them, not on every table.
    for prefix, reader in (
        ("raw_local/claude_", "raw_local/claude_messages"),
        ("raw_local/chatgpt_", "raw_local/chatgpt_messages"),
    ):
        lines = [line for line in run.stderr.splitlines() if prefix in line and "rows=" in line]
        assert len(lines) > 1 and [reader in line for line in lines if "bytes read=" in line] == [True], lines


def test_status_counts_topic_categories_as_the_api_does(env):
    """/api/status reports topics.categories (the contract's field); `status` said "N topics"
    counting subcategories too, so the two read as disagreeing. Now it names both."""
    run = subprocess.run([*CLI, "syncall"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    with open_warehouse(env).connect() as con:
        categories = con.execute("SELECT count(*) FROM unified.topics WHERE level = 'category'").fetchone()[0]
        every = con.execute("SELECT count(*) FROM unified.topics").fetchone()[0]
    assert every > categories > 0
    status = subprocess.run(
        [*CLI, "status", "--no-health"], env=env, capture_output=True, text=True, timeout=300
    )
    assert status.returncode == 0, status.stderr[-3000:]
    assert f"{categories} topic categories ({every} topics incl. subcategories)" in status.stdout


def test_ctrl_c_says_the_run_was_interrupted_and_the_next_syncall_finishes(env, tmp_path):
    """Ctrl-C mid-run ended with exit 130 and nothing of ours: an in-process step sends fds 1/2 to
    its compute log files (the lines landed there), and when the run's thread was inside DuckDB
    the interpreter's shutdown aborted the process (SIGABRT, core dump)."""
    only_notion = {k: v for k, v in env.items() if k not in ("CLAUDE_HOME", "CHITTY_EXPORTS_DIR")}
    only_notion.update(
        HOME=str(tmp_path / "nohome"),
        CHITTY_EXPORTS_DIR=str(tmp_path / "no-exports"),
        NOTION_TOKEN="secret_x",
        NOTION_BASE_URL=f"http://127.0.0.1:{_closed_port()}",  # retried with backoff: the run lasts
        NOTION_DATABASES="0123456789abcdef0123456789abcdef",
    )
    log = tmp_path / "syncall.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*CLI, "syncall"],
            env=only_notion,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # even if we ignore it
        )
    try:
        deadline = time.monotonic() + 120
        while "attempt 1/" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
        assert "attempt 1/" in log.read_text(), "the notion step never started"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert proc.wait(timeout=60) == 130, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    text = log.read_text()
    ours = [line for line in text.splitlines() if "interrupted" in line]
    assert ours[-1] == "chitty-sync syncall interrupted", text[-3000:]
    assert any(line.startswith("✗ interrupted: run ") for line in ours), text[-3000:]
    assert "FATAL" not in text and "terminate called" not in text

    only_notion.pop("NOTION_TOKEN")
    only_notion.pop("NOTION_DATABASES")
    again = subprocess.run([*CLI, "syncall"], env=only_notion, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stderr.strip().splitlines()[-1].startswith("syncall succeeded"), again.stderr[-2000:]


def test_a_warning_check_says_what_it_counted_and_where_to_look(env):
    """A malformed transcript line showed only `! raw_local/claude_messages:claude_messages_rejects`:
    neither how many records were rejected nor where they are."""
    project = next(Path(env["CLAUDE_HOME"]).glob("projects/*/"))
    (project / "broken.jsonl").write_text('{"type": "user", "message": \nthis is not json\n')
    run = subprocess.run([*CLI, "syncall"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    line = next(x for x in run.stderr.splitlines() if x.startswith("! ") and "claude_messages_rejects" in x)
    assert line == (
        "! raw_local/claude_messages:claude_messages_rejects  rejects=2 "
        '(each in ops.rejects: chitty-sync sql "SELECT * FROM ops.rejects")'
    ), line
