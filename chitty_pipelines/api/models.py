"""Every request body and response of the sync API, as pydantic models: they are the validation
(unknown fields rejected, types strict, lengths bounded) and the OpenAPI schema at /openapi.json.

Field names are the original's camelCase (contracts section 1.2), so its clients keep working.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import orjson
from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from chitty_pipelines.chittyos.sync_client import ID_PATTERN
from chitty_pipelines.kernel.text import clean_json

# Ids travel in paths and bodies (the rule the sync client also checks before sending): no
# slash, no space, no quote, so a path traversal or an SQL-looking string is refused before
# anything reads or writes.
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=128)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=4000)]
METADATA_MAX_BYTES = 16_384
TODOS_MAX = 500

TodoStatus = Literal["pending", "in_progress", "completed"]


def model_reply(reply: BaseModel, status_code: int = 200) -> Response:
    """``reply`` serialised once, by its own model.

    Returning the model would make FastAPI dump it to a dict, validate that dict against the
    route's ``response_model`` and serialise it again. The route keeps ``response_model`` for the
    OpenAPI schema."""
    return Response(reply.model_dump_json(), status_code=status_code, media_type="application/json")


def fast_reply(model: type[Reply], payload: dict[str, Any], status_code: int = 200) -> Response:
    """``payload`` (the fields of ``model``, built from typed store columns) as JSON, unvalidated.

    For the hottest read (a page of sessions): validating 100 sessions field by field was a
    quarter of the request's CPU (bench/api). The shape is the model's all the same: tests
    validate these answers against ``model`` and schemathesis against the OpenAPI schema."""
    unknown = payload.keys() - model.model_fields.keys()
    if unknown:  # a programming error: the payload drifted from its model
        raise TypeError(f"{model.__name__} has no field(s) {sorted(unknown)}")
    body = {"success": True, **payload}
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


class Body(BaseModel):
    """A request body: unknown fields are an error (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold U+0000 (SQLite can): refused alike on both hub stores, with
        # a 400 instead of a failed write. Metadata is stored as JSON text, escaped, so it may.
        # Per field, so the error's details name it ({"field": "machineId"}), not "body".
        if any(isinstance(v, str) and "\x00" in v for v in (value if isinstance(value, list) else [value])):
            raise ValueError("the NUL character (U+0000) is not allowed")
        return value


class Reply(BaseModel):
    """A response: ``success`` agrees with the status code (true for 2xx, false otherwise)."""

    model_config = ConfigDict(extra="allow")

    success: bool = True


def _metadata_size(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return value
    try:
        # allow_nan=False: the request parser takes NaN, Infinity and 1e999 (inf), which JSON
        # has not; stored, they made the session unreadable (every read of it a 500).
        text = json.dumps(value, default=str, allow_nan=False)
    except ValueError:
        raise ValueError("metadata holds NaN or Infinity, which are not JSON numbers") from None
    if len(text) > METADATA_MAX_BYTES:
        raise ValueError(f"metadata is larger than {METADATA_MAX_BYTES} bytes of JSON")
    # A lone surrogate ("\udc80" in the JSON) is stored, then fails every response holding the
    # session (the listing included) with a 500: replaced by U+FFFD, as the hooks route does.
    # U+0000 stays: stored as JSON text it is escaped and reads back as sent.
    return clean_json(value, keep_nul=True)


# --- errors -------------------------------------------------------------------------------------
class ErrorReply(BaseModel):
    success: Literal[False] = False
    error: str
    details: Any | None = None


# --- health and status --------------------------------------------------------------------------
class HealthReply(BaseModel):
    model_config = ConfigDict(extra="allow")

    service: str = "sync"
    status: Literal["healthy", "degraded"]
    version: str
    architecture: str = "Platform Integration Hub"
    platforms: list[str]
    resources: list[str]
    endpoints: dict[str, str]
    warehouse: dict[str, Any]
    hub: dict[str, Any]
    last_syncall: dict[str, Any] | None = None
    timestamp: str


class PlatformState(BaseModel):
    status: Literal["ok", "failed", "never_synced", "not_configured"]
    configured: bool
    last_sync: str | None = None
    last_status: str | None = None
    rows: int | None = None


class StatusReply(Reply):
    service: str = "sync"
    version: str
    timestamp: str
    projects: dict[str, int]
    sessions: dict[str, int]
    topics: dict[str, int]
    platforms: dict[str, PlatformState]
    warehouse: dict[str, Any]


# --- projects -----------------------------------------------------------------------------------
class ProjectBody(Body):
    id: Id | None = None
    name: Name | None = None
    path: Annotated[str, StringConstraints(max_length=1000)] | None = None
    gitRemote: Annotated[str, StringConstraints(max_length=1000)] | None = None


class ProjectPutBody(Body):
    name: Name | None = None
    path: Annotated[str, StringConstraints(max_length=1000)] | None = None
    gitRemote: Annotated[str, StringConstraints(max_length=1000)] | None = None


class ProjectOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    name: str | None = None
    path: str | None = None
    gitRemote: str | None = None
    registered: bool
    registeredAt: str | None = None
    updatedAt: str | None = None


class ProjectReply(Reply):
    created: bool
    project: ProjectOut
    servicesRegistered: bool = False


class ProjectListReply(Reply):
    projects: list[ProjectOut]
    total: int
    timestamp: str
    warehouse: dict[str, Any]


class ProjectDetailReply(Reply):
    project: ProjectOut
    sessions: list[SessionOut]
    totalSessions: int
    activeSessions: int


class DeletedReply(Reply):
    deleted: bool
    note: str = ""


# --- sessions -----------------------------------------------------------------------------------
class SessionBody(Body):
    id: Id
    projectId: Id | None = None
    aiPlatform: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")] | None = None
    machineId: Annotated[str, StringConstraints(max_length=255)] | None = None
    metadata: dict[str, Any] | None = None

    _size = field_validator("metadata")(_metadata_size)


class HeartbeatBody(Body):
    metadata: dict[str, Any] | None = None
    reopen: bool = False  # an ended session is active again (a resumed Claude Code session)

    _size = field_validator("metadata")(_metadata_size)


class SessionOut(BaseModel):
    id: str
    sessionId: str
    chittyId: str | None = None
    idSource: str | None = None
    projectId: str | None = None
    aiPlatform: str
    machineId: str | None = None
    status: Literal["active", "stale", "inactive", "archived"]
    active: bool
    startedAt: str
    lastActiveAt: str
    endedAt: str | None = None
    heartbeats: int
    metadata: dict[str, Any]


class SessionReply(Reply):
    created: bool = False
    message: str = ""
    session: SessionOut


class SessionListReply(Reply):
    sessions: list[SessionOut]
    total: int
    active: int
    limit: int
    offset: int
    timestamp: str


# --- topics -------------------------------------------------------------------------------------
class TopicBody(Body):
    id: Id
    category: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] | None = None
    content: Text | None = None
    file: Annotated[str, StringConstraints(max_length=1000)] | None = None
    subcategories: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=20)
    ] = []
    confidence: Annotated[float, Field(ge=0, le=1)] | None = None


