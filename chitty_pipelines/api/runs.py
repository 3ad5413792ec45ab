"""Dagster runs submitted by the API (``POST /{platform}/sync``, ``POST /api/sync``) and their state.

A submission picks the run id, records it in the hub store and starts a worker process
(``python -m chitty_pipelines.cli.run_worker JOB RUN_ID``) that executes the job against the same
Dagster instance as the CLI (``$DAGSTER_HOME``, default ``$CHITTY_HOME/dagster``) under that id, so
the run shows in ``chitty-sync ui`` like any other. The API answers 202 at once; the run's state
is read from the instance (``GET /api/runs/{id}``). A separate process, not a thread of the server:
a sync's CPU work and its DuckDB write lock never slow the API's own answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from typing import Any

from chitty_pipelines import config
from chitty_pipelines.api.store import iso
from chitty_pipelines.warehouse.hubstore import Hub

WORKER_MODULE = "chitty_pipelines.cli.run_worker"


class Runs:
    def __init__(self, hub: Hub):
        self.hub = hub
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._instance: Any = None
        self._instance_lock = threading.Lock()

    def submit(self, job_name: str, target: str, submitted_by: str | None, full_refresh: bool) -> str:
        run_id = str(uuid.uuid4())
        args = [sys.executable, "-m", WORKER_MODULE, job_name, run_id]
        if full_refresh:
            args.append("--full-refresh")
        log_dir = config.load_settings().chitty_home / "api-runs"
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / f"{run_id}.log").open("wb") as out:
            child = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        with self._lock:
            self._children[run_id] = child
        self.hub.add_run(run_id, job_name, target, submitted_by, child.pid)
        return run_id

    def _dagster(self) -> Any:
        """The instance, opened once (read-only use: runs are written by the workers). Opened
        under the lock the CLI creates instances with (cli/runner.py open_instance): a worker
        creating the instance's SQLite storage while this process opens it would race on its
        schema migrations."""
        with self._instance_lock:  # two requests must not open (and migrate) it at once
            return self._open_instance()

    def _open_instance(self) -> Any:
        if self._instance is None:
            import fcntl

            import dagster as dg

            home = config.load_settings().dagster_home
            if not (home / "dagster.yaml").exists():
                return None
            with (home / ".chitty-instance.lock").open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    instance = dg.DagsterInstance.from_config(str(home))
                    instance.get_runs(limit=1)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
            self._instance = instance
        return self._instance

    def state(self, run_id: str) -> dict[str, Any] | None:
        """The run as the instance knows it; a submitted run not stored yet is QUEUED while its
        worker lives, FAILURE if the worker ended without creating it."""
        record = self.hub.run(run_id)
        instance = self._dagster()
        run = instance.get_run_record_by_id(run_id) if instance is not None else None
        if run is None and record is None:
            return None
        out: dict[str, Any] = {
            "runId": run_id,
            "job": record["job_name"] if record else run.dagster_run.job_name,
            "target": record["target"] if record else run.dagster_run.tags.get("chitty/target", ""),
            "submittedAt": record["submitted_at"] if record else None,
        }
        if run is not None:
            out["status"] = run.dagster_run.status.value
            out["startedAt"] = iso(_ts(run.start_time))
            out["endedAt"] = iso(_ts(run.end_time))
            return out
        out["status"] = "QUEUED" if self._worker_alive(run_id, record) else "FAILURE"
        return out

    def _worker_alive(self, run_id: str, record: dict[str, Any] | None) -> bool:
        with self._lock:
            child = self._children.get(run_id)
        if child is not None:
            return child.poll() is None
        pid = int((record or {}).get("pid") or 0)
        if not pid:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return [s for r in self.hub.runs(limit) if (s := self.state(r["run_id"])) is not None]

    def last_syncall(self) -> dict[str, Any] | None:
        """The latest run of the whole sync (syncall, or the CLI's sync_platforms) and its outcome."""
        instance = self._dagster()
        if instance is None:
            return None
        import dagster as dg

        records = instance.get_run_records(
            filters=dg.RunsFilter(job_name="syncall"), limit=1
        ) + instance.get_run_records(filters=dg.RunsFilter(job_name="sync_platforms"), limit=1)
        if not records:
            return None
        latest = max(records, key=lambda r: r.create_timestamp)
        return {
            "runId": latest.dagster_run.run_id,
            "job": latest.dagster_run.job_name,
            "status": latest.dagster_run.status.value,
            "startedAt": iso(_ts(latest.start_time)),
            "endedAt": iso(_ts(latest.end_time)),
        }

    def reap(self) -> None:
        """Collect finished workers (no zombies in a long-running server)."""
        with self._lock:
            for run_id, child in list(self._children.items()):
                if child.poll() is not None:
                    del self._children[run_id]


def _ts(value: float | None) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(value, UTC) if value else None
