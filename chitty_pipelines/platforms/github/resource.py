"""GitHub through PyGithub: the resource, and a thin client for conditional, paced, retried GETs.

PyGithub's paginated lists cannot send ``If-None-Match``, so reads go through its ``Requester``
(the same transport, auth, base URL and logging that the high-level API uses) and return the
status, ETag and ``Link: rel="next"`` along with the body. A 304 made with valid auth does not
count against GitHub's primary rate limit, which is what keeps a no-change re-sync free.

Nothing here writes to GitHub: the client only knows GET.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import dagster as dg
from pydantic import Field

from chitty_pipelines.config import env, number, secret
from chitty_pipelines.kernel.retry import Pacer, call_with_retry, parse_retry_after

if TYPE_CHECKING:
    # PyGithub and requests are imported where used, not when the code location loads.
    import github
    from github import GithubException

DEFAULT_BASE_URL = "https://api.github.com"
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


class GitHubError(RuntimeError):
    """A GitHub failure worth stopping the sync for (never carries the token)."""


class GitHubAuthError(GitHubError):
    pass


class GitHubUnreachable(GitHubError):
    """No answer from GITHUB_BASE_URL after every attempt (refused, reset or timed out)."""


@dataclass
class Reply:
    """One GET: ``status`` 200 or 304 (errors raise), the parsed body, and paging/caching hints."""

    status: int
    data: Any
    etag: str | None
    next_url: str | None  # relative to the base URL, e.g. "/orgs/x/repos?page=2"
    nbytes: int

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class RateLimitGate:
    """Reads ``X-RateLimit-*`` from every reply and, once the primary budget is spent, makes the
    next request wait until ``X-RateLimit-Reset`` instead of failing."""

    def __init__(self, max_wait_s: float = 3600.0, reserve: int = 0):
        self.max_wait_s = max_wait_s
        self.reserve = reserve
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self.waited_s = 0.0
        self._lock = threading.Lock()

    def observe(self, headers: dict[str, Any]) -> None:
        remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
        if remaining is None or reset is None:
            return
        with self._lock:
            self.remaining = int(float(remaining))
            self.reset_at = float(reset)

    def wait(self) -> None:
        with self._lock:
            if self.remaining is None or self.reset_at is None or self.remaining > self.reserve:
                return
            delay = self.reset_at - time.time() + 0.05
            if delay <= 0:
                self.remaining = None  # the window has rolled over
                return
        if delay > self.max_wait_s:
            raise GitHubError(
                f"GitHub rate limit for GITHUB_TOKEN is spent and resets in {delay:.0f}s "
                f"(more than the {self.max_wait_s:.0f}s this run may wait)"
            )
        time.sleep(delay)
        with self._lock:
            self.waited_s += delay
            self.remaining = None


def _retryable(exc: BaseException) -> bool:
    import requests
    from github import GithubException

    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    if isinstance(exc, GithubException):
        return exc.status in _RETRY_STATUSES or _is_rate_limited(exc)
    return False


def _is_rate_limited(exc: GithubException) -> bool:
    """GitHub signals primary and secondary limits with 403 (or 429); such a 403 is no auth error."""
    import github

    if exc.status not in (403, 429):
        return False
    headers = exc.headers or {}
    return (
        isinstance(exc, github.RateLimitExceededException)
        or "retry-after" in headers
        or headers.get("x-ratelimit-remaining") == "0"
    )


def _retry_after(exc: BaseException) -> float | None:
    from github import GithubException

    if not isinstance(exc, GithubException):
        return None
    headers = exc.headers or {}
    hinted = parse_retry_after(headers.get("retry-after"))
    if hinted is not None:
        return hinted
    if headers.get("x-ratelimit-remaining") == "0":
        return 0.0  # RateLimitGate sleeps until the reset before the next attempt
    return None


class GitHubClient:
    """GETs against one GitHub base URL with one token. Thread-safe: each thread has its own
    PyGithub instance (its requests session is not meant to be shared)."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        per_page: int = 100,
        requests_per_second: float = 10.0,
        attempts: int = 6,
        retry_max_wait_s: float = 60.0,
        rate_limit_max_wait_s: float = 3600.0,
        timeout_s: float = 30.0,
    ):
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        self._base_host = urlsplit(self.base_url).netloc
        self.per_page = per_page
        self.pacer = Pacer(requests_per_second)
        self.gate = RateLimitGate(rate_limit_max_wait_s)
        self.attempts = attempts
        self.retry_max_wait_s = retry_max_wait_s
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._instances: list[github.Github] = []  # one per thread that made requests
        self._lock = threading.Lock()
        self.statuses: Counter[int] = Counter()  # replies by status, for metadata and benchmarks
        self.bytes_read = 0

    def __repr__(self) -> str:  # never the token
        return f"GitHubClient(base_url={self.base_url!r})"

    def github(self) -> github.Github:
        """This thread's PyGithub client (retries off: call_with_retry owns the policy)."""
        import github

        gh = getattr(self._local, "gh", None)
        if gh is None:
            gh = github.Github(
                auth=github.Auth.Token(self._token),
                base_url=self.base_url,
                per_page=self.per_page,
                retry=None,
                timeout=max(1, round(self.timeout_s)),  # PyGithub takes whole seconds
                seconds_between_requests=None,
            )
            self._local.gh = gh
            with self._lock:
                self._instances.append(gh)
        return gh

    def close(self) -> None:
        """Close every thread's connection pool."""
        with self._lock:
            instances, self._instances = self._instances, []
        for gh in instances:
            gh.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def requests_made(self) -> int:
        return sum(self.statuses.values())

    # --- reads ---------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None, etag: str | None = None) -> Reply:
        """GET ``path`` (relative to the base URL, query allowed). 304 when ``etag`` still matches."""
        import requests

        url = path + ("?" + urlencode(params) if params else "")
        try:
            return call_with_retry(
                lambda: self._get_once(url, etag),
                retryable=_retryable,
                retry_after=_retry_after,
                attempts=self.attempts,
                max_wait=self.retry_max_wait_s,
                describe=f"GitHub GET {path}",
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            # requests' own text ("HTTPConnectionPool(host=..., port=...): Max retries exceeded
            # ...") names no setting; the one to check is the base URL (or the timeout).
            raise GitHubUnreachable(
                f"GitHub GET {path.split('?', 1)[0]}: {type(exc).__name__} after {self.attempts} "
                f"attempts reaching {self.base_url} (check GITHUB_BASE_URL, default "
                f"{DEFAULT_BASE_URL}, and the network; GITHUB_TIMEOUT_S is {self.timeout_s:g} s)"
            ) from None

    def _get_once(self, url: str, etag: str | None) -> Reply:
        self.gate.wait()
        self.pacer.wait()
        headers = {"Accept": "application/vnd.github+json"}
        if etag:
            headers["If-None-Match"] = etag
        requester = self.github().requester
        status, resp_headers, body = requester.requestJson("GET", url, headers=headers)
        self.gate.observe(resp_headers)
        with self._lock:
            self.statuses[status] += 1
            self.bytes_read += len(body or "")
        data = json.loads(body) if body else None
        if status >= 400:
            self._raise(status, resp_headers, data, url)
        return Reply(status, data, resp_headers.get("etag"), self._next(resp_headers), len(body or ""))

    def _raise(self, status: int, headers: dict[str, Any], data: Any, url: str) -> None:
        import github

        exc = github.Requester.Requester.createException(
            status, headers, data if isinstance(data, dict) else {}
        )
        if _retryable(exc):
            raise exc
        path = url.split("?", 1)[0]
        message = (data or {}).get("message", "") if isinstance(data, dict) else ""
        if status == 401:
            raise GitHubAuthError(
                f"GitHub rejected GITHUB_TOKEN ({status} {message}): the token is revoked, expired or "
                "mistyped; set GITHUB_TOKEN to a valid token"
            ) from None
        if status == 403:
            raise GitHubAuthError(
                f"GitHub refused {path} with GITHUB_TOKEN ({status} {message}): give the token read "
                "access to this repository or organisation"
            ) from None
        raise exc

    def _next(self, headers: dict[str, Any]) -> str | None:
        """``rel="next"`` as a path relative to the base URL. A link to another host is refused:
        following it would send the token there."""
        match = _LINK_NEXT.search(headers.get("link") or "")
        if not match:
            return None
        parts = urlsplit(match.group(1))
        if parts.netloc and parts.netloc != self._base_host:
            raise GitHubError(f"GitHub paging link points to another host ({parts.netloc}); refusing it")
        path = parts.path
        if self._base_path and path.startswith(self._base_path + "/"):
            path = path[len(self._base_path) :]
        return path + (f"?{parts.query}" if parts.query else "")

    def get_all(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Every page of a list endpoint, following ``Link`` exactly as given."""
        items: list[Any] = []
        reply = self.get(path, params)
        items.extend(reply.data or [])
        while reply.next_url:
            reply = self.get(reply.next_url)
            items.extend(reply.data or [])
        return items

    def authenticated_login(self) -> str:
        return self.get("/user").data["login"]


class GitHubResource(dg.ConfigurableResource):
    """GitHub (or GitHub Enterprise Server): which owners and repositories to read, and how."""

    token: str | None = Field(default=None, description="GITHUB_TOKEN (resolved at run time).")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="REST root; GHES: https://<host>/api/v3.")
    owners: list[str] = Field(default_factory=list, description="Users/organisations to list.")
    repositories: list[str] = Field(default_factory=list, description="Extra owner/name repositories.")
    data_repository: str = Field(default="chittychat-data", description="ChittyOS data repository.")
    max_workers: int = Field(default=4, description="Repositories read in parallel.")
    requests_per_second: float = Field(default=10.0, description="Client-side pacing; 0 = unpaced.")
    per_page: int = Field(default=100, description="Page size (GitHub allows at most 100).")
    retry_attempts: int = Field(default=6)
    retry_max_wait_s: float = Field(default=60.0, description="Longest single backoff between retries.")
    rate_limit_max_wait_s: float = Field(default=3600.0, description="Longest pause for a rate-limit reset.")
    # Connect+read timeout per request; a timed-out request is retried like a 5xx.
    timeout_s: float = Field(default=30.0, description="Seconds per request before it is retried.")

    @classmethod
    def from_settings(cls) -> GitHubResource:
        def listed(name: str) -> list[str]:
            return [v.strip() for v in (env(name) or "").split(",") if v.strip()]

        return cls(
            token=secret("GITHUB_TOKEN"),  # type: ignore[arg-type]
            base_url=env("GITHUB_BASE_URL") or DEFAULT_BASE_URL,
            owners=listed("GITHUB_OWNERS"),
            repositories=listed("GITHUB_REPOSITORIES"),
            data_repository=env("GITHUB_DATA_REPOSITORY") or "chittychat-data",
            max_workers=number("GITHUB_MAX_WORKERS", 4, int, minimum=1),
            requests_per_second=number("GITHUB_REQUESTS_PER_SECOND", 10, minimum=0),
            timeout_s=number("GITHUB_TIMEOUT_S", 30, positive=True),
        )

    @property
    def configured(self) -> bool:
        return bool(self.token) and bool(self.owners or self.repositories)

    def not_configured_reason(self) -> str:
        if not self.token:
            return "GITHUB_TOKEN is not set"
        return "set GITHUB_OWNERS and/or GITHUB_REPOSITORIES"

    def data_repo_full_name(self) -> str | None:
        if "/" in self.data_repository:
            return self.data_repository
        return f"{self.owners[0]}/{self.data_repository}" if self.owners and self.data_repository else None

    def check_names(self) -> None:
        """Owner and repository names end up in URL paths: refuse anything that is not a GitHub
        name (no ``/``, ``?``, ``..`` tricks), naming the variable to fix."""
        for owner in self.owners:
            if not _OWNER.match(owner):
                raise GitHubError(f"GITHUB_OWNERS: {owner!r} is not a GitHub user or organisation name")
        for repo in self.repositories:
            if not _REPO.match(repo) or ".." in repo:
                raise GitHubError(f"GITHUB_REPOSITORIES: {repo!r} is not owner/name")
        data = self.data_repo_full_name()
        if data and (not _REPO.match(data) or ".." in data):
            raise GitHubError(f"GITHUB_DATA_REPOSITORY: {self.data_repository!r} is not owner/name or a name")

    def client(self) -> GitHubClient:
        if not self.token:
            raise GitHubError("GITHUB_TOKEN is not set")
        self.check_names()
        return GitHubClient(
            self.token,
            self.base_url,
            per_page=min(max(self.per_page, 1), 100),
            requests_per_second=self.requests_per_second,
            attempts=self.retry_attempts,
            retry_max_wait_s=self.retry_max_wait_s,
            rate_limit_max_wait_s=self.rate_limit_max_wait_s,
            timeout_s=self.timeout_s,
        )
