"""raw_github tables and the functions that turn GitHub JSON into their rows.

Mappers are tolerant of old payloads (no ``topics``, ``visibility`` or ``node_id`` before ~2017,
see the octokit.rb cassettes) and keep the raw JSON next to the typed columns, because API
shapes drift between versions.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from chitty_pipelines.warehouse import TableSpec, cols

PLATFORM = "github"
SCHEMA = "raw_github"


def ts(value: Any) -> datetime | None:
    """GitHub timestamps (``YYYY-MM-DDTHH:MM:SSZ``); anything unparsable becomes NULL."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def raw(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _login(user: Any) -> str | None:
    return user.get("login") if isinstance(user, dict) else None


REPOSITORIES = TableSpec(
    SCHEMA,
    "repositories",
    cols(
        ("repo_id", "BIGINT", "GitHub's numeric id: stable across renames"),
        ("full_name", "VARCHAR"),
        ("owner", "VARCHAR"),
        ("name", "VARCHAR"),
        ("private", "BOOLEAN"),
        ("visibility", "VARCHAR"),
        ("fork", "BOOLEAN"),
        ("archived", "BOOLEAN"),
        ("default_branch", "VARCHAR"),
        ("topics", "VARCHAR[]"),
        ("description", "VARCHAR"),
        ("html_url", "VARCHAR"),
        ("created_at", "TIMESTAMPTZ"),
        ("updated_at", "TIMESTAMPTZ"),
        ("pushed_at", "TIMESTAMPTZ", "last push to any branch: commits are re-read only when it moves"),
        ("stargazers_count", "BIGINT"),
        ("open_issues_count", "BIGINT"),
        ("raw", "JSON"),
    ),
    primary_key=("repo_id",),
    description="Repositories of the configured owners plus the listed repositories.",
)

COMMITS = TableSpec(
    SCHEMA,
    "commits",
    cols(
        ("repo_full_name", "VARCHAR"),
        ("sha", "VARCHAR"),
        ("branch", "VARCHAR", "the default branch it was read from"),
        ("message", "VARCHAR"),
        ("author_name", "VARCHAR"),
        ("author_email", "VARCHAR"),
        ("author_date", "TIMESTAMPTZ"),
        ("committer_name", "VARCHAR"),
        ("committer_date", "TIMESTAMPTZ"),
        ("author_login", "VARCHAR", "GitHub user; NULL when the e-mail is not linked to an account"),
        ("committer_login", "VARCHAR"),
        ("parents", "VARCHAR[]"),
        ("html_url", "VARCHAR"),
        ("raw", "JSON"),
    ),
    primary_key=("repo_full_name", "sha"),
    description="Commits of each repository's default branch.",
)

_ISSUE_COLUMNS = (
    ("repo_full_name", "VARCHAR"),
    ("number", "BIGINT"),
    ("id", "BIGINT"),
    ("title", "VARCHAR"),
    ("state", "VARCHAR"),
    ("state_reason", "VARCHAR"),
    ("user_login", "VARCHAR"),
    ("labels", "VARCHAR[]"),
    ("assignees", "VARCHAR[]"),
    ("comments", "BIGINT"),
    ("created_at", "TIMESTAMPTZ"),
    ("updated_at", "TIMESTAMPTZ"),
    ("closed_at", "TIMESTAMPTZ"),
    ("html_url", "VARCHAR"),
    ("body", "VARCHAR"),
)

ISSUES = TableSpec(
    SCHEMA,
    "issues",
    cols(*_ISSUE_COLUMNS, ("raw", "JSON")),
    primary_key=("repo_full_name", "number"),
    description="Issues (pull requests excluded: they are in pull_requests).",
)

PULL_REQUESTS = TableSpec(
    SCHEMA,
    "pull_requests",
    cols(*_ISSUE_COLUMNS, ("draft", "BOOLEAN"), ("merged_at", "TIMESTAMPTZ"), ("raw", "JSON")),
    primary_key=("repo_full_name", "number"),
    description="Pull requests, as the issues API lists them (items carrying a pull_request key).",
)


def repo_row(r: dict[str, Any]) -> dict[str, Any]:
    owner = r.get("owner") or {}
    return {
        "repo_id": int(r["id"]),
        "full_name": r["full_name"],
        "owner": owner.get("login") or r["full_name"].split("/")[0],
        "name": r.get("name") or r["full_name"].split("/")[-1],
        "private": bool(r.get("private", False)),
        "visibility": r.get("visibility") or ("private" if r.get("private") else "public"),
        "fork": bool(r.get("fork", False)),
        "archived": bool(r.get("archived", False)),
        "default_branch": r.get("default_branch") or r.get("master_branch"),
        "topics": list(r.get("topics") or []),
        "description": r.get("description"),
        "html_url": r.get("html_url"),
        "created_at": ts(r.get("created_at")),
        "updated_at": ts(r.get("updated_at")),
        "pushed_at": ts(r.get("pushed_at")),
        "stargazers_count": r.get("stargazers_count"),
        "open_issues_count": r.get("open_issues_count"),
        "raw": raw(r),
    }


def commit_row(repo: str, branch: str, c: dict[str, Any]) -> dict[str, Any]:
    git = c["commit"]
    author, committer = git.get("author") or {}, git.get("committer") or {}
    return {
        "repo_full_name": repo,
        "sha": c["sha"],
        "branch": branch,
        "message": git.get("message"),
        "author_name": author.get("name"),
        "author_email": author.get("email"),
        "author_date": ts(author.get("date")),
        "committer_name": committer.get("name"),
        "committer_date": ts(committer.get("date")),
        "author_login": _login(c.get("author")),
        "committer_login": _login(c.get("committer")),
        "parents": [p["sha"] for p in c.get("parents") or []],
        "html_url": c.get("html_url"),
        "raw": raw(c),
    }


def is_pull_request(item: dict[str, Any]) -> bool:
    return "pull_request" in item


def issue_row(repo: str, i: dict[str, Any]) -> dict[str, Any]:
    row = {
        "repo_full_name": repo,
        "number": int(i["number"]),
        "id": i.get("id"),
        "title": i.get("title"),
        "state": i.get("state"),
        "state_reason": i.get("state_reason"),
        "user_login": _login(i.get("user")),
        "labels": [lb["name"] if isinstance(lb, dict) else str(lb) for lb in i.get("labels") or []],
        "assignees": [a.get("login") for a in i.get("assignees") or [] if isinstance(a, dict)],
        "comments": i.get("comments"),
        "created_at": ts(i.get("created_at")),
        "updated_at": ts(i.get("updated_at")),
        "closed_at": ts(i.get("closed_at")),
        "html_url": i.get("html_url"),
        "body": i.get("body"),
        "raw": raw(i),
    }
    if is_pull_request(i):
        row["draft"] = i.get("draft")
        row["merged_at"] = ts((i.get("pull_request") or {}).get("merged_at"))
    return row
