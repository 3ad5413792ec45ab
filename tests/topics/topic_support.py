"""Helpers of the topic tests: unified.sessions rows written directly (the contract's columns),
and materializing the topic assets with their checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from chitty_pipelines.unified.topic_classifier import TopicClassifierResource
from chitty_pipelines.unified.topics import SESSIONS_KEY, session_topics, topics
from chitty_pipelines.warehouse import TableSpec, Warehouse, cols

LABELLED = Path(__file__).with_name("labelled_sessions.yaml")

# The columns unified/sessions promises (its own table has more).
SESSIONS = TableSpec(
    "unified",
    "sessions",
    cols(
        ("session_key", "VARCHAR"),
        ("platform", "VARCHAR"),
        ("project_key", "VARCHAR"),
        ("title", "VARCHAR"),
        ("summary_text", "VARCHAR"),
        ("last_active_at", "TIMESTAMPTZ"),
    ),
    primary_key=("session_key",),
)


def labelled() -> list[dict[str, Any]]:
    return yaml.safe_load(LABELLED.read_text())["sessions"]


def put_sessions(wh: Warehouse, sessions: dict[str, str], platform: str = "claude_code") -> None:
    """session_key -> summary_text (its first sentence doubles as the title)."""
    rows = [
        {
            "session_key": key,
            "platform": platform,
            "project_key": "proj-1",
            "title": text.split(".")[0],
            "summary_text": text,
            "last_active_at": datetime(2026, 11, 24, 12, tzinfo=UTC),
        }
        for key, text in sessions.items()
    ]
    with wh.transaction() as tx:
        tx.upsert(SESSIONS, rows)


def materialize(
    warehouse_resource,
    classifier: TopicClassifierResource | None = None,
    *,
    full_refresh: bool = False,
    raise_on_error: bool = True,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    run_config = (
        {"ops": {"unified__session_topics": {"config": {"full_refresh": True}}}} if full_refresh else None
    )
    return dg.materialize(
        [session_topics, topics],  # their checks run in their own steps
        resources={
            "warehouse": warehouse_resource,
            "topic_classifier": classifier or TopicClassifierResource(),
        },
        instance=instance or dg.DagsterInstance.ephemeral(),
        run_config=run_config,
        raise_on_error=raise_on_error,
    )


def metadata(result: dg.ExecuteInProcessResult, key: list[str]) -> dict[str, Any]:
    for mat in result.asset_materializations_for_node("__".join(key)):
        if mat.asset_key == dg.AssetKey(key):
            return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    raise AssertionError(f"no materialization of {key}")


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {f"{e.asset_key.path[-1]}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}


__all__ = ["SESSIONS", "SESSIONS_KEY", "checks", "labelled", "materialize", "metadata", "put_sessions"]
