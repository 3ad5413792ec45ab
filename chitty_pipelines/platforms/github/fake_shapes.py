"""JSON shapes of the fake GitHub (as the REST API returns them) and its data model."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def git_blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class FakeRepo:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    topics: list[str] = field(default_factory=list)
    archived: bool = False
    private: bool = False
    description: str = ""
    created_at: datetime = EPOCH
    updated_at: datetime = EPOCH
    pushed_at: datetime = EPOCH
    commits: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


def user_json(api: str, login: str | None) -> dict[str, Any] | None:
    if login is None:
        return None
    return {
        "login": login,
        "id": zlib.crc32(login.encode()) % 10**6,
        "type": "User",
        "url": f"{api}/users/{login}",
    }


def repo_json(api: str, r: FakeRepo, owner_kind: str = "User") -> dict[str, Any]:
    url = f"{api}/repos/{r.full_name}"
    return {
        "id": r.id,
        "node_id": base64.b64encode(f"R_{r.id}".encode()).decode(),
        "name": r.name,
        "full_name": r.full_name,
        "owner": {
            "login": r.owner,
            "id": zlib.crc32(r.owner.encode()) % 10**6,
            "type": owner_kind,
        },
        "private": r.private,
        "visibility": "private" if r.private else "public",
        "description": r.description or None,
        "fork": False,
        "url": url,
        "html_url": f"https://github.example/{r.full_name}",
        "commits_url": url + "/commits{/sha}",
        "default_branch": r.default_branch,
        "topics": list(r.topics),
        "archived": r.archived,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
        "pushed_at": iso(r.pushed_at),
        "stargazers_count": 0,
        "open_issues_count": sum(1 for i in r.issues.values() if i["state"] == "open"),
    }


def commit_json(api: str, r: FakeRepo, c: dict[str, Any]) -> dict[str, Any]:
    url = f"{api}/repos/{r.full_name}/commits/{c['sha']}"
    person = {"name": c["author_name"], "email": c["author_email"], "date": iso(c["date"])}
    return {
        "sha": c["sha"],
        "node_id": "C_" + c["sha"][:12],
        "commit": {"author": person, "committer": person, "message": c["message"], "comment_count": 0},
        "url": url,
        "html_url": f"https://github.example/{r.full_name}/commit/{c['sha']}",
        "author": user_json(api, c["login"]),
        "committer": user_json(api, c["login"]),
        "parents": [{"sha": c["parent"], "url": f"{api}/repos/{r.full_name}/commits/{c['parent']}"}]
        if c["parent"]
        else [],
    }


def issue_json(api: str, r: FakeRepo, i: dict[str, Any]) -> dict[str, Any]:
    kind = "pulls" if i["pull_request"] else "issues"
    html = "pull" if i["pull_request"] else "issues"
    out = {
        "url": f"{api}/repos/{r.full_name}/issues/{i['number']}",
        "repository_url": f"{api}/repos/{r.full_name}",
        "html_url": f"https://github.example/{r.full_name}/{html}/{i['number']}",
        "id": i["id"],
        "number": i["number"],
        "title": i["title"],
        "user": user_json(api, i["user"]),
        "labels": [{"name": n} for n in i["labels"]],
        "state": i["state"],
        "assignees": [],
        "comments": i["comments"],
        "created_at": iso(i["created_at"]),
        "updated_at": iso(i["updated_at"]),
        "closed_at": iso(i["closed_at"]) if i["closed_at"] else None,
        "body": i["body"],
    }
    if i["pull_request"]:
        out["draft"] = i["draft"]
        out["pull_request"] = {
            "url": f"{api}/repos/{r.full_name}/{kind}/{i['number']}",
            "merged_at": iso(i["merged_at"]) if i["merged_at"] else None,
        }
    return out


def tree_sha(repo: FakeRepo, path: str) -> str:
    prefix = path + "/"
    entries = sorted((p, git_blob_sha(c)) for p, c in repo.files.items() if p.startswith(prefix))
    return hashlib.sha1(json.dumps(entries).encode()).hexdigest()


def dir_json(api: str, repo: FakeRepo, path: str) -> dict[str, Any]:
    return {
        "type": "dir",
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": tree_sha(repo, path),
        "size": 0,
        "url": f"{api}/repos/{repo.full_name}/contents/{path}",
    }


def file_json(api: str, repo: FakeRepo, path: str, with_content: bool) -> dict[str, Any]:
    data = repo.files[path]
    sha = git_blob_sha(data)
    out: dict[str, Any] = {
        "type": "file",
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "size": len(data),
        "url": f"{api}/repos/{repo.full_name}/contents/{path}",
        "git_url": f"{api}/repos/{repo.full_name}/git/blobs/{sha}",
    }
    if with_content:
        encoded = base64.b64encode(data).decode()
        # GitHub wraps base64 at 60 characters per line.
        out["content"] = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
        out["encoding"] = "base64"
    return out
