"""Error answers: always ``{success: false, error, details?}`` with a status code that says the same.

FastAPI's own answers are reshaped here: a body that fails validation (422 by default) is a 400,
an unknown path a 404, a wrong method a 405 that keeps its ``Allow`` header. Validation details
name the field and the problem, never echo the input (it may be 100,000 characters, or a secret).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chitty_pipelines.config import scrub

log = logging.getLogger("chitty_pipelines.api")

_REASONS = {
    400: "bad request",
    401: "authentication required",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "request body too large",
    415: "unsupported media type: send application/json",
    500: "internal error",
    502: "upstream failed",
    503: "service unavailable",
}


def log_path(path: str) -> str:
    """The request path as the access log prints it: secrets masked, at most 300 characters, and
    percent-encoded again. The server hands handlers the *decoded* path, so ``%0a`` would start a
    forged log line and ``%00`` write a NUL into the log; encoded, a log line is one line of
    printable ASCII whatever a client (even one without a token) sends."""
    from urllib.parse import quote

    return quote(scrub(path)[:300], safe="/:@-._~!$&'()*+,;=", errors="replace")


class ApiError(Exception):
    """Raised by handlers and the store; becomes an error answer."""

    def __init__(
        self, status: int, error: str, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details
        self.headers = headers or {}


def error_response(
    status: int, error: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"success": False, "error": scrub(error)}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    details = []
    invalid_json = False
    for err in exc.errors():
        kind = str(err.get("type", ""))
        invalid_json |= kind == "json_invalid"
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        if kind == "json_invalid":
            loc = [f"body (character {loc[0]})"] if loc else []
        details.append(
            {"field": ".".join(loc) or "body", "problem": str(err.get("msg", ""))[:200], "type": kind}
        )
    if invalid_json:
        return "invalid JSON", details[:20]
    whole = [d for d in details if d["field"] == "body"]  # the body itself, not one of its fields
    if whole and whole[0]["type"] == "missing":  # no body at all: pydantic says "Field required"
        return "empty body: send a JSON object (content-type: application/json)", details[:20]
    if whole and whole[0]["type"] in ("model_attributes_type", "dict_type"):
        return "the body is not a JSON object: send a JSON object", details[:20]
    first = details[0] if details else {"field": "body", "problem": "invalid"}
    return f"invalid input: {first['field']}: {first['problem']}", details[:20]


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    from starlette.routing import Match

    methods = []
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.append(method)
    return ", ".join(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        error, details = _validation_details(exc)
        return error_response(400, error, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        detail = exc.detail if isinstance(exc.detail, str) else None
        error = _REASONS.get(exc.status_code, detail or "error")
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's answer for a body json.loads raised on with other than a decode error
            error = "invalid JSON: the body could not be read (not UTF-8 text, or nested too deeply)"
        if exc.status_code == 404:
            error = f"not found: {request.method} {request.url.path}"
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return error_response(exc.status_code, error, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The type only: an exception's text may quote a server's answer or a connection string.
        log.exception("unexpected error on %s %s", request.method, log_path(request.url.path))
        return error_response(500, f"internal error ({type(exc).__name__})")
