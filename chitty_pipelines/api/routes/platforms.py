"""``GET /{platform}/health`` (the platform's own probe, run now) and ``POST /{platform}/sync`` (a
Dagster run of its assets). ``local`` answers for claude_code, chatgpt and gemini together, as
the original's /local routes did (where they always answered 501)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chitty_pipelines.api import models as m
from chitty_pipelines.api.deps import PathId, Read, State, SyncScope
from chitty_pipelines.api.errors import ApiError
from chitty_pipelines.api.routes.runs import submit
from chitty_pipelines.ops.jobs import LOCAL_GROUPS, LOCAL_TARGET, platform_sync_job_name
from chitty_pipelines.ops.status import platform_health
from chitty_pipelines.platforms import registry

router = APIRouter(tags=["platforms"])


def _known(platform: str) -> str:
    if platform != LOCAL_TARGET and platform not in registry.NAMES:
        raise ApiError(404, f"unknown platform {platform!r}", {"known": [*registry.NAMES, LOCAL_TARGET]})
    return platform


def _probe(name: str) -> dict[str, Any]:
    spec = registry.get(name)
    if not spec.configured():
        return {"ok": False, "configured": False, "reason": f"not configured: set {spec.setup_hint}"}
    result = platform_health(name)
    return {**result, "configured": bool(result.get("configured", True))}


@router.get(
    "/{platform}/health",
    response_model=m.PlatformHealthReply,
    responses={404: {"model": m.ErrorReply}, 503: {"model": m.ErrorReply}},
)
def platform_health_route(_who: Read, platform: PathId) -> JSONResponse:
    name = _known(platform)
    names = LOCAL_GROUPS if name == LOCAL_TARGET else (name,)
    checks = {n: _probe(n) for n in names}
    configured = [c for c in checks.values() if c["configured"]]
    if not configured:
        reply = m.PlatformHealthReply(
            platform=name,
            status="not_configured",
            configured=False,
            reason="; ".join(c["reason"] for c in checks.values()),
            checks=checks,
        )
        return JSONResponse(reply.model_dump(mode="json"))
    failing = {n: c for n, c in checks.items() if c["configured"] and not c.get("ok")}
    if failing:  # the upstream (or its files) failed its probe: 503 with what each said
        reasons = "; ".join(f"{n}: {c.get('reason', '')}" for n, c in failing.items())
        raise ApiError(503, f"{name} unhealthy: {reasons}", {"platform": name, "checks": checks})
    reply = m.PlatformHealthReply(platform=name, status="healthy", configured=True, checks=checks)
    return JSONResponse(reply.model_dump(mode="json"))


@router.post(
    "/{platform}/sync",
    status_code=202,
    response_model=m.RunSubmitReply,
    responses={404: {"model": m.ErrorReply}},
)
def platform_sync(
    api: State, who: SyncScope, platform: PathId, body: m.SyncBody | None = None
) -> JSONResponse:
    name = _known(platform)
    return submit(api, platform_sync_job_name(name), name, who.name, bool(body and body.fullRefresh))
