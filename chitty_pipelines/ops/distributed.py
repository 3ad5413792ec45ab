"""Distributed runs on Celery (CHITTY_EXECUTOR=celery): Dagster's own ``celery_executor`` on a
Redis broker, and the Celery app its workers run.

    celery -A chitty_pipelines.ops.distributed worker -Q dagster -c 1 --without-gossip

A worker needs nothing but the installed code and the environment (CHITTY_*, DAGSTER_PG_*, the
platforms' variables): the warehouse and its ops state are in PostgreSQL (CHITTY_WAREHOUSE_URL),
runs and events in the Dagster instance (dagster-postgres), whose reference each task carries.

Why late acknowledgement: Celery acknowledges a task when a worker takes it, so a worker killed
mid-step loses the step and the run waits for its result forever. Acknowledged after the step
instead, the message stays in Redis's unacked set and another worker takes it once
CHITTY_CELERY_VISIBILITY_TIMEOUT has passed. A step may then run twice; every write is an upsert
in one transaction with its cursor, so that repeats nothing.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

import dagster as dg

from chitty_pipelines import config

BROKER_VAR = "CHITTY_CELERY_BROKER_URL"

# dagster-celery builds its ``execute_plan`` task again for every step it sends, and Celery 5.7
# warns on the second one (DuplicateTaskNameWarning: "Task name 'execute_plan' is already
# registered to a different callable"), in the middle of syncall's output. Every copy is the same
# code (it only unpacks the step's arguments), so the first one registered running them is what
# dagster-celery means. Installed at import (the definitions import this module before building
# the jobs under a catch_warnings that would drop a filter added there); matched by its message,
# so that importing Celery is not needed to hide it.
warnings.filterwarnings("ignore", message=r"Task name 'execute_plan' is already registered")
QUEUE = "dagster"  # dagster-celery's queue (make_app routes execute_plan there)


def celery_settings() -> dict[str, Any]:
    """Celery settings of both sides (the executor that submits, the workers that consume)."""
    visibility = config.number("CHITTY_CELERY_VISIBILITY_TIMEOUT", 3600, int, minimum=1)
    return {
        "task_acks_late": True,
        # A worker process killed by a signal (OOM, kill -9) requeues its task instead of
        # failing it, so the step goes to another worker.
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # a worker holds one step, not a batch others wait behind
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": visibility,
            # Sweep for abandoned steps every few seconds, not every 10 x 10 s.
            "unacked_restore_interval": max(1, min(10, visibility // 4)),
            "unacked_restore_throttle": 1,
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "result_expires": 86400,
        "task_default_queue": QUEUE,
    }


def executor_def() -> dg.ExecutorDefinition | None:
    """The executor of every job when CHITTY_EXECUTOR=celery, else None (Dagster's default).
    The broker URL reaches the run config only as ``{"env": ...}``: its password is never stored."""
    if config.executor() != "celery":
        return None
    from dagster_celery import celery_executor

    return celery_executor.configured(
        {
            "broker": {"env": BROKER_VAR},
            "backend": {"env": BROKER_VAR},
            "config_source": celery_settings(),
        },
        name="celery",
    )


def make_worker_app() -> Any:
    """The Celery app of ``celery -A chitty_pipelines.ops.distributed worker``: dagster-celery's
    app and ``execute_plan`` task, configured from the environment instead of a YAML file."""
    from dagster_celery.config import DEFAULT_CONFIG, dict_wrapper
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    broker = config.env(BROKER_VAR)
    if broker is None:
        raise config.ConfigError(f"a Celery worker needs {BROKER_VAR} (redis://host:6379/0)")
    celery_app = make_app(
        {
            "broker": broker,
            "backend": broker,
            "include": [],
            "config_source": dict_wrapper({**DEFAULT_CONFIG, **celery_settings()}),
        }
    )
    create_task(celery_app, base=_step_of_a_live_run(celery_app))
    return celery_app


def _step_of_a_live_run(celery_app: Any) -> type:
    """The task class of ``execute_plan``: a step whose run has already ended is dropped.

    A launcher stopped while its step waited in Redis (Ctrl-C with no worker up, a killed
    ``syncall``) leaves the step there; its run is marked failed by the next command, and the
    first worker to start ran the step anyway, recording a success and materializations in a
    failed run before it got to any live one."""
    from dagster import DagsterInstance, deserialize_value

    class StepOfALiveRun(celery_app.Task):  # type: ignore[name-defined]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            packed = kwargs.get("execute_step_args_packed")
            if isinstance(packed, dict):
                step = deserialize_value(json.dumps(packed))  # Dagster's ExecuteStepArgs
                with DagsterInstance.from_ref(step.instance_ref) as instance:  # type: ignore[arg-type]
                    run = instance.get_run_by_id(step.run_id)
                if run is not None and run.is_finished:
                    keys = ", ".join(step.step_keys_to_execute or [])
                    logging.getLogger(__name__).warning(
                        "dropped step %s of run %s: the run ended (%s) before a worker took it",
                        keys,
                        step.run_id,
                        run.status.value,
                    )
                    return []
            return super().__call__(*args, **kwargs)

    return StepOfALiveRun


def workers_answering(timeout: float = 2.0) -> bool:
    """Whether any Celery worker on the broker answers a ping within ``timeout`` seconds
    (returns at the first answer). A broker that fails the ping counts as answering: the run
    then fails on it, naming it (runner)."""
    try:
        return bool(make_worker_app().control.ping(timeout=timeout, limit=1))
    except Exception:
        return True


def __getattr__(name: str) -> Any:
    # ``celery -A chitty_pipelines.ops.distributed`` looks up ``app`` (then ``celery``); built on
    # first access so that importing this module (the definitions do) needs no broker.
    if name in ("app", "celery"):
        value = make_worker_app()
        globals()["app"] = globals()["celery"] = value
        return value
    raise AttributeError(name)