class TopicPutBody(Body):
    category: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] | None = None
    content: Text | None = None
    file: Annotated[str, StringConstraints(max_length=1000)] | None = None
    subcategories: (
        Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=20)] | None
    ) = None
    confidence: Annotated[float, Field(ge=0, le=1)] | None = None


class ConversationOut(BaseModel):
    id: str
    category: str
    subcategories: list[str]
    confidence: float
    file: str | None = None
    content_preview: str | None = None
    categorized: str
    updated: str
    categorizedBy: str = "client"


class ConversationReply(Reply):
    created: bool = False
    conversation: ConversationOut


class TopicLabelOut(BaseModel):
    sessionKey: str
    topic: str  # as given: a topic or subcategory id of the taxonomy
    category: str  # its top-level topic, what unified.session_topics reports
    classifier: str = "manual"


class TopicLabelReply(Reply):
    label: TopicLabelOut
    note: str = ""


class TopicLabelDeletedReply(Reply):
    sessionKey: str
    removed: bool
    note: str = ""


class TopicCategory(BaseModel):
    category: str
    count: int
    avgConfidence: float | None = None
    lastUpdated: str | None = None
    sessions: int | None = None


class TopicListReply(Reply):
    topics: list[TopicCategory]
    total: int
    timestamp: str


class TopicCategoryReply(Reply):
    category: str
    conversations: list[ConversationOut]
    count: int


# --- todos --------------------------------------------------------------------------------------
class TodoIn(Body):
    content: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    status: TodoStatus
    activeForm: Annotated[str, StringConstraints(max_length=2000)] | None = None
    # Accepted so a client may echo back what it read; the server keeps its own.
    id: Annotated[str, StringConstraints(max_length=128)] | None = None

    @field_validator("content")
    @classmethod
    def _has_text(cls, value: str) -> str:
        # The merge keys todos by their text and drops blank ones: a blank todo answered 200 and
        # then vanished. Refused instead, so the client knows it was not shared.
        if not value.strip():
            raise ValueError("a todo's content must contain text, not only whitespace")
        return value


class TodoSyncBody(Body):
    sessionId: Id
    todos: Annotated[list[TodoIn], Field(max_length=TODOS_MAX)]
    aiPlatform: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")] | None = None


class TodoPostBody(Body):
    todos: Annotated[list[TodoIn], Field(max_length=TODOS_MAX)]
    sessionId: Id | None = None


class TodoV1SyncBody(TodoSyncBody):
    projectId: Id


class TodoOut(BaseModel):
    content: str
    status: TodoStatus
    activeForm: str | None = None
    addedBy: str
    addedAt: str | None = None
    updatedBy: str | None = None
    updatedAt: str | None = None


class TodoSyncReply(Reply):
    projectId: str
    sessionId: str
    todos: list[TodoOut]
    totalTodos: int
    added: int
    updated: int
    lastSync: str


class TodoProjectReply(Reply):
    projectId: str
    todos: list[TodoOut]
    lastSync: str | None = None
    sessions: list[str]
    totalUpdates: int


class TodoSummary(BaseModel):
    projectId: str
    todoCount: int
    lastSync: str | None = None
    sessions: list[str]
    pendingTodos: int
    inProgressTodos: int
    completedTodos: int


class TodoListReply(Reply):
    projects: list[TodoSummary]
    total: int
    timestamp: str


class TodoClearReply(Reply):
    projectId: str
    removed: int
    message: str = "Todos cleared"


# --- runs ---------------------------------------------------------------------------------------
class SyncBody(Body):
    fullRefresh: bool = False


class RunOut(BaseModel):
    runId: str
    job: str
    target: str
    status: str
    submittedAt: str | None = None
    startedAt: str | None = None
    endedAt: str | None = None


class RunSubmitReply(Reply):
    runId: str
    job: str
    target: str
    status: str
    statusUrl: str


class RunReply(Reply):
    run: RunOut


class RunListReply(Reply):
    runs: list[RunOut]
    total: int


class HistoryReply(Reply):
    runs: list[RunOut]
    syncLog: list[dict[str, Any]]
    warehouse: dict[str, Any]


class PlatformHealthReply(Reply):
    platform: str
    status: Literal["healthy", "unhealthy", "not_configured"]
    configured: bool
    reason: str = ""
    checks: dict[str, dict[str, Any]] = {}


ProjectDetailReply.model_rebuild()
