"""A fake Notion API: a real HTTP server speaking the /v1 wire protocol of both API versions.

Seeded programmatically (``add_database``, ``add_page``, ``edit_page``); notion-client is pointed
at it by ``base_url`` exactly as at api.notion.com. It answers with the shape the request's
``Notion-Version`` asks for: ``2022-06-28`` (a database is the table; ``databases/{id}/query``) or
``2025-09-03`` (databases hold data sources; ``data_sources/{id}/query``). It paginates with
``start_cursor``/``has_more``/``next_cursor`` (the cursor is the next result's id, as in Notion),
filters and sorts by ``last_edited_time``, rate-limits with 429 + ``Retry-After`` when asked to,
counts requests and the pages it served, and injects faults (FakeService).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from chitty_pipelines.kernel.fake_server import FakeService, Faults, Request, Response
from chitty_pipelines.platforms.notion.fake_wire import (
    BOT_ID,
    CLASSIC,
    CURRENT,
    USER_ID,
    FakeDatabase,
    FakeDataSource,
    FakePage,
    canon,
    compile_filter,
    error,
    new_id,
    not_found,
    rich,
    title_of,
)

__all__ = ["CLASSIC", "CURRENT", "FakeNotion", "rich"]


class FakeNotion(FakeService):
    def __init__(
        self,
        token: str = "secret_fake_notion_token",
        faults: Faults | None = None,
        rate_limit_per_s: float | None = None,
        rate_limit_burst: int = 10,
        rate_limit_retry_after: str = "1",
    ):
        super().__init__(faults)
        self.token = token
        self.databases: dict[str, FakeDatabase] = {}
        self.data_sources: dict[str, FakeDataSource] = {}
        self.pages: dict[str, FakePage] = {}
        self.served_pages: Counter[str] = Counter()  # page id -> times returned by a query
        self.versions_seen: Counter[str] = Counter()
        self.rate_limit_per_s = rate_limit_per_s
        self.rate_limit_burst = rate_limit_burst
        self.rate_limit_retry_after = rate_limit_retry_after
        self.rate_limited = 0
        self._bucket = float(rate_limit_burst)
        self._bucket_at = time.monotonic()
        self._data_lock = threading.RLock()
        self.route("GET", "/v1/users/me", self._me)
        self.route("GET", "/v1/users", self._users)
        self.route("POST", "/v1/search", self._search)
        self.route("GET", "/v1/databases/{id}", self._get_database)
        self.route("POST", "/v1/databases/{id}/query", self._query_database)
        self.route("GET", "/v1/data_sources/{id}", self._get_data_source)
        self.route("POST", "/v1/data_sources/{id}/query", self._query_data_source)
        self.route("GET", "/v1/pages/{id}", self._get_page)

    # --- seeding ------------------------------------------------------------------------------
    def add_database(
        self,
        title: str,
        schema: dict[str, dict[str, Any]],
        *,
        database_id: str | None = None,
        data_source_ids: list[str] | None = None,
        created_time: str = "2025-01-01T00:00:00.000Z",
    ) -> FakeDatabase:
        """A database with one data source per id in ``data_source_ids`` (default: one), all with
        ``schema`` (property name -> ``{"type": t, ...}``; ids are filled in)."""
        db_id = database_id or new_id()
        ds_ids = data_source_ids or [new_id()]
        props = {
            name: {
                "id": spec.get("id") or f"p{i:03d}",
                "name": name,
                **spec,
                spec["type"]: spec.get(spec["type"], {}),
            }
            for i, (name, spec) in enumerate(schema.items())
        }
        with self._data_lock:
            for n, ds_id in enumerate(ds_ids):
                ds_title = title if n == 0 else f"{title} ({n + 1})"
                self.data_sources[ds_id] = FakeDataSource(
                    ds_id, db_id, ds_title, props, created_time, created_time
                )
            db = FakeDatabase(db_id, title, list(ds_ids), created_time, created_time)
            self.databases[db_id] = db
        return db

    def add_page(
        self,
        table_id: str,
        properties: dict[str, dict[str, Any]],
        last_edited_time: str,
        *,
        page_id: str | None = None,
        created_time: str | None = None,
        in_trash: bool = False,
    ) -> FakePage:
        """A page in a data source (or in a database's first data source)."""
        with self._data_lock:
            ds_id = self.databases[table_id].data_source_ids[0] if table_id in self.databases else table_id
            page = FakePage(
                page_id or new_id(),
                ds_id,
                dict(properties),
                created_time or last_edited_time,
                last_edited_time,
                in_trash,
            )
            self.pages[page.id] = page
        return page

    def edit_page(self, page_id: str, properties: dict[str, dict[str, Any]], at: str) -> None:
        with self._data_lock:
            page = self.pages[page_id]
            page.properties.update(properties)
            page.last_edited_time = at

    def revoke_token(self) -> None:
        self.token = "revoked-" + new_id()

    def reset_counters(self) -> None:
        super().reset_counters()
        with self._lock:
            self.served_pages.clear()
            self.versions_seen.clear()
            self.rate_limited = 0

    def query_requests(self) -> int:
        return sum(n for key, n in self.requests.items() if key.endswith("/query"))

    # --- protocol -----------------------------------------------------------------------------
    def fault_response(self, status: int, headers: dict[str, str]) -> Response:
        # Notion's own codes: a 403 is an integration without the capability, not a server error.
        codes = {
            403: "restricted_resource",
            429: "rate_limited",
            500: "internal_server_error",
            502: "bad_gateway",
            503: "service_unavailable",
            504: "gateway_timeout",
        }
        return error(status, codes.get(status, "internal_server_error"), f"injected fault {status}", headers)

    def _route(self, req: Request) -> Response:
        # Auth, version and rate limit come before routing, as on the real API.
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return error(401, "unauthorized", "API token is invalid.")
        version = req.headers.get("notion-version")
        if version not in (CLASSIC, CURRENT):
            return error(400, "missing_version", "Notion-Version header failed validation.")
        if self._over_rate():
            return error(
                429,
                "rate_limited",
                "You have been rate limited. Please try again in a few minutes.",
                {"Retry-After": self.rate_limit_retry_after},
            )
        with self._lock:
            self.versions_seen[version] += 1
        return super()._route(req)

    def _over_rate(self) -> bool:
        if not self.rate_limit_per_s:
            return False
        with self._lock:
            now = time.monotonic()
            self._bucket = min(
                self.rate_limit_burst, self._bucket + (now - self._bucket_at) * self.rate_limit_per_s
            )
            self._bucket_at = now
            if self._bucket >= 1:
                self._bucket -= 1
                return False
            self.rate_limited += 1
            return True

    @staticmethod
    def _version(req: Request) -> str:
        return req.headers.get("notion-version") or CURRENT

    def _me(self, req: Request) -> Response:
        return Response(
            200,
            {
                "object": "user",
                "id": BOT_ID,
                "name": "chitty-sync",
                "avatar_url": None,
                "type": "bot",
                "bot": {
                    "owner": {"type": "workspace", "workspace": True},
                    "workspace_name": "Fake Workspace",
                },
                "request_id": new_id(),
            },
        )

    def _users(self, req: Request) -> Response:
        users = [{"object": "user", "id": USER_ID, "name": "Ada", "type": "person", "person": {}}]
        return Response(200, self._list(users, "user", None, 100))

    # --- objects ------------------------------------------------------------------------------
    def _database_obj(self, db: FakeDatabase, version: str) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "object": "database",
            "id": db.id,
            "title": rich(db.title),
            "description": [],
            "parent": {"type": "workspace", "workspace": True},
            "is_inline": False,
            "in_trash": False,
            "archived": False,
            "created_time": db.created_time,
            "last_edited_time": db.last_edited_time,
            "icon": None,
            "cover": None,
            "url": f"https://app.notion.com/p/{db.id.replace('-', '')}",
            "public_url": None,
        }
        if version == CLASSIC:
            obj["properties"] = self.data_sources[db.data_source_ids[0]].properties
        else:
            obj["data_sources"] = [{"id": i, "name": self.data_sources[i].title} for i in db.data_source_ids]
        return obj

    def _data_source_obj(self, ds: FakeDataSource) -> dict[str, Any]:
        return {
            "object": "data_source",
            "id": ds.id,
            "title": rich(ds.title),
            "description": [],
            "properties": ds.properties,
            "parent": {"type": "database_id", "database_id": ds.database_id},
            "database_parent": {"type": "workspace", "workspace": True},
            "archived": False,
            "in_trash": False,
            "created_time": ds.created_time,
            "last_edited_time": ds.last_edited_time,
        }

    def _page_obj(self, page: FakePage, version: str) -> dict[str, Any]:
        ds = self.data_sources[page.data_source_id]
        if version == CLASSIC:
            parent = {"type": "database_id", "database_id": ds.database_id}
        else:
            parent = {"type": "data_source_id", "data_source_id": ds.id, "database_id": ds.database_id}
        props = {}
        for name, value in page.properties.items():
            prop_id = (ds.properties.get(name) or {}).get("id", name)
            props[name] = {"id": prop_id, **value}
        return {
            "object": "page",
            "id": page.id,
            "created_time": page.created_time,
            "last_edited_time": page.last_edited_time,
            "created_by": {"object": "user", "id": USER_ID},
            "last_edited_by": {"object": "user", "id": USER_ID},
            "cover": None,
            "icon": None,
            "parent": parent,
            "archived": page.in_trash,
            "in_trash": page.in_trash,
            "is_locked": False,
            "properties": props,
            "url": f"https://app.notion.com/p/{page.id.replace('-', '')}",
            "public_url": None,
            **page.extra,
        }

    # --- lists --------------------------------------------------------------------------------
    def _list(
        self, items: list[dict[str, Any]], kind: str, start_cursor: str | None, page_size: int
    ) -> dict[str, Any] | Response:
        ids = [i["id"] for i in items]
        start = 0
        if start_cursor:
            if start_cursor not in ids:
                return error(400, "validation_error", f"The start_cursor provided is invalid: {start_cursor}")
            start = ids.index(start_cursor)
        size = max(1, min(int(page_size or 100), 100))
        chunk = items[start : start + size]
        has_more = start + size < len(items)
        return {
            "object": "list",
            "results": chunk,
            "next_cursor": ids[start + size] if has_more else None,
            "has_more": has_more,
            "type": kind,
            kind: {},
            "request_id": new_id(),
        }

    def _respond_list(self, listing: dict[str, Any] | Response) -> Response:
        if isinstance(listing, Response):
            return listing
        with self._lock:
            for obj in listing["results"]:
                if obj.get("object") == "page":
                    self.served_pages[obj["id"]] += 1
        return Response(200, listing)

    def _search(self, req: Request) -> Response:
        version = self._version(req)
        body = req.json() or {}
        wanted = (body.get("filter") or {}).get("value")
        table_kind = "database" if version == CLASSIC else "data_source"
        if wanted not in (None, "page", table_kind):
            return error(400, "validation_error", f"body.filter.value should be `page` or `{table_kind}`")
        with self._data_lock:
            objs: list[dict[str, Any]] = []
            if wanted in (None, table_kind):
                if version == CLASSIC:
                    objs += [self._database_obj(db, version) for db in self.databases.values()]
                else:
                    objs += [self._data_source_obj(ds) for ds in self.data_sources.values()]
            if wanted in (None, "page"):
                objs += [self._page_obj(p, version) for p in self.pages.values() if not p.in_trash]
        query = str(body.get("query") or "").lower()
        if query:
            objs = [o for o in objs if query in title_of(o).lower()]
        descending = (body.get("sort") or {}).get("direction") != "ascending"
        objs.sort(key=lambda o: (o["last_edited_time"], o["id"]), reverse=descending)
        kind = "page_or_database" if version == CLASSIC else "page_or_data_source"
        return self._respond_list(
            self._list(objs, kind, body.get("start_cursor"), body.get("page_size", 100))
        )

    def _get_database(self, req: Request) -> Response:
        db = self.databases.get(canon(req.params["id"]))
        if db is None:
            return not_found(req.params["id"], "database")
        return Response(200, {**self._database_obj(db, self._version(req)), "request_id": new_id()})

    def _get_data_source(self, req: Request) -> Response:
        if self._version(req) == CLASSIC:
            return error(400, "invalid_request_url", "Invalid request URL.")
        ds = self.data_sources.get(canon(req.params["id"]))
        if ds is None:
            return not_found(req.params["id"], "data source")
        return Response(200, {**self._data_source_obj(ds), "request_id": new_id()})

    def _get_page(self, req: Request) -> Response:
        page = self.pages.get(canon(req.params["id"]))
        if page is None:
            return not_found(req.params["id"], "page")
        return Response(200, self._page_obj(page, self._version(req)))

    def _query_database(self, req: Request) -> Response:
        version = self._version(req)
        db = self.databases.get(canon(req.params["id"]))
        if db is None:
            return not_found(req.params["id"], "database")
        if version != CLASSIC and len(db.data_source_ids) > 1:
            return error(
                400, "validation_error", "Databases with multiple data sources: query a data source."
            )
        return self._query(req, db.data_source_ids[0], version)

    def _query_data_source(self, req: Request) -> Response:
        version = self._version(req)
        if version == CLASSIC:
            return error(400, "invalid_request_url", "Invalid request URL.")
        ds_id = canon(req.params["id"])
        if ds_id not in self.data_sources:
            return not_found(req.params["id"], "data source")
        return self._query(req, ds_id, version)

    def _query(self, req: Request, ds_id: str, version: str) -> Response:
        body = req.json() or {}
        try:
            predicate = compile_filter(body.get("filter"))
        except ValueError as exc:
            return error(400, "validation_error", str(exc))
        with self._data_lock:
            pages = [p for p in self.pages.values() if p.data_source_id == ds_id and not p.in_trash]
            pages = [p for p in pages if predicate(p)]
            sorts = body.get("sorts") or [{"timestamp": "created_time", "direction": "descending"}]
            sort = sorts[0]
            key = sort.get("timestamp") or "last_edited_time"
            if key not in ("last_edited_time", "created_time"):
                return error(400, "validation_error", "the fake sorts only by timestamps")
            pages.sort(key=lambda p: (getattr(p, key), p.id), reverse=sort.get("direction") == "descending")
            objs = [self._page_obj(p, version) for p in pages]
        kind = "page_or_database" if version == CLASSIC else "page_or_data_source"
        return self._respond_list(
            self._list(objs, kind, body.get("start_cursor"), body.get("page_size", 100))
        )
