"""Running the unified assets through Dagster in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from chitty_pipelines.chittyos.ids import ChittyIdResource
from chitty_pipelines.unified.projects import unified_projects
from chitty_pipelines.unified.sessions import unified_sessions
from chitty_pipelines.warehouse.opstore_resource import OpStoreResource
from chitty_pipelines.warehouse.resource import WarehouseResource

SESSIONS_OP = unified_sessions.op.name


def id_resource(
    base_url: str = "http://127.0.0.1:9", token: str | None = None, **kw: Any
) -> ChittyIdResource:
    """Port 9 (discard) refuses connections: an id service that is down."""
    return ChittyIdResource(base_url=base_url, token=token, attempts=2, max_wait_s=0.05, timeout_s=2, **kw)


def materialize(
    warehouse_resource: WarehouseResource,
    opstore_path: Path,
    chitty_id: ChittyIdResource | None = None,
    now: str | None = None,
    ttl: float | None = None,
    checks: bool = True,
) -> dg.ExecuteInProcessResult:
    config: dict[str, Any] = {}
    if now is not None:
        config["now"] = now
    if ttl is not None:
        config["ttl_seconds"] = ttl
    # The checks run inside the assets' own steps; leave them out of the selection when not wanted.
    return dg.materialize(
        [unified_projects, unified_sessions],
        selection=dg.AssetSelection.all() if checks else dg.AssetSelection.all().without_checks(),
        resources={
            "warehouse": warehouse_resource,
            "opstore": OpStoreResource(path=str(opstore_path)),
            "chitty_id": chitty_id or id_resource(),
        },
        run_config={"ops": {SESSIONS_OP: {"config": config}}} if config else None,
    )


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def metadata(result: dg.ExecuteInProcessResult, key: str) -> dict[str, Any]:
    mats = result.asset_materializations_for_node(
        unified_sessions.op.name if key == "unified/sessions" else unified_projects.op.name
    )
    mat = next(m for m in mats if m.asset_key.to_user_string() == key)
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
