"""Sync runs: ``POST /api/sync`` (syncall), ``GET /api/sync``, ``GET /api/sync/{id}``,
``GET /api/runs/{id}`` and ``GET /api/history`` -- paths ChittyConnect called and the original
never served (they fell through to a 200)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chitty_pipelines.api import models as m
from chitty_pipelines.api.deps import PathId, Read, State, SyncScope, valid_id
from chitty_pipelines.api.errors import ApiError

router = APIRouter(prefix="/api", tags=["runs"])


def submit(api, job: str, target: str, who_name: str, full_refresh: bool) -> JSONResponse:  # type: ignore[no-untyped-def]
    try:
        run_id = api.runs.submit(job, target, who_name, full_refresh)
    except OSError as exc:
        raise ApiError(503, "could not start the run worker", {"reason": type(exc).__name__}) from exc
    reply = m.RunSubmitReply(
        runId=run_id, job=job, target=target, status="QUEUED", statusUrl=f"/api/runs/{run_id}"
    )
    return JSONResponse(
        reply.model_dump(mode="json"), status_code=202, headers={"Location": f"/api/runs/{run_id}"}
    )


@router.post("/sync", status_code=202, response_model=m.RunSubmitReply)
def sync_all(api: State, who: SyncScope, body: m.SyncBody | None = None) -> JSONResponse:
    """Submit a ``syncall`` run (every configured platform, then the unified tables)."""
    return submit(api, "syncall", "syncall", who.name, bool(body and body.fullRefresh))


def _run(api, run_id: str) -> m.RunReply:  # type: ignore[no-untyped-def]
    state = api.runs.state(valid_id(run_id, "run id"))
    if state is None:
        raise ApiError(404, f"run {run_id!r} not found", {"runId": run_id})
    return m.RunReply(run=m.RunOut(**state))


@router.get("/runs/{run_id}", response_model=m.RunReply, responses={404: {"model": m.ErrorReply}})
def get_run(api: State, _who: Read, run_id: PathId) -> m.RunReply:
    return _run(api, run_id)


@router.get("/sync/{run_id}", response_model=m.RunReply, responses={404: {"model": m.ErrorReply}})
def get_sync(api: State, _who: Read, run_id: PathId) -> m.RunReply:
    return _run(api, run_id)


@router.get("/sync", response_model=m.RunListReply)
def list_syncs(api: State, _who: Read) -> m.RunListReply:
    runs = [m.RunOut(**r) for r in api.runs.recent()]
    return m.RunListReply(runs=runs, total=len(runs))


@router.get("/history", response_model=m.HistoryReply)
def history(api: State, _who: Read) -> m.HistoryReply:
    log, meta = api.store.sync_history()
    return m.HistoryReply(runs=[m.RunOut(**r) for r in api.runs.recent()], syncLog=log, warehouse=meta)
