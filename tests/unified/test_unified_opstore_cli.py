"""The operational store under several writer processes, and the projectsync / sessionsync /
status commands end to end (real processes, a real git repository, Dagster's runner)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chitty_pipelines.warehouse.opstore import OpStore
from chitty_pipelines.warehouse.opstore_pg import PgOpStore
from tests.warehouse_support import WAREHOUSE_URL  # kept for CLI subprocesses (--warehouse=postgres)

WRITER = """
import sys
from chitty_pipelines.warehouse.opstore import OpStore
from chitty_pipelines.warehouse.opstore_pg import PgOpStore
store, worker = OpStore(sys.argv[1], busy_timeout_s=60), sys.argv[2]
for i in range(25):
    assert store.register_session(f"{worker}-{i}", "claude", "p", worker).created
for _ in range(4):
    for i in range(25):
        assert store.heartbeat(f"{worker}-{i}", {"by": worker}).ok
        assert store.heartbeat("shared", {worker: True}).ok
store.register_project(f"proj-{worker}", worker)
"""


def test_many_writer_processes(tmp_path):
    path = tmp_path / "opstore.sqlite"
    store = OpStore(path)
    assert store.register_session("shared", "claude").created
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"w{n}"], stderr=subprocess.PIPE, text=True
        )
        for n in range(4)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    sessions = {s["session_id"]: s for s in store.sessions()}
    assert len(sessions) == 4 * 25 + 1
    assert all(s["heartbeats"] == 4 for k, s in sessions.items() if k != "shared")
    assert sessions["shared"]["heartbeats"] == 4 * 4 * 25  # no lost update under contention
    assert '"w3": true' in sessions["shared"]["metadata"] and '"w0": true' in sessions["shared"]["metadata"]
    assert len(store.projects()) == 4 and store.journal_mode() == "wal"


CLI = [sys.executable, "-m", "chitty_pipelines.cli"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_projectsync_sessionsync_and_status(tmp_path):
    project = tmp_path / "code" / "chittyos-services"
    project.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(project),
            "remote",
            "add",
            "origin",
            "git@github.com:chittyos/chittyos-services.git",
        ],
        check=True,
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k == WAREHOUSE_URL or not k.startswith(("CHITTY_", "CLAUDE", "DAGSTER_", "OPENAI_"))
    }
    env.update(CHITTY_HOME=str(tmp_path / "home"), CLAUDE_HOME=str(tmp_path / "claude"))
    # An empty Claude home: a CLAUDE_HOME naming a folder that does not exist is a warning.
    (tmp_path / "claude" / "projects").mkdir(parents=True)

    def cli(*args: str, cwd: Path = project, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*CLI, *args], cwd=cwd, env={**env, **extra}, capture_output=True, text=True, timeout=300
        )

    sync = cli("projectsync")
    assert sync.returncode == 0, sync.stderr
    assert "project chittyos-services registered" in sync.stderr
    assert "origin git@github.com:chittyos/chittyos-services.git" in sync.stderr
    assert "project chittyos-services: id local-project-" in sync.stderr
    assert "unified/projects" in sync.stderr

    # from a folder inside the project, in a Claude Code shell, with an explicit id
    started = cli("sessionsync", "--id", "s-1", cwd=project / ".git", CLAUDECODE="1")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "s-1"  # stdout carries only the id
    assert "platform claude_code, project chittyos-services" in started.stderr
    # the op store of the warehouse in use: SQLite under CHITTY_HOME, or the PostgreSQL ops schema
    url = env.get(WAREHOUSE_URL)
    store = PgOpStore(url) if url else OpStore(tmp_path / "home" / "opstore.sqlite")
    assert not url or not (tmp_path / "home" / "opstore.sqlite").exists()  # nothing on local disk
    assert store.session("s-1")["machine_id"] and store.session("s-1")["project_key"] == "chittyos-services"

    other = cli("sessionsync", "--platform", "Claude Desktop", "--project", "elsewhere")
    assert store.session(other.stdout.strip())["ai_platform"] == "claude_desktop"
    assert store.session(other.stdout.strip())["project_key"] == "elsewhere"
    assert cli("sessionsync", "--heartbeat", "s-1").returncode == 0
    assert store.session("s-1")["heartbeats"] == 1
    assert cli("sessionsync", "--end", "s-1").returncode == 0
    late = cli("sessionsync", "--heartbeat", "s-1")
    assert late.returncode == 1 and "ended at" in late.stderr

    status = cli("status", "--no-health")
    assert status.returncode == 0, status.stderr
    assert "unified: 1 projects, 0 sessions (0 active, 0 stale, 0 ended)" in status.stdout
