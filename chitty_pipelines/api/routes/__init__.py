"""The API's routers, one module per resource. Resource routers are mounted under ``/api`` and,
hidden from the schema, at the root too (``/session``...: the original's aliases, section 1.1).
The platform routers (``/{platform}/...``) come last: every fixed path wins over them."""

from __future__ import annotations

from fastapi import APIRouter

from chitty_pipelines.api.routes import health, hooks, platforms, projects, runs, sessions, todos, topics

_RESOURCES = (health.router, projects.router, sessions.router, topics.router, todos.router)


def _mounted() -> list[APIRouter]:
    out = [health.public, runs.router, todos.v1_router, hooks.router]
    for r in _RESOURCES:
        api = APIRouter(prefix="/api")
        api.include_router(r)
        alias = APIRouter(include_in_schema=False)
        alias.include_router(r)
        out += [api, alias]
    out.append(platforms.router)
    return out


ROUTERS: list[APIRouter] = _mounted()
