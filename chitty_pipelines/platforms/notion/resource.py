"""Notion as a Dagster resource: notion-client with our pacing, retries and error policy.

The official client's own retries are switched off (``retry=False``) so that one policy
(resources/retry.py) governs every platform: paced to Notion's average of ~3 requests/s, 429
and 5xx retried honouring Retry-After, a bounded number of attempts, 401/403 failing at once
with a message naming NOTION_TOKEN.

Both wire shapes are handled, chosen by ``api_version``:

* ``2025-09-03``: a database is a container of data sources; rows come from
  ``POST /v1/data_sources/{id}/query``; search lists ``data_source`` objects.
* ``2022-06-28``: a database is the table; rows come from ``POST /v1/databases/{id}/query``;
  search lists ``database`` objects.

Either way the sync sees ``NotionTable`` objects (one per table) with their schema.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.kernel.retry import Pacer, call_with_retry, parse_retry_after
from chitty_pipelines.platforms.notion.properties import normalize_id, plain_text

if TYPE_CHECKING:
    # notion_client and httpx are imported where used, not when the code location loads.
    from notion_client.errors import HTTPResponseError

T = TypeVar("T")
DATA_SOURCES_VERSION = "2025-09-03"
CLASSIC_VERSION = "2022-06-28"
SUPPORTED_VERSIONS = (DATA_SOURCES_VERSION, CLASSIC_VERSION)
RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504, 529})
LEDGER_STREAMS = ("evidence", "cases")


class NotionAuthError(RuntimeError):
    """The token was refused. Raised from None so no client internals ride along."""


class NotionApiError(RuntimeError):
    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class NotionTable:
    """One table of rows: a data source (2025-09-03) or a database (2022-06-28)."""

    table_id: str
    database_id: str | None
    title: str | None
    properties: dict[str, Any]
    last_edited_time: str | None
    kind: str  # data_source | database
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


def _retryable(exc: BaseException) -> bool:
    import httpx
    from notion_client.errors import HTTPResponseError, RequestTimeoutError

    if isinstance(exc, HTTPResponseError):
        return exc.status in RETRY_STATUSES
    # Dropped connections and timeouts: the client lets httpx transport errors through as is.
    return isinstance(exc, (RequestTimeoutError, httpx.TransportError))


def _retry_after(exc: BaseException) -> float | None:
    from notion_client.errors import HTTPResponseError

    if isinstance(exc, HTTPResponseError):
        return parse_retry_after(exc.headers.get("retry-after"))
    return None


def _table_from(obj: dict[str, Any]) -> NotionTable:
    kind = str(obj.get("object"))
    parent = obj.get("parent") or {}
    database_id = parent.get("database_id") if kind == "data_source" else obj.get("id")
    return NotionTable(
        table_id=normalize_id(obj.get("id")) or "",
        database_id=normalize_id(database_id),
        title=plain_text(obj.get("title")),
        properties=obj.get("properties") or {},
        last_edited_time=obj.get("last_edited_time"),
        kind=kind,
        raw=obj,
    )


class NotionApi:
    """One sync's worth of client, pacer and request counter (the resource itself is immutable)."""

    def __init__(self, resource: NotionResource):
        token = config.secret_value(resource.token)
        if not token:
            raise NotionAuthError("Notion is not configured: set NOTION_TOKEN")
        self.version = resource.api_version
        self.page_size = resource.page_size
        self.attempts = resource.max_attempts
        self.max_wait = resource.max_retry_wait_s
        self.pacer = Pacer(resource.rate_per_s)
        from notion_client import Client

        self.client = Client(
            auth=token,
            base_url=resource.base_url.rstrip("/"),
            notion_version=resource.api_version,
            timeout_ms=int(resource.timeout_s * 1000),
            retry=False,
            # Our own logger: the default one adds a console handler per client instance.
            logger=logging.getLogger("chitty_pipelines.notion_client"),
        )
        self.base_url = resource.base_url.rstrip("/")
        self.requests = 0
        self._count_lock = threading.Lock()

    @property
    def data_sources(self) -> bool:
        return self.version != CLASSIC_VERSION

    def close(self) -> None:
        self.client.close()

    def call(self, describe: str, fn: Callable[[], T]) -> T:
        import httpx
        from notion_client.errors import HTTPResponseError, RequestTimeoutError

        def attempt() -> T:
            self.pacer.wait()
            with self._count_lock:
                self.requests += 1
            return fn()

        try:
            return call_with_retry(
                attempt,
                retryable=_retryable,
                retry_after=_retry_after,
                attempts=self.attempts,
                max_wait=self.max_wait,
                describe=f"notion {describe}",
            )
        except HTTPResponseError as exc:
            raise _translate(describe, exc) from None
        except (RequestTimeoutError, httpx.TransportError) as exc:
            # Not the token's fault: name what decides where requests go (a wrong NOTION_BASE_URL,
            # a proxy, no network), so the user does not rotate a good secret.
            raise NotionApiError(
                f"notion {describe}: {type(exc).__name__} after {self.attempts} attempts reaching "
                f"{self.base_url} (check NOTION_BASE_URL, default https://api.notion.com, and the network)"
            ) from None

    # --- calls ------------------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        return self.call("users/me", lambda: self.client.users.me())

    def _paginate(
        self, describe: str, fetch: Callable[[str | None], dict[str, Any]]
    ) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        restarted = False
        while True:
            try:
                page = self.call(describe, lambda c=cursor: fetch(c))
            except NotionApiError as exc:
                # Airbyte's lesson: Notion sometimes refuses a cursor it handed out; restart the
                # listing once instead of failing (rows are upserted by key, so a re-read is harmless).
                if exc.status == 400 and cursor and not restarted and "start_cursor" in str(exc):
                    cursor, restarted = None, True
                    continue
                raise
            yield from page.get("results") or []
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return

    def search_tables(self) -> list[NotionTable]:
        """Every table shared with the integration."""
        value = "data_source" if self.data_sources else "database"
        body: dict[str, Any] = {"filter": {"property": "object", "value": value}, "page_size": self.page_size}
        found = self._paginate(
            "search",
            lambda c: self.client.search(**body, **({"start_cursor": c} if c else {})),
        )
        return [_table_from(obj) for obj in found if obj.get("object") == value]

    def database_tables(self, database_id: str) -> list[NotionTable]:
        """The tables of one database: itself (2022-06-28) or its data sources (2025-09-03)."""
        db = self.call("databases.retrieve", lambda: self.client.databases.retrieve(database_id=database_id))
        if not self.data_sources:
            return [_table_from(db)]
        tables = []
        for ds in db.get("data_sources") or []:
            obj = self.call(
                "data_sources.retrieve",
                lambda ds_id=ds["id"]: self.client.data_sources.retrieve(data_source_id=ds_id),
            )
            tables.append(_table_from(obj))
        return tables

    def query_pages(self, table: NotionTable, since: str | None) -> Iterator[dict[str, Any]]:
        """Pages of a table edited on or after ``since`` (all when None), oldest edit first."""
        body: dict[str, Any] = {
            "sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}],
            "page_size": self.page_size,
        }
        if since:
            # on_or_after, not after: Notion truncates edit times to the minute, so pages edited
            # later within the cursor's minute carry the same timestamp.
            body["filter"] = {"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": since}}

        def fetch(cursor: str | None) -> dict[str, Any]:
            payload = {**body, **({"start_cursor": cursor} if cursor else {})}
            if table.kind == "data_source":
                return self.client.data_sources.query(data_source_id=table.table_id, **payload)
            # The classic query has no endpoint method in notion-client 3.x: same client, raw path.
            return self.client.request(path=f"databases/{table.table_id}/query", method="POST", body=payload)

        yield from self._paginate("query", fetch)


