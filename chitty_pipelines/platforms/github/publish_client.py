"""Writing files to the chittychat-data repository: a diff first, then (only when approved) one
commit through PyGithub's Git Data API.

``plan_publish`` reads the branch head and its tree, compares every computed file with the blob
there and returns the changes (files, lines added and removed) without writing anything.
``commit_publish`` writes one commit holding every changed file: blobs, one tree on the head's
tree, one commit whose parent is the head, then moves the branch with ``force=False``. It
re-reads the head first and stops if it is not the one the diff was computed against, and a
concurrent push between that check and the ref update is refused by GitHub as "not a fast
forward": either way nothing is overwritten.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chitty_pipelines.platforms.github.resource import (
    DEFAULT_BASE_URL,
    GitHubAuthError,
    GitHubClient,
    GitHubError,
)

if TYPE_CHECKING:
    from github.GithubException import GithubException
    from github.Repository import Repository


class PublishError(GitHubError):
    """A publish that must stop (never carries the token)."""


class RemoteMovedError(PublishError):
    pass


@dataclass
class FileChange:
    path: str
    status: str  # added | modified | unchanged
    added: int
    removed: int
    diff: str = ""  # unified diff of the text


@dataclass
class PublishPlan:
    repository: str
    branch: str
    head_sha: str
    files: dict[str, bytes] = field(repr=False)
    changes: list[FileChange]

    @property
    def digest(self) -> str:
        """Short fingerprint of the changes (paths and new contents), so an approval can insist on
        committing exactly the diff that was shown."""
        h = hashlib.sha256()
        for c in self.changed:
            h.update(f"{c.path}\0{git_blob_sha(self.files[c.path])}\0".encode())
        return h.hexdigest()[:16]

    @property
    def changed(self) -> list[FileChange]:
        return [c for c in self.changes if c.status != "unchanged"]

    @property
    def lines_added(self) -> int:
        return sum(c.added for c in self.changes)

    @property
    def lines_removed(self) -> int:
        return sum(c.removed for c in self.changes)

    def summary(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "branch": self.branch,
            "head_sha": self.head_sha,
            "digest": self.digest,
            "files_changed": len(self.changed),
            "files_unchanged": len(self.changes) - len(self.changed),
            "lines_added": self.lines_added,
            "lines_removed": self.lines_removed,
            "changes": [
                {"path": c.path, "status": c.status, "added": c.added, "removed": c.removed}
                for c in self.changed
            ],
        }


def _raise_for(exc: GithubException, repository: str, writing: bool) -> None:
    """Turn a GitHub error into one that says what to fix (the token itself never appears)."""
    message = (exc.data or {}).get("message", "") if isinstance(exc.data, dict) else ""
    if exc.status == 401:
        raise GitHubAuthError(
            f"GitHub rejected GITHUB_TOKEN ({exc.status} {message}): set GITHUB_TOKEN to a valid token"
        ) from None
    if exc.status == 403 and writing:
        wanted = (exc.headers or {}).get("x-accepted-github-permissions")
        raise GitHubAuthError(
            f"GitHub refused to write to {repository} ({exc.status} {message}): GITHUB_TOKEN has no write "
            "permission on this repository; give it Contents: read and write (fine-grained token) or the "
            f"repo scope (classic token){f' [GitHub accepts: {wanted}]' if wanted else ''}"
        ) from None
    if exc.status == 403:
        raise GitHubAuthError(
            f"GitHub refused to read {repository} with GITHUB_TOKEN ({exc.status} {message})"
        ) from None
    if exc.status == 404:
        raise PublishError(
            f"{repository} (GITHUB_DATA_REPOSITORY) or its default branch was not found, or GITHUB_TOKEN "
            "cannot see it"
        ) from None
    if exc.status == 422 and "fast forward" in message:
        raise RemoteMovedError(
            f"{repository} changed while publishing (GitHub: {message}); nothing was overwritten. "
            "Run `chitty-sync publish` again to see the new diff."
        ) from None
    raise PublishError(f"GitHub answered {exc.status} {message} for {repository}") from None


def git_blob_sha(content: bytes) -> str:
    """Git's blob id, to tell an unchanged file without downloading it."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _count(old: str, new: str, path: str) -> tuple[int, int, str]:
    lines = list(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return added, removed, "".join(lines)


def _head(repo: Repository, branch: str) -> str:
    return repo.get_git_ref(f"heads/{branch}").object.sha


def _unreachable(client: GitHubClient, repository: str, exc: BaseException, outcome: str) -> PublishError:
    """requests' text ("HTTPConnectionPool(...): Max retries exceeded") names no setting."""
    return PublishError(
        f"GitHub did not answer at {client.base_url} for {repository} ({type(exc).__name__}): check "
        f"GITHUB_BASE_URL (default {DEFAULT_BASE_URL}) and the network; {outcome}"
    )


def plan_publish(client: GitHubClient, repository: str, files: dict[str, bytes]) -> PublishPlan:
    """The diff between ``files`` and the repository's default branch. Reads only."""
    import requests
    from github import GithubException

    try:
        repo = client.github().get_repo(repository)
        branch = repo.default_branch
        head = _head(repo, branch)
        tree_sha = repo.get_git_commit(head).tree.sha
        existing = {
            e.path: e.sha for e in repo.get_git_tree(tree_sha, recursive=True).tree if e.type == "blob"
        }
        changes = []
        for path in sorted(files):
            new = files[path]
            old_sha = existing.get(path)
            if old_sha is None:
                added, removed, diff = _count("", new.decode(), path)
                changes.append(FileChange(path, "added", added, removed, diff))
            elif old_sha == git_blob_sha(new):
                changes.append(FileChange(path, "unchanged", 0, 0))
            else:
                old = base64.b64decode(repo.get_git_blob(old_sha).content).decode(errors="replace")
                added, removed, diff = _count(old, new.decode(), path)
                changes.append(FileChange(path, "modified", added, removed, diff))
    except GithubException as exc:
        _raise_for(exc, repository, writing=False)
        raise  # unreachable: _raise_for always raises
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _unreachable(client, repository, exc, "nothing was written") from None
    return PublishPlan(repository, branch, head, dict(files), changes)


def _moved(plan: PublishPlan, expected: str, head: str) -> RemoteMovedError:
    return RemoteMovedError(
        f"{plan.repository} changed since the diff was computed: {plan.branch} was at {expected[:12]}, now "
        f"{head[:12]}; nothing was written. Run `chitty-sync publish` again to see the new diff."
    )


def commit_publish(
    client: GitHubClient, plan: PublishPlan, message: str, expected_head: str | None = None
) -> str | None:
    """One commit with every changed file of ``plan``; its sha, or None when nothing changed.

    ``expected_head`` (default: the head the plan was computed on) must still be the branch head.
    """
    import requests
    from github import GithubException, InputGitTreeElement

    expected = expected_head or plan.head_sha
    if expected != plan.head_sha:
        raise _moved(plan, expected, plan.head_sha)
    if not plan.changed:
        return None
    try:
        repo = client.github().get_repo(plan.repository)
        head = _head(repo, plan.branch)
        if head != expected:
            raise _moved(plan, expected, head)
        parent = repo.get_git_commit(head)
        elements = []
        for change in plan.changed:
            blob = repo.create_git_blob(plan.files[change.path].decode(), "utf-8")
            elements.append(InputGitTreeElement(change.path, "100644", "blob", sha=blob.sha))
        tree = repo.create_git_tree(elements, base_tree=repo.get_git_tree(parent.tree.sha))
        commit = repo.create_git_commit(message, tree, [parent])
        # Never a force push: if someone pushed since the check above, GitHub refuses this.
        repo.get_git_ref(f"heads/{plan.branch}").edit(commit.sha, force=False)
    except GithubException as exc:
        _raise_for(exc, plan.repository, writing=True)
        raise
    except (requests.ConnectionError, requests.Timeout) as exc:
        # Written blobs or trees without a moved ref change nothing on the branch.
        raise _unreachable(
            client, plan.repository, exc, "run `chitty-sync publish` again to see whether the commit landed"
        ) from None
    return commit.sha
