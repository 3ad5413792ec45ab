"""Running Dagster jobs from the CLI: the instance to record runs in, and progress as events arrive.

The CLI executes in process (fast start) or, for several platforms at once, with Dagster's
multiprocess executor, always against a real instance: ``$DAGSTER_HOME`` (default
``$CHITTY_HOME/dagster``), so every CLI run shows up in the UI.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from chitty_pipelines import config
from chitty_pipelines.config import load_settings

EventPrinter = Callable[[str, str], None]  # (kind, text)


# Written into a Dagster home the CLI creates: no telemetry, and Dagster's own console lines
# (e.g. the multiprocess executor's DEBUG "Executing step in subprocess") only from INFO up, since
# the CLI prints progress from the stored events. Otherwise Dagster's default instance (SQLite
# storage under the folder). The project's own Python loggers (retries and their waits, a wait
# for the warehouse lock, a classifier falling back) are managed: a record logged during a step
# is stored in the run's event log, so the Dagster UI shows it beside the step's other lines
# (it used to reach only the terminal that ran the step).
_NEW_INSTANCE_YAML = (
    "telemetry:\n  enabled: false\npython_logs:\n  python_log_level: INFO\n"
    "  managed_python_loggers:\n    - chitty_pipelines\n"
)
# What earlier versions wrote: a home holding exactly this is brought up to the text above.
_EARLIER_INSTANCE_YAML = ("telemetry:\n  enabled: false\npython_logs:\n  python_log_level: INFO\n",)


@contextlib.contextmanager
def open_instance() -> Iterator[dg.DagsterInstance]:
    """The Dagster instance runs are recorded in: ``$DAGSTER_HOME``, by default
    ``$CHITTY_HOME/dagster``, so that ``chitty-sync ui`` shows every run the CLI made."""
    home = load_settings().dagster_home
    ensure_instance_folder(home)
    # Two first runs at once on a new SQLite instance would both create its tables and one
    # would fail ("table secondary_indexes already exists"). Opening it once under an exclusive
    # lock creates the schema before anyone else looks; later opens find it ready.
    _reach_postgres_storage(home)
    with (home / ".chitty-instance.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.from_config(str(home))
            instance.get_runs(limit=1)
            instance.get_asset_keys()
            instance.all_instigator_state()
        except Exception as exc:
            explained = _instance_error(exc, home)
            if explained is exc:
                raise
            raise explained from exc
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _relaxed_sync_for(home)
    with instance, _sqlite_keepers(instance, home) as keep:
        instance_keepers[id(instance)] = keep
        try:
            reap_abandoned_runs(instance)
            yield instance
        finally:
            instance_keepers.pop(id(instance), None)


def ensure_instance_folder(home: Any) -> None:
    """``home`` exists and, unless the user wrote their own, holds the CLI's dagster.yaml."""
    created = not home.exists()
    home.mkdir(parents=True, exist_ok=True)
    config_file = home / "dagster.yaml"
    if created or not any(home.iterdir()) or _read_or_none(config_file) in _EARLIER_INSTANCE_YAML:
        config_file.write_text(_NEW_INSTANCE_YAML)


def _read_or_none(path: Any) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


_PG_VARS = "DAGSTER_PG_HOST, DAGSTER_PG_PORT, DAGSTER_PG_DB, DAGSTER_PG_USER, DAGSTER_PG_PASSWORD"