def _translate(describe: str, exc: HTTPResponseError) -> Exception:
    code = str(getattr(exc.code, "value", exc.code))
    if exc.status == 401:
        return NotionAuthError(
            "Notion refused the token (401 unauthorized): NOTION_TOKEN is invalid or revoked. "
            "Set NOTION_TOKEN to a current internal integration secret."
        )
    if exc.status == 403:
        return NotionAuthError(
            f"Notion refused {describe} (403 {code}): the integration behind NOTION_TOKEN lacks the "
            "capability; grant it read content access."
        )
    return NotionApiError(f"notion {describe}: HTTP {exc.status} {code}: {exc}", exc.status, code)


class NotionResource(dg.ConfigurableResource):
    """Notion API access (token from NOTION_TOKEN); unconfigured when the token is unset."""

    token: str | None = Field(default=None, description="Integration secret (from NOTION_TOKEN).")
    base_url: str = Field(default="https://api.notion.com", description="API root; the client adds /v1.")
    api_version: str = Field(default=DATA_SOURCES_VERSION, description="Notion-Version header.")
    database_ids: list[str] = Field(
        default_factory=list, description="Databases to sync; empty means everything shared (search)."
    )
    evidence_database_id: str | None = Field(default=None, description="ChittyLedger evidence database.")
    cases_database_id: str | None = Field(default=None, description="ChittyLedger cases database.")
    rate_per_s: float = Field(default=3.0, description="Client-side pace (Notion's average limit is 3/s).")
    page_size: int = Field(default=100, description="Results per request (Notion allows at most 100).")
    max_attempts: int = Field(default=6, description="Attempts per request, retries included.")
    max_retry_wait_s: float = Field(default=120.0, description="Longest single wait between attempts.")
    timeout_s: float = Field(default=60.0)

    @classmethod
    def from_settings(cls) -> NotionResource:
        ids = [normalize_id(i) for i in (config.env("NOTION_DATABASES") or "").split(",") if i.strip()]
        return cls(
            token=config.secret("NOTION_TOKEN"),  # type: ignore[arg-type]  # EnvVar resolves at run time
            base_url=config.env("NOTION_BASE_URL") or "https://api.notion.com",
            api_version=config.env("NOTION_API_VERSION") or DATA_SOURCES_VERSION,
            database_ids=[i for i in ids if i],
            evidence_database_id=normalize_id(config.env("NOTION_EVIDENCE_DATABASE")),
            cases_database_id=normalize_id(config.env("NOTION_CASES_DATABASE")),
            rate_per_s=config.number("NOTION_RATE", 3.0, minimum=0),
            timeout_s=config.number("NOTION_TIMEOUT_S", 60, positive=True),
        )

    @property
    def configured(self) -> bool:
        return bool(self.token)

    def ledger_databases(self) -> dict[str, str]:
        """ChittyLedger stream name -> database id, for the streams that are configured."""
        ids = {"evidence": self.evidence_database_id, "cases": self.cases_database_id}
        return {stream: normalize_id(i) or "" for stream, i in ids.items() if i}

    def api(self) -> NotionApi:
        if self.api_version not in SUPPORTED_VERSIONS:
            raise ValueError(
                f"NOTION_API_VERSION {self.api_version!r} is not supported; use one of {SUPPORTED_VERSIONS}"
            )
        return NotionApi(self)
