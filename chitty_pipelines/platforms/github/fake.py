"""A fake GitHub REST API (under ``/api/v3``, as GitHub Enterprise Server serves it).

It speaks what PyGithub and our client use: ``Link``-header pagination, ETag / ``If-None-Match``
-> 304 (free, like GitHub's), ``X-RateLimit-*`` headers with a spendable budget (403 "API rate
limit exceeded" once spent), ``since`` filters, the contents API (base64 files, directory
listings with tree shas) and git blobs, the Git Data API for one-commit writes (github_git.py),
token auth (401 "Bad credentials" for a revoked token).
Every ``url`` field and ``Link`` header points at the fake's own base URL, because PyGithub
refuses to follow URLs on another host (stack-notes §6).

Seeded programmatically (``add_repo``, ``add_commit``, ``add_issue``, ``put_file``; ``seed_org``
for a synthetic organisation), or with recorded responses (``add_recorded``) for conformance.
``conditional_log`` records, per answered request, whether it carried ``If-None-Match``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from chitty_pipelines.kernel.fake_server import FakeService, Faults, Request, Response
from chitty_pipelines.platforms.github.fake_git import GitData
from chitty_pipelines.platforms.github.fake_shapes import (
    EPOCH,
    FakeRepo,
    commit_json,
    dir_json,
    file_json,
    git_blob_sha,
    iso,
    issue_json,
    parse_iso,
    repo_json,
    user_json,
)

API = "/api/v3"


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    status: int
    body: Any
    headers: dict[str, str]


class GitHubFake(FakeService):
    def __init__(
        self,
        tokens: dict[str, str] | None = None,
        faults: Faults | None = None,
        rate_limit: int = 5000,
    ):
        super().__init__(faults)
        self.tokens = dict(tokens or {"ghp_fake_token": "octo-user"})  # token -> login
        self.revoked: set[str] = set()
        self.owners: dict[str, str] = {}  # login -> "Organization" | "User"
        self.repos: dict[str, FakeRepo] = {}
        self.recorded: list[Recorded] = []
        self.rate_limit = rate_limit
        self.rate_remaining = rate_limit
        self.rate_window_s = 3600.0
        self.rate_reset_at = time.time() + self.rate_window_s
        self.conditional_log: list[tuple[str, bool, int]] = []  # (path?query, had If-None-Match, status)
        self.clock = EPOCH
        self._next_id = 1000
        self._data_lock = threading.RLock()
        for pattern, handler in (
            ("/user", self._user),
            ("/user/repos", self._user_repos),
            ("/rate_limit", self._rate_limit),
            ("/users/{login}", self._owner),
            ("/orgs/{login}", self._owner),
            ("/users/{login}/repos", self._owner_repos),
            ("/orgs/{login}/repos", self._owner_repos),
            ("/repos/{owner}/{repo}", self._repo),
            ("/repos/{owner}/{repo}/commits", self._commits),
            ("/repos/{owner}/{repo}/issues", self._issues),
            ("/repos/{owner}/{repo}/contents", self._contents),
            ("/repos/{owner}/{repo}/contents/{path:path}", self._contents),
            ("/repos/{owner}/{repo}/git/blobs/{sha}", self._blob),
        ):
            self.route("GET", API + pattern, self._guarded(handler))
        self.git = GitData(self)  # the Git Data API (refs, commits, trees, blobs) for writes
        self.git.install(API)

    # --- seeding ---------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.base_url + API

    def tick(self, seconds: float = 86400) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def add_owner(self, login: str, kind: str = "Organization") -> None:
        self.owners[login] = kind

    def add_repo(self, full_name: str, **kw: Any) -> FakeRepo:
        owner, name = full_name.split("/")
        self.owners.setdefault(owner, "Organization")
        with self._data_lock:
            self._next_id += 1
            repo = FakeRepo(owner, name, self._next_id, **kw)
            self.repos[full_name] = repo
        return repo

    def add_commit(self, full_name: str, message: str, at: datetime | None = None, **kw: Any) -> str:
        repo = self.repos[full_name]
        at = at or self.tick()
        with self._data_lock:
            parent = repo.commits[-1]["sha"] if repo.commits else None
            sha = hashlib.sha1(f"{full_name}|{len(repo.commits)}|{message}|{iso(at)}".encode()).hexdigest()
            repo.commits.append(
                {
                    "sha": sha,
                    "message": message,
                    "date": at,
                    "author_name": kw.get("author_name", "Ada Lovelace"),
                    "author_email": kw.get("author_email", "ada@example.com"),
                    "login": kw.get("login", "ada"),
                    "parent": parent,
                }
            )
            repo.pushed_at = max(repo.pushed_at, at)
        return sha

    def add_issue(
        self, full_name: str, title: str, *, pull_request: bool = False, at: datetime | None = None, **kw: Any
    ) -> int:
        repo = self.repos[full_name]
        at = at or self.tick()
        with self._data_lock:
            number = len(repo.issues) + 1
            self._next_id += 1
            repo.issues[number] = {
                "id": self._next_id,
                "number": number,
                "title": title,
                "state": kw.get("state", "open"),
                "user": kw.get("user", "ada"),
                "labels": kw.get("labels", []),
                "body": kw.get("body"),
                "comments": kw.get("comments", 0),
                "created_at": at,
                "updated_at": at,
                "closed_at": None,
                "pull_request": pull_request,
                "merged_at": None,
                "draft": kw.get("draft", False),
            }
        return number

    def update_issue(self, full_name: str, number: int, at: datetime | None = None, **changes: Any) -> None:
        at = at or self.tick()
        with self._data_lock:
            issue = self.repos[full_name].issues[number]
            issue.update(changes, updated_at=at)
            if changes.get("state") == "closed":
                issue["closed_at"] = at
            if changes.get("merged"):
                issue["merged_at"] = at

    def put_file(
        self, full_name: str, path: str, content: bytes | str | Any, at: datetime | None = None
    ) -> None:
        if not isinstance(content, (bytes, str)):
            content = json.dumps(content, indent=2)
        data = content.encode() if isinstance(content, str) else content
        repo = self.repos[full_name]
        with self._data_lock:
            repo.files[path.strip("/")] = data
            repo.pushed_at = max(repo.pushed_at, at or self.tick())

    def delete_file(self, full_name: str, path: str) -> None:
        repo = self.repos[full_name]
        with self._data_lock:
            repo.files.pop(path.strip("/"), None)
            repo.pushed_at = self.tick()

    def add_recorded(self, path: str, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Serve a recorded response for ``path`` (relative to api.github.com, query allowed).
        A request matches when its path is equal and it carries every recorded query parameter
        (extra parameters are allowed; ``page`` must match)."""
        bare, _, query = path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        self.recorded.append(Recorded(bare, params, status, body, dict(headers or {})))

    def revoke(self, token: str) -> None:
        self.revoked.add(token)

    # --- request plumbing -----------------------------------------------------------------
    def fault_response(self, status: int, headers: dict[str, str]) -> Response:
        if status == 403:  # a secondary rate limit, as GitHub words it
            return Response(
                403,
                {
                    "message": "You have exceeded a secondary rate limit. "
                    "Please wait a few minutes before you try again."
                },
                {"Retry-After": str(self.faults.retry_after_s), **self._rate_headers()},
            )
        return Response(status, {"message": f"Server Error {status}"}, {**headers, **self._rate_headers()})

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.rate_remaining, 0)),
            "X-RateLimit-Used": str(self.rate_limit - max(self.rate_remaining, 0)),
            "X-RateLimit-Reset": str(math.ceil(self.rate_reset_at)),
            "X-RateLimit-Resource": "core",
        }

    def _guarded(self, handler: Any) -> Any:
        def run(req: Request) -> Response:
            auth = req.headers.get("authorization", "")
            token = auth.split(" ", 1)[1] if " " in auth else ""
            if token not in self.tokens or token in self.revoked:
                return Response(
                    401,
                    {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
                    self._rate_headers(),
                )
            req.params["_login"] = self.tokens[token]
            with self._data_lock:
                if time.time() >= self.rate_reset_at:
                    self.rate_remaining = self.rate_limit
                    self.rate_reset_at = time.time() + self.rate_window_s
                if self.rate_remaining <= 0 and not req.path.endswith("/rate_limit"):
                    return Response(
                        403,
                        {"message": "API rate limit exceeded for user ID 1."},
                        self._rate_headers(),
                    )
            recorded = self._match_recorded(req)
            resp = self._recorded_response(recorded) if recorded else handler(req)
            return self._conditional(req, resp)

        return run

    def _conditional(self, req: Request, resp: Response) -> Response:
        """ETag on every 200; 304 (not counted against the budget) when If-None-Match matches."""
        sent = req.headers.get("if-none-match")
        if resp.status == 200:
            digest = hashlib.sha1(json.dumps(resp.body, sort_keys=True).encode())
            digest.update(resp.headers.get("Link", "").encode())
            etag = f'"{digest.hexdigest()}"'
            resp.headers["ETag"] = etag
            if sent == etag:
                resp = Response(304, None, {"ETag": etag})
            elif not req.path.endswith("/rate_limit"):
                with self._data_lock:
                    self.rate_remaining -= 1
        resp.headers.update(self._rate_headers())
        query = urlencode([(k, v) for k, vs in req.query.items() for v in vs])
        with self._data_lock:
            self.conditional_log.append(
                (req.path[len(API) :] + (f"?{query}" if query else ""), bool(sent), resp.status)
            )
        return resp

    def _route(self, req: Request) -> Response:
        # Recorded responses may live on paths no route serves (e.g. /repositories/<id>/issues).
        if req.path.startswith(API) and self._match_recorded(req):
            return self._guarded(self._not_found_handler)(req)
        return super()._route(req)

    def _not_found_handler(self, _req: Request) -> Response:
        return self._not_found()

    def _match_recorded(self, req: Request) -> Recorded | None:
        path = req.path[len(API) :]
        for rec in self.recorded:
            if rec.path != path:
                continue
            if all(req.arg(k) == v for k, v in rec.query.items()) and req.arg("page", "1") == rec.query.get(
                "page", "1"
            ):
                return rec
        return None

    def _recorded_response(self, rec: Recorded) -> Response:
        body = json.loads(json.dumps(rec.body).replace("https://api.github.com", self.api_url))
        headers = {}
        if "link" in rec.headers:
            headers["Link"] = rec.headers["link"].replace("https://api.github.com", self.api_url)
        return Response(rec.status, body, headers)

    def _page(self, req: Request, items: list[Any]) -> Response:
        per_page = min(int(req.arg("per_page", "30") or 30), 100)
        page = max(int(req.arg("page", "1") or 1), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []

        def link(n: int, rel: str) -> str:
            query = {k: v[0] for k, v in req.query.items()}
            query["page"] = str(n)
            return f'<{self.base_url}{req.path}?{urlencode(query)}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        body = items[(page - 1) * per_page : page * per_page]
        return Response(200, body, {"Link": ", ".join(links)} if links else {})

    # --- JSON shapes ------------------------------------------------------------------------
    def _find(self, req: Request) -> FakeRepo | None:
        return self.repos.get(f"{req.params['owner']}/{req.params['repo']}")

    @staticmethod
    def _not_found() -> Response:
        return Response(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})

    def _user(self, req: Request) -> Response:
        return Response(200, user_json(self.api_url, req.params["_login"]))

    def _rate_limit(self, _req: Request) -> Response:
        core = {
            "limit": self.rate_limit,
            "remaining": max(self.rate_remaining, 0),
            "reset": math.ceil(self.rate_reset_at),
            "used": self.rate_limit - max(self.rate_remaining, 0),
        }
        return Response(200, {"resources": {"core": core}, "rate": core})

    def _owner(self, req: Request) -> Response:
        login = req.params["login"]
        kind = self.owners.get(login)
        if kind is None or (req.path.startswith(API + "/orgs/") and kind != "Organization"):
            return self._not_found()
        return Response(200, {"login": login, "type": kind, "url": f"{self.api_url}/users/{login}"})

    def _sorted_repos(self, req: Request, repos: list[FakeRepo]) -> list[FakeRepo]:
        sort = req.arg("sort", "full_name")
        default_dir = "asc" if sort == "full_name" else "desc"
        reverse = req.arg("direction", default_dir) == "desc"
        key = {"created": "created_at", "updated": "updated_at", "pushed": "pushed_at"}.get(
            sort or "", "full_name"
        )
        return sorted(repos, key=lambda r: getattr(r, key), reverse=reverse)

    def _owner_repos(self, req: Request) -> Response:
        login = req.params["login"]
        if login not in self.owners:
            return self._not_found()
        with self._data_lock:
            repos = self._sorted_repos(req, [r for r in self.repos.values() if r.owner == login])
            return self._page(
                req, [repo_json(self.api_url, r, self.owners.get(r.owner, "User")) for r in repos]
            )

    def _user_repos(self, req: Request) -> Response:
        return self._owner_repos(
            Request(req.method, req.path, req.query, req.headers, b"", {"login": req.params["_login"]})
        )

    def _repo(self, req: Request) -> Response:
        repo = self._find(req)
        if repo is None:
            return self._not_found()
        with self._data_lock:
            return Response(200, repo_json(self.api_url, repo, self.owners.get(repo.owner, "User")))

    def _commits(self, req: Request) -> Response:
        repo = self._find(req)
        if repo is None:
            return self._not_found()
        if not repo.commits:
            return Response(409, {"message": "Git Repository is empty."})
        since, until = req.arg("since"), req.arg("until")
        with self._data_lock:
            chosen = [
                c
                for c in reversed(repo.commits)
                if (not since or c["date"] >= parse_iso(since))
                and (not until or c["date"] <= parse_iso(until))
            ]
            return self._page(req, [commit_json(self.api_url, repo, c) for c in chosen])

    def _issues(self, req: Request) -> Response:
        repo = self._find(req)
        if repo is None:
            return self._not_found()
        state, since = req.arg("state", "open"), req.arg("since")
        sort = "updated_at" if req.arg("sort", "created") == "updated" else "created_at"
        with self._data_lock:
            chosen = [
                i
                for i in repo.issues.values()
                if (state == "all" or i["state"] == state)
                and (not since or i["updated_at"] >= parse_iso(since))
            ]
            chosen.sort(key=lambda i: (i[sort], i["number"]), reverse=req.arg("direction", "desc") == "desc")
            return self._page(req, [issue_json(self.api_url, repo, i) for i in chosen])

    def _contents(self, req: Request) -> Response:
        repo = self._find(req)
        if repo is None:
            return self._not_found()
        path = (req.params.get("path") or "").strip("/")
        with self._data_lock:
            if path in repo.files:
                return Response(200, file_json(self.api_url, repo, path, with_content=True))
            prefix = f"{path}/" if path else ""
            children: dict[str, bool] = {}  # name -> is_dir
            for p in repo.files:
                if p.startswith(prefix):
                    rest = p[len(prefix) :]
                    children[rest.split("/", 1)[0]] = "/" in rest
            if not children:
                return self._not_found()
            listing = [
                dir_json(self.api_url, repo, prefix + name)
                if is_dir
                else file_json(self.api_url, repo, prefix + name, False)
                for name, is_dir in sorted(children.items())
            ]
            return Response(200, listing)

    def _blob(self, req: Request) -> Response:
        repo = self._find(req)
        if repo is None:
            return self._not_found()
        for data in repo.files.values():
            if git_blob_sha(data) == req.params["sha"]:
                return Response(
                    200,
                    {
                        "sha": req.params["sha"],
                        "size": len(data),
                        "encoding": "base64",
                        "content": base64.b64encode(data).decode(),
                    },
                )
        return self._not_found()