def _reach_postgres_storage(home: Any) -> None:
    """An instance on PostgreSQL (dagster.yaml.example) must answer before Dagster opens it.

    dagster-postgres retries a connection that fails for ~12 s, printing a warning with a
    traceback on each attempt, before the error _instance_error explains. One connection with a
    short timeout gives the same explanation at once. A setting this cannot read (an unset
    variable, another storage) is left to Dagster, whose own error is explained as before."""
    import yaml

    try:
        loaded = yaml.safe_load((home / "dagster.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return
    storage = loaded.get("storage") if isinstance(loaded, dict) else None
    settings = storage.get("postgres") if isinstance(storage, dict) else None
    if not isinstance(settings, dict):
        return

    unset: list[str] = []

    def resolved(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"env"}:
            found = config.referenced(str(value["env"]))
            if found is None:
                unset.append(str(value["env"]))
            return found
        if isinstance(value, dict):
            return {k: resolved(v) for k, v in value.items()}
        return value

    values = resolved(settings)
    if unset:
        return  # Dagster names the variable (_instance_error keeps its words)
    url = values.get("postgres_url")
    if url is None and isinstance(values.get("postgres_db"), dict):
        db = values["postgres_db"]
        from dagster_postgres.utils import get_conn_string

        url = get_conn_string(**{**db, "scheme": "postgresql"})
    if not isinstance(url, str):
        return
    import re

    import psycopg

    url = re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)
    try:
        psycopg.connect(url, connect_timeout=10).close()  # a cold Neon compute wakes in ~1 s
    except psycopg.OperationalError as exc:
        raise _instance_error(exc, home) from None
    except psycopg.Error:
        return  # a malformed setting: Dagster's own error says which


def _instance_error(exc: Exception, home: Any) -> Exception:
    """What the user must fix when the instance of ``$DAGSTER_HOME/dagster.yaml`` cannot be opened.

    Dagster says neither: an unset ``{env: DAGSTER_PG_PASSWORD}`` came out as a repr of the
    storage's config schema, a wrong password or a server that is down as "too many retries for
    DB connection"."""
    import re

    from dagster_shared.error import DagsterError

    yaml = f"{home}/dagster.yaml (DAGSTER_HOME)"
    text = str(exc)
    unset = re.search(r'environment variable "([^"]+)" which is not set', text)
    if unset:
        return config.ConfigError(
            f"{unset.group(1)} is not set; the Dagster instance in {yaml} reads it "
            "(README: Production instance on PostgreSQL)"
        )
    if type(exc).__name__ == "DagsterInvalidConfigError":
        detail = re.search(r"Error 1: (.*)", text)
        reason = detail.group(1).strip() if detail else text.splitlines()[0]
        return config.ConfigError(f"{yaml} is not a valid Dagster instance configuration: {reason}")
    if type(exc).__module__.startswith("dagster_postgres") or "OperationalError" in type(exc).__name__:
        cause = exc.__cause__ or exc.__context__ or exc
        reason = " ".join(str(cause).split("\n")[0].split())
        reason = re.sub(r"^\(psycopg2?\.\w+\) ", "", reason)
        reason = reason.removeprefix("connection failed: ")  # psycopg 3's wording (the pre-check)
        return config.ConfigError(
            config.scrub(
                f"cannot connect to the PostgreSQL of the Dagster instance in {yaml}: {reason}; "
                f"check {_PG_VARS} (the database must exist)"
            )
        )
    if isinstance(exc, DagsterError):
        return config.ConfigError(config.scrub(f"the Dagster instance in {yaml} cannot be opened: {text}"))
    return exc


# Dagster's SQLite storage opens, commits and closes a connection for every event it stores.
# Closing the last connection of a WAL database checkpoints it and deletes its -wal and -shm
# files: a sync to disk and two unlinks per event, a large part of a small run's wall time (a
# no-change syncall stores ~160 events). One idle connection held open per database while the
# CLI runs makes every other close a plain close. Automatic checkpoints (every 1000 WAL pages)
# still happen, and an idle connection holds no lock. Only for Dagster's default SQLite storage.
instance_keepers: dict[int, Callable[[str], None]] = {}


def _relaxed_sync_for(home: Any) -> None:
    """``PRAGMA synchronous=NORMAL`` on every SQLite connection Dagster opens under ``home``.

    In WAL mode FULL syncs the WAL on every commit, i.e. every stored event; NORMAL syncs at
    checkpoints and stays corruption-safe: a power loss can lose the last events, an application
    crash loses nothing (SQLite's documented advice for WAL). Run history is worth that trade
    on a laptop; a team's instance lives on PostgreSQL (dagster.yaml.example), untouched here."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    root = os.path.realpath(home) + os.sep
    if root in _relaxed_homes:
        return
    _relaxed_homes.add(root)

    def normal_sync(dbapi_con: Any, _record: Any) -> None:
        if not isinstance(dbapi_con, sqlite3.Connection):
            return
        row = dbapi_con.execute("PRAGMA database_list").fetchone()  # (seq, name, file)
        if row and row[2] and os.path.realpath(row[2]).startswith(root):
            dbapi_con.execute("PRAGMA synchronous=NORMAL")

    event.listen(Engine, "connect", normal_sync)


_relaxed_homes: set[str] = set()


@contextlib.contextmanager
def _sqlite_keepers(instance: dg.DagsterInstance, home: Any) -> Iterator[Callable[[str], None]]:
    """A function holding one connection to a shard of the instance's SQLite event log ("index",
    or a run id; a new run's database is created here, in WAL mode, before Dagster writes to
    it), closed when the instance is."""
    import sqlite3
    from pathlib import Path

    held: dict[str, sqlite3.Connection] = {}
    storage = instance.event_log_storage
    shard_path = getattr(storage, "path_for_shard", None)  # SqliteEventLogStorage's run shards

    def hold(path: str, create: bool) -> None:
        if path in held or not (create or os.path.exists(path)):
            return
        with contextlib.suppress(sqlite3.Error):
            con = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            # journal_mode=WAL is what Dagster sets on its own databases (here before its first
            # write, so a new run's database never goes through a rollback journal); reading
            # maps the WAL, which is what keeps this connection counted.
            con.execute("PRAGMA journal_mode=WAL").fetchone()
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            held[path] = con

    def keep(shard: str) -> None:
        if callable(shard_path):
            hold(str(shard_path(shard)), create=shard != "index")

    keep("index")
    hold(str(Path(home) / "history" / "runs.db"), create=False)  # the run storage's file
    try:
        yield keep
    finally:
        for con in held.values():
            con.close()


# Runs the CLI executes carry where they run, so that a run whose process was killed (kill -9,
# a closed laptop lid that never came back) is not left STARTED forever: the next command on
# the same machine finds its process gone and marks it failed.
_HOST_TAG, _PID_TAG = "chitty/cli_host", "chitty/cli_pid"


def _process_tags() -> dict[str, str]:
    return {_HOST_TAG: socket.gethostname(), _PID_TAG: str(os.getpid())}


def reap_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every STARTED run of this machine whose CLI process no longer exists."""
    reaped = []
    host = socket.gethostname()
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={_HOST_TAG: host}), limit=100
    )
    for record in records:
        run = record.dagster_run
        pid = int(run.tags.get(_PID_TAG, "0") or 0)
        if pid and not _alive(pid):
            instance.report_run_failed(
                run, f"its chitty-sync process ({pid}) ended without finishing the run (killed?)"
            )
            # With pool limits (dagster.yaml.example), a killed step still holds its platform's
            # slot: free it, or every later run of that platform would wait forever.
            storage = instance.event_log_storage
            if storage.supports_global_concurrency_limits:
                storage.free_concurrency_slots_for_run(run.run_id)
            reaped.append(run.run_id)
    free_slots_of_finished_runs(instance)
    return reaped


_FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def free_slots_of_finished_runs(instance: dg.DagsterInstance, run_id: str | None = None) -> list[str]:
    """Free the pool slots still held by runs that have ended (only ``run_id``'s when given).

    A run can end without freeing its slot: with CHITTY_EXECUTOR=celery a step claims its
    platform's slot before it is sent, and when sending fails (the Redis broker down) the run
    fails with the slot still claimed. Under a pool limit (dagster.yaml.example) every later run
    of that platform then waited for it forever, printing nothing. An ended run never needs a
    slot, so freeing it is always safe."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    if run_id is not None:
        holders = {run_id}
    else:
        holders = set()
        for key in storage.get_concurrency_keys():
            info = storage.get_concurrency_info(key)
            holders |= {slot.run_id for slot in info.claimed_slots}
            holders |= {step.run_id for step in info.pending_steps}
    freed = []
    for holder in sorted(holders):
        run = instance.get_run_by_id(holder)
        if run is None or run.status in _FINISHED:
            storage.free_concurrency_slots_for_run(holder)
            freed.append(holder)
    return freed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    materialized: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # materializations' "warning" metadata


_heap_frozen = False


def _freeze_start_up_heap() -> None:
    """Exempt what start-up built (Dagster, the definitions, the instance's storage: ~1M objects)
    from the garbage collector's full passes, as main() does for the CLI's own imports: each pass
    walked all of them (gc.callbacks on a no-change syncall: 0.35 s collecting without either
    freeze, 0.16 s with both). Once per process: what the runs allocate stays collectable."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.freeze()


def execute_with_progress(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    *,
    on_event: EventPrinter,
    tags: dict[str, str] | None = None,
    partition_key: str | None = None,
    max_concurrent: int = 1,
    poll_s: float = 0.3,
) -> RunOutcome:
    """Execute ``job`` while a poller reports its events as they are stored.

    ``max_concurrent`` > 1 runs its steps in parallel processes (Dagster's multiprocess
    executor, each step a process that loads the code location); otherwise the steps run one
    after the other in this process, which starts fastest.
    """
    _freeze_start_up_heap()
    box: dict[str, Any] = {}
    # Progress and failures are printed from the stored events (the failure's innermost error,
    # which names what to fix); Dagster's own console logger would repeat every event, and a
    # failure with its whole stack trace.
    loggers = {"console": {"config": {"log_level": "CRITICAL"}}}
    # execute_job picks its own run id: the poller finds the run by this tag.
    marker = str(uuid.uuid4())
    run_tags = {**(tags or {}), _MARKER_TAG: marker, **_process_tags()}
    if partition_key is not None:
        run_tags["dagster/partition"] = partition_key

    distributed = config.executor() == "celery"
    # In process the run id is ours to choose: its event database is held open from the start.
    run_id = str(uuid.uuid4())
    if not distributed and max_concurrent <= 1 and id(instance) in instance_keepers:
        instance_keepers[id(instance)](run_id)

    def target() -> None:
        _executing.add(marker)
        try:
            if distributed:
                # CHITTY_EXECUTOR=celery: the job's executor (definitions) sends each step to
                # the Celery workers; this process only orchestrates and reports.
                box["result"] = dg.execute_job(
                    dg.build_reconstructable_job(__name__, "resolve_job", (job.name,)),
                    instance=instance,
                    tags=run_tags,
                    raise_on_error=False,
                    run_config={"loggers": loggers},
                )
            elif max_concurrent > 1:
                # Dagster's default start method spawns a fresh interpreter per step, which imports
                # Dagster and the definitions again (~1 s each, two cores shared by 3+ steps) and
                # tears them down at exit. A forkserver imports them once and forks each step from
                # it: a syncall of three platforms took 6.6-7.7 s spawned, 5.7-6.3 s forked
                # (README, "How it works"). Forked from that clean process, never from this one,
                # whose threads (the progress poller) a fork would copy mid-lock.
                box["result"] = dg.execute_job(
                    dg.build_reconstructable_job(__name__, "resolve_job", (job.name,)),
                    instance=instance,
                    tags=run_tags,
                    raise_on_error=False,
                    run_config={
                        "loggers": loggers,
                        "execution": {
                            "config": {
                                "multiprocess": {
                                    "max_concurrent": max_concurrent,
                                    "start_method": {
                                        "forkserver": {"preload_modules": ["chitty_pipelines.definitions"]}
                                    },
                                }
                            }
                        },
                    },
                )
            else:
                box["result"] = job.execute_in_process(
                    instance=instance,
                    run_id=run_id,
                    tags=run_tags,
                    partition_key=partition_key,
                    raise_on_error=False,
                    run_config={"loggers": loggers},
                )
        except BaseException as exc:  # surfaced below; the poller must still stop
            box["error"] = exc
        finally:
            _executing.discard(marker)

    # An in-process step sends this process's stdout and stderr (fds 1 and 2) to its compute log
    # files, mirrored back by `tail -F` processes; Ctrl-C stops those, so what is said about the
    # interruption goes to the original streams.
    terminal_fds = (os.dup(1), os.dup(2))
    worker = threading.Thread(target=target, name=f"run-{marker[:8]}", daemon=True)
    worker.start()
    outcome = RunOutcome(run_id="", success=False)
    try:
        _poll(worker, instance, marker, outcome, on_event, poll_s)
    except KeyboardInterrupt:
        for fd, saved in enumerate(terminal_fds, start=1):
            os.dup2(saved, fd)
        run = f"run {outcome.run_id}" if outcome.run_id else "the run"
        on_event(
            "failure",
            f"interrupted: {run} stopped before it finished (the next command marks it failed); "
            "what was committed stays, run the command again to finish",
        )
        raise
    finally:
        for saved in terminal_fds:
            os.close(saved)
    if outcome.run_id:
        free_slots_of_finished_runs(instance, outcome.run_id)
    if "error" in box:
        raise box["error"]
    outcome.run_id = outcome.run_id or box["result"].run_id
    outcome.success = bool(box["result"].success)
    return outcome


def _poll(
    worker: threading.Thread,
    instance: dg.DagsterInstance,
    marker: str,
    outcome: RunOutcome,
    on_event: EventPrinter,
    poll_s: float,
) -> None:
    """Report the run's stored events until its worker thread ends."""
    cursor: str | None = None
    failures = 0
    while True:
        alive = worker.is_alive()
        try:
            if not outcome.run_id:
                outcome.run_id = _run_id_by_marker(instance, marker)
                if outcome.run_id and id(instance) in instance_keepers:
                    instance_keepers[id(instance)](outcome.run_id)
            if outcome.run_id:
                cursor = _drain(instance, outcome.run_id, cursor, outcome, on_event)
        except Exception:
            # The run storage can be busy (SQLite under several CLI runs at once). Reading
            # progress must never end this process while the run is still executing in the
            # worker thread: that would leave the run STARTED and Dagster's log mirroring
            # processes holding our stdout. Try again on the next poll; give up only once the
            # run is over and reading still fails.
            failures += 1
            if not alive and failures > 20:
                raise
            time.sleep(poll_s)
            continue
        if not alive:
            return
        worker.join(poll_s)


_MARKER_TAG = "chitty/cli_invocation"
# Markers of the runs whose worker thread is executing. Not Thread.is_alive(): a Ctrl-C that
# lands in Thread.join() leaves the thread reported as stopped while it still runs (Python 3.11).
_executing: set[str] = set()


def runs_executing() -> bool:
    """A run's worker thread is still executing (cli._interrupted: Ctrl-C mid-run)."""
    return bool(_executing)


def _run_id_by_marker(instance: dg.DagsterInstance, marker: str) -> str:
    runs = instance.get_run_records(filters=dg.RunsFilter(tags={_MARKER_TAG: marker}), limit=1)
    return runs[0].dagster_run.run_id if runs else ""


def resolve_job(name: str) -> dg.JobDefinition:
    """How each step process of a parallel run finds its job again (``build_reconstructable_job``)."""
    import warnings

    # As in the CLI's own process (cli.main): Dagster's beta notices are not for users.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from chitty_pipelines.definitions import defs

    return defs.resolve_job_def(name)


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
        warning = mat.metadata.get("warning")
        if warning is not None:
            text = str(getattr(warning, "value", warning))
            if text not in outcome.warnings:  # one line per cause, not per table
                outcome.warnings.append(text)
                on_event("check_failed", f"warning: {text}")
    elif kind == "ASSET_CHECK_EVALUATION":
        data = event.event_specific_data
        passed = getattr(data, "passed", None)
        name = getattr(data, "check_name", "check")
        key = getattr(getattr(data, "asset_key", None), "to_user_string", lambda: "")()
        detail = "" if passed else _check_detail(getattr(data, "metadata", None) or {})
        on_event("check" if passed else "check_failed", f"{key}:{name}{detail}")
    elif kind == "PIPELINE_FAILURE" and not outcome.failed_steps:
        # The run failed outside any step (e.g. CHITTY_EXECUTOR=celery and the broker is down):
        # without this line the CLI would only say "failed".
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            message = " ".join(error.message.split())
            # Celery's own error, or its transport's (kombu, redis-py: "Connection closed by
            # server"), says nothing of where the broker is configured.
            if config.executor() == "celery" and any(
                word in message.lower() for word in ("celery", "kombu", "redis")
            ):
                message += " (is the Redis broker of CHITTY_CELERY_BROKER_URL up?)"
            outcome.errors.append(f"run: {message}")
            on_event("failure", f"run: {message}")
    elif kind == "STEP_FAILURE":
        outcome.failed_steps.append(event.step_key or "")
        error = getattr(event.event_specific_data, "error", None)
        # Dagster wraps the asset's exception ("Error occurred while executing op ..."); the
        # innermost cause is the one that names what to fix.
        while error is not None and error.cause is not None:
            error = error.cause
        message = "failed" if error is None else _without_module_path(error.message.strip(), error.cls_name)
        outcome.errors.append(f"{event.step_key}: {message}")
        on_event("failure", f"{event.step_key}: {message}")
        if error is not None and error.stack and config.debug():  # --debug: where it happened
            on_event("log", "".join(error.stack).rstrip())  # printed through the masking console


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
        # A table derived from what another one read carries bytes_read=0: not printed, so the
        # step's bytes show once, on the table that read them.
        if v is not None and not (key == "bytes_read" and v == 0):
            parts.append(f"{label}={v}")
    return " ".join(parts)


def _check_detail(metadata: dict[str, Any]) -> str:
    """What a failed check counted (``rejects=4``, ``duplicate_keys=2``), and where rejected
    records are: the bare check name told a user neither."""
    parts = []
    for key, entry in metadata.items():
        v = getattr(entry, "value", entry)
        if isinstance(v, int | float | str) and not isinstance(v, bool) and "\n" not in str(v):
            parts.append(f"{key}={v}")
    if "rejects" in metadata:
        parts.append('(each in ops.rejects: chitty-sync sql "SELECT * FROM ops.rejects")')
    return ("  " + " ".join(parts)) if parts else ""


def _without_module_path(message: str, cls_name: str | None) -> str:
    """``pkg.mod.NotionApiError: text`` -> ``NotionApiError: text``; a ``dagster.Failure`` (an
    asset's own "this is what to fix") -> just its text."""
    head, sep, rest = message.partition(": ")
    if not (sep and cls_name and (head == cls_name or head.endswith(f".{cls_name}"))):
        return message
    return rest if cls_name == "Failure" else f"{cls_name}: {rest}"
