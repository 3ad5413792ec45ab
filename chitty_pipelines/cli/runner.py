"""Running Dagster jobs from the CLI: the instance to record runs in, and progress as events arrive.

The CLI executes in process (fast start, one warehouse writer) but against a real instance:
``$DAGSTER_HOME`` when set, so every CLI run shows up in the UI; otherwise a throwaway local
instance that is deleted afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from chitty_pipelines.config import load_settings

EventPrinter = Callable[[str, str], None]  # (kind, text)


@contextlib.contextmanager
def open_instance() -> Iterator[dg.DagsterInstance]:
    home = load_settings().dagster_home
    if not home:
        with dg.DagsterInstance.local_temp() as instance:
            yield instance
        return
    home.mkdir(parents=True, exist_ok=True)
    # Two first runs at once on a new SQLite instance would both create its tables and one
    # would fail ("table secondary_indexes already exists"). Opening it once under an exclusive
    # lock creates the schema before anyone else looks; later opens find it ready.
    with (home / ".chitty-instance.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            instance.get_runs(limit=1)
            instance.get_asset_keys()
            instance.all_instigator_state()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    with instance:
        yield instance


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    materialized: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def execute_with_progress(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    *,
    on_event: EventPrinter,
    tags: dict[str, str] | None = None,
    partition_key: str | None = None,
    poll_s: float = 0.3,
) -> RunOutcome:
    """Execute ``job`` in process while a poller reports its events as they are stored."""
    run_id = str(uuid.uuid4())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                tags=tags or {},
                partition_key=partition_key,
                raise_on_error=False,
                # Progress is printed from the stored events; Dagster's own console logger
                # would repeat every event at DEBUG level.
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        except BaseException as exc:  # surfaced below; the poller must still stop
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"run-{run_id[:8]}", daemon=True)
    worker.start()
    outcome = RunOutcome(run_id=run_id, success=False)
    cursor: str | None = None
    while True:
        alive = worker.is_alive()
        cursor = _drain(instance, run_id, cursor, outcome, on_event)
        if not alive:
            break
        worker.join(poll_s)
    if "error" in box:
        raise box["error"]
    outcome.success = bool(box["result"].success)
    return outcome


def _drain(
    instance: dg.DagsterInstance,
    run_id: str,
    cursor: str | None,
    outcome: RunOutcome,
    on_event: EventPrinter,
) -> str | None:
    if instance.get_run_by_id(run_id) is None:
        return cursor
    while True:
        conn = instance.get_records_for_run(run_id, cursor=cursor, limit=500)
        for record in conn.records:
            _report(record.event_log_entry, outcome, on_event)
        cursor = conn.cursor
        if not conn.has_more:
            return cursor


def _report(entry: dg.EventLogEntry, outcome: RunOutcome, on_event: EventPrinter) -> None:
    event = entry.dagster_event
    if event is None:
        if entry.user_message and entry.level >= 20:  # INFO and above from the assets themselves
            on_event("log", f"{entry.step_key or ''}: {entry.user_message}")
        return
    kind = event.event_type_value
    if kind == "STEP_START":
        on_event("start", event.step_key or "")
    elif kind == "ASSET_MATERIALIZATION" and entry.asset_materialization is not None:
        mat = entry.asset_materialization
        key = mat.asset_key.to_user_string()
        outcome.materialized.append(key)
        on_event("asset", f"{key}  {_summary(mat.metadata)}")
    elif kind == "ASSET_CHECK_EVALUATION":
        data = event.event_specific_data
        passed = getattr(data, "passed", None)
        name = getattr(data, "check_name", "check")
        key = getattr(getattr(data, "asset_key", None), "to_user_string", lambda: "")()
        on_event("check" if passed else "check_failed", f"{key}:{name}")
    elif kind == "STEP_FAILURE":
        outcome.failed_steps.append(event.step_key or "")
        error = getattr(event.event_specific_data, "error", None)
        # Dagster wraps the asset's exception ("Error occurred while executing op ..."); the
        # innermost cause is the one that names what to fix.
        while error is not None and error.cause is not None:
            error = error.cause
        message = error.message.strip() if error is not None else "failed"
        outcome.errors.append(f"{event.step_key}: {message}")
        on_event("failure", f"{event.step_key}: {message}")


def _summary(metadata: dict[str, Any]) -> str:
    def value(key: str) -> Any:
        v = metadata.get(key)
        return getattr(v, "value", v)

    parts = []
    if value("configured") is False:
        return f"not configured ({value('reason')})"
    for key, label in (
        ("dagster/row_count", "rows"),
        ("rows_written", "written"),
        ("bytes_read", "bytes read"),
        ("rejects", "rejects"),
    ):
        v = value(key)
        if v is not None:
            parts.append(f"{label}={v}")
    return " ".join(parts)
