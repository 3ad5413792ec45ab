"""The FastAPI application of ``chitty-sync serve``: settings, middleware, routers.

Middleware, outermost first (plain ASGI, so a refused request never reaches a handler):

1. access log: one line per request with method, path, status, milliseconds and the token's
   *name*; never a header, a query string or a body (tokens and ids of other people stay out);
2. auth gate: 401 without a valid bearer token (all paths but /health and the docs), before
   anything reads the body; scopes are checked by each route (deps.require, 403);
3. body guard: 413 when ``Content-Length`` (or the bytes actually received) exceed
   ``CHITTY_API_MAX_BODY_BYTES``; 415 when a request carries a body that is not JSON.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chitty_pipelines import config
from chitty_pipelines.api import errors
from chitty_pipelines.api.runs import Runs
from chitty_pipelines.api.store import Store, session_ttl_s
from chitty_pipelines.warehouse.hubstore import Hub, HubStore
from chitty_pipelines.warehouse.opstore_location import URL_VAR

access_log = logging.getLogger("chitty_pipelines.api.access")

DEFAULT_MAX_BODY_BYTES = 1_048_576
BODY_METHODS = {"POST", "PUT", "PATCH"}


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("chitty-pipelines")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0.0.0+source"


@dataclass(frozen=True)
class ApiSettings:
    hub_path: Path
    warehouse_path: Path
    no_auth: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    threads: int = 4  # CHITTY_API_THREADS: threads running request handlers
    # CHITTY_WAREHOUSE_URL: hub and warehouse reads both go to PostgreSQL (a secret: no repr)
    warehouse_url: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, no_auth: bool = False) -> ApiSettings:
        from chitty_pipelines.warehouse.opstore_location import default_path

        session_ttl_s()  # a SESSION_TTL that is not a number stops the start, named, not each read
        return cls(
            hub_path=Path(default_path()),
            warehouse_path=config.load_settings().warehouse_path,
            no_auth=no_auth,
            max_body_bytes=config.number("CHITTY_API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, int, minimum=1),
            threads=max(1, config.number("CHITTY_API_THREADS", 4, int)),
            warehouse_url=config.env(URL_VAR) or None,
        )


class AppState:
    """What every route needs, on ``app.state.api``."""

    def __init__(self, settings: ApiSettings):
        self.settings = settings
        url = settings.warehouse_url
        # one connection per server thread, kept: opening one costs more than a hub query
        self.hub: Hub = HubStore(settings.hub_path, keep_open=True, url=url)
        self.store = Store(self.hub, settings.warehouse_path, url)
        self.runs = Runs(self.hub)
        self.version = version()
        self.started_at = time.time()


class BodyGuard:
    """413 over the body limit, 415 for a body that is not JSON (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _refuse(
                send,
                413 if length.isdigit() else 400,
                f"request body over {self.max_bytes} bytes" if length.isdigit() else "invalid Content-Length",
            )
            return
        has_body = chunked or (length is not None and int(length) > 0)
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if has_body and not (media == "application/json" or media.endswith("+json")):
            await _refuse(send, 415, f"unsupported media type {media or '(none)'}: send application/json")
            return
        # Read the whole body here (it is at most max_bytes), so a body sent without
        # Content-Length (chunked) is measured before any handler sees it, then replay it.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await _refuse(send, 413, f"request body over {self.max_bytes} bytes")
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(
    send: Send, status: int, error: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    import json

    body = json.dumps({"success": False, "error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


PUBLIC_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


class AuthGate:
    """401 for every path but the public ones unless a valid bearer token is sent, checked before
    the body is read (an unauthenticated client learns nothing from validation errors)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        from chitty_pipelines.api.auth import NO_AUTH, bearer, match_token

        api: AppState = scope["app"].state.api
        if api.settings.no_auth:
            who = NO_AUTH
        else:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            token = bearer(headers.get("authorization"))
            found = match_token(token, api.hub.active_token_hashes()) if token else None
            if found is None:
                error = (
                    "invalid or revoked token"
                    if token
                    else ("authentication required: send Authorization: Bearer <token>")
                )
                await _refuse(send, 401, error, [(b"www-authenticate", b"Bearer")])
                return
            if api.hub.touch_due(found.name):
                # a write may wait for SQLite's lock: never on the event loop
                from starlette.concurrency import run_in_threadpool

                await run_in_threadpool(api.hub.touch_token, found.name)
            who = found
        state = scope.setdefault("state", {})
        state["principal"] = who.name
        state["principal_obj"] = who
        await self.app(scope, receive, send)


class AccessLog:
    """One line per request; the token never appears (see the module docstring)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            who = scope.get("state", {}).get("principal", "-")
            client = (scope.get("client") or ("-", 0))[0]
            access_log.info(
                '%s "%s %s" %d %.1fms token=%s',
                client,
                scope["method"],
                errors.log_path(scope["path"]),
                status,
                (time.perf_counter() - t0) * 1000,
                who,
            )


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    from fastapi import Depends

    from chitty_pipelines.api.deps import no_unknown_query
    from chitty_pipelines.api.routes import ROUTERS

    settings = settings or ApiSettings.from_env()
    state = AppState(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        import anyio.to_thread

        # Handlers are short and CPU-bound (SQLite reads, snapshots, serialisation): anyio's 40
        # threads only fight over the GIL. With 4, a session page answered 15-25 % more
        # requests with a lower p99 (wrk, 16 connections); a refresh waiting on the DuckDB lock
        # still leaves threads free (it waits at most WAREHOUSE_WAIT_S, one per query).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        yield
        state.runs.reap()  # graceful shutdown: collect finished workers; running ones finish on their own

    app = FastAPI(
        title="ChittyOS Sync Service (chitty-pipelines)",
        version=state.version,
        description="The sync.chitty.cc API (contracts section 1, with every fix of 1.4): sessions, "
        "heartbeats, todos, topics and projects shared by AI tools; platform health; Dagster runs. "
        "Every route but /health needs `Authorization: Bearer <token>` (`chitty-sync token create`).",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        dependencies=[Depends(no_unknown_query)],
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.state.api = state
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    # add_middleware wraps: the last added runs first (access log, then auth, then the body guard).
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    app.add_middleware(AuthGate)
    app.add_middleware(AccessLog)
    return app


def _error_responses() -> dict[int | str, dict[str, Any]]:
    from chitty_pipelines.api.models import ErrorReply

    described = {
        400: "bad input: invalid JSON, wrong type, unknown field, invalid id",
        401: "no valid bearer token",
        403: "the token lacks the scope",
        404: "unknown path or id",
        405: "method not allowed (see Allow)",
        413: "body over CHITTY_API_MAX_BODY_BYTES",
        415: "a body that is not application/json",
        503: "a dependency is unavailable (see details)",
    }
    return {code: {"model": ErrorReply, "description": text} for code, text in described.items()}


ERROR_RESPONSES = _error_responses()


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema without its 422 answers: validation errors are 400 here (errors.py)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    app.openapi_schema = schema
    return schema


def get_state(app: Any) -> AppState:
    return app.state.api
