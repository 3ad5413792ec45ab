"""FastAPI dependencies shared by the route modules: the app state, the authenticated principal
with a required scope, and validated path ids."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chitty_pipelines.api.app import AppState
from chitty_pipelines.api.auth import Principal
from chitty_pipelines.api.errors import ApiError
from chitty_pipelines.api.models import ID_PATTERN

# auto_error=False: a missing header is our 401 in our shape, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="A token from `chitty-sync token create`.")
_ID = re.compile(ID_PATTERN)


def state(request: Request) -> AppState:
    return request.app.state.api


def principal(request: Request) -> Principal:
    """Who is asking: set by the AuthGate middleware (app.py) before anything reads the body."""
    who = request.scope.get("state", {}).get("principal_obj")
    if who is None:  # only reachable for a public path wired to a protected handler: refuse
        raise ApiError(401, "authentication required: send Authorization: Bearer <token>")
    return who


def require(scope: str) -> Callable[..., Principal]:
    """A dependency: the request's principal, 403 unless it holds ``scope``."""

    def check(
        who: Annotated[Principal, Depends(principal)],
        _doc: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    ) -> Principal:
        if not who.allows(scope):
            raise ApiError(
                403,
                f"token {who.name!r} lacks the {scope!r} scope",
                {"required": scope, "granted": sorted(who.scopes)},
            )
        return who

    return check


Read = Annotated[Principal, Depends(require("read"))]
Write = Annotated[Principal, Depends(require("write"))]
SyncScope = Annotated[Principal, Depends(require("sync"))]
Admin = Annotated[Principal, Depends(require("admin"))]
State = Annotated[AppState, Depends(state)]


def valid_id(value: str, what: str = "id") -> str:
    """400 for an id outside the allowed charset/length (path traversal, SQL-looking strings)."""
    if not _ID.fullmatch(value):
        raise ApiError(
            400, f"invalid {what}: use 1-128 of A-Z a-z 0-9 . _ : @ - (starting with a letter or digit)"
        )
    return value


# Path ids, validated and documented with their pattern (a mismatch is our 400, errors.py).
PathId = Annotated[
    str,
    Path(description="1-128 of A-Z a-z 0-9 . _ : @ - (starting with a letter or digit)", pattern=ID_PATTERN),
]


# A unified session key may also hold '#': a Claude Code subagent's part is
# ``claude:<session>#agent-<id>`` (sent as %23). Only the label routes take one.
SESSION_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@#-]{0,127}$"
SessionKeyPathId = Annotated[
    str,
    Path(
        description="a conversation id, or a unified.sessions key: 1-128 of A-Z a-z 0-9 . _ : @ - # "
        "(starting with a letter or digit; # as %23)",
        pattern=SESSION_KEY_PATTERN,
    ),
]


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def no_unknown_query(request: Request) -> None:
    """400 for a query parameter the route does not declare (as unknown body fields are)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    unknown = sorted(set(request.query_params) - _query_names(dependant))
    if unknown:
        shown = ", ".join(repr(u[:40]) for u in unknown[:5])
        raise ApiError(
            400, f"unknown query parameter(s): {shown}", {"unknown": [u[:40] for u in unknown[:20]]}
        )
