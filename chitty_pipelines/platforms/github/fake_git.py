"""The fake GitHub's Git Data API: what PyGithub calls to write several files in one commit.

``GET /git/ref/heads/<b>`` (and ``/git/refs/…``), ``GET /git/commits/<sha>``, ``GET /git/trees/<sha>``
(``recursive=1``), ``POST /git/blobs``, ``POST /git/trees`` (with ``base_tree``), ``POST /git/commits``
and ``PATCH /git/refs/heads/<b>``, which refuses anything but a fast-forward unless ``force`` is
true (422 "Update is not a fast forward", as GitHub answers).

The branch head is the last of the repository's ``commits`` and its tree is ``files``, so the
contents and commits endpoints see what the Git Data API wrote, and ``move_head`` (another client
pushing) is seen by it. Writes need a token with write access: a token in ``read_only`` gets 403
"Resource not accessible by personal access token" with GitHub's ``X-Accepted-GitHub-Permissions``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chitty_pipelines.kernel.fake_server import Request, Response
from chitty_pipelines.platforms.github.fake_shapes import git_blob_sha, iso

if TYPE_CHECKING:
    from chitty_pipelines.platforms.github.fake import GitHubFake
    from chitty_pipelines.platforms.github.fake_shapes import FakeRepo


class GitData:
    def __init__(self, fake: GitHubFake):
        self.fake = fake
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, dict[str, bytes]] = {}  # tree sha -> {path: content}
        self.commits: dict[str, dict[str, Any]] = {}  # commits made through the API
        self.read_only: set[str] = set()  # tokens that may read but not write
        self.ref_updates: list[tuple[str, str, str]] = []  # (repo, ref, new sha), accepted updates
        # Called with the write's kind (blobs, trees, commits, refs) and the repository before it is
        # handled: a test can move the head at an exact moment (a push racing a publish).
        self.before_write: Callable[[str, str], None] | None = None

    def install(self, api: str) -> None:
        f = self.fake
        base = api + "/repos/{owner}/{repo}/git"
        for method, pattern, handler in (
            ("GET", "/ref/{ref:path}", self._get_ref),
            ("GET", "/refs/{ref:path}", self._get_ref),
            ("GET", "/commits/{sha}", self._get_commit),
            ("GET", "/trees/{sha}", self._get_tree),
            ("POST", "/blobs", self._write("blobs", self._create_blob)),
            ("POST", "/trees", self._write("trees", self._create_tree)),
            ("POST", "/commits", self._write("commits", self._create_commit)),
            ("PATCH", "/refs/{ref:path}", self._write("refs", self._update_ref)),
        ):
            f.route(method, base + pattern, f._guarded(handler))

    # --- helpers for tests ------------------------------------------------------------------
    def move_head(self, full_name: str, files: dict[str, str | bytes], message: str = "someone else") -> str:
        """Another client pushes a commit changing ``files``: the branch head moves."""
        for path, content in files.items():
            self.fake.put_file(full_name, path, content)
        return self.fake.add_commit(full_name, message)

    def head(self, full_name: str) -> str | None:
        repo = self.fake.repos[full_name]
        return repo.commits[-1]["sha"] if repo.commits else None

    # --- model ------------------------------------------------------------------------------
    def _repo(self, req: Request) -> FakeRepo | None:
        return self.fake.repos.get(f"{req.params['owner']}/{req.params['repo']}")

    def _store_tree(self, files: dict[str, bytes]) -> str:
        entries = sorted((p, git_blob_sha(c)) for p, c in files.items())
        sha = hashlib.sha1(("tree " + json.dumps(entries)).encode()).hexdigest()
        self.trees[sha] = dict(files)
        for content in files.values():
            self.blobs[git_blob_sha(content)] = content
        return sha

    def _commit(self, repo: FakeRepo, sha: str) -> dict[str, Any] | None:
        """A commit made through the API, or one seeded with ``add_commit`` (whose tree is taken
        to be the repository's current files: seeded commits carry no tree)."""
        if sha in self.commits:
            return self.commits[sha]
        seeded = next((c for c in repo.commits if c["sha"] == sha), None)
        if seeded is None:
            return None
        person = {"name": seeded["author_name"], "email": seeded["author_email"], "date": iso(seeded["date"])}
        return {
            "sha": sha,
            "tree": self._store_tree(repo.files),
            "parents": [seeded["parent"]] if seeded["parent"] else [],
            "message": seeded["message"],
            "author": person,
            "committer": person,
        }

    def _commit_json(self, repo: FakeRepo, c: dict[str, Any]) -> dict[str, Any]:
        api = f"{self.fake.api_url}/repos/{repo.full_name}/git"
        return {
            "sha": c["sha"],
            "node_id": "C_" + c["sha"][:12],
            "url": f"{api}/commits/{c['sha']}",
            "html_url": f"https://github.example/{repo.full_name}/commit/{c['sha']}",
            "author": c["author"],
            "committer": c["committer"],
            "message": c["message"],
            "tree": {"sha": c["tree"], "url": f"{api}/trees/{c['tree']}"},
            "parents": [{"sha": p, "url": f"{api}/commits/{p}"} for p in c["parents"]],
        }

    def _ref_json(self, repo: FakeRepo, ref: str, sha: str) -> dict[str, Any]:
        api = f"{self.fake.api_url}/repos/{repo.full_name}/git"
        return {
            "ref": ref,
            "node_id": "REF_" + hashlib.sha1(ref.encode()).hexdigest()[:12],
            "url": f"{api}/refs/{ref.removeprefix('refs/')}",
            "object": {"sha": sha, "type": "commit", "url": f"{api}/commits/{sha}"},
        }

    def _is_ancestor(self, repo: FakeRepo, ancestor: str, sha: str) -> bool:
        seen, todo = set(), [sha]
        while todo:
            current = todo.pop()
            if current == ancestor:
                return True
            if current in seen:
                continue
            seen.add(current)
            c = self._commit(repo, current)
            todo.extend(c["parents"] if c else [])
        return False

    def _write(self, kind: str, handler: Any) -> Any:
        def run(req: Request) -> Response:
            token = req.headers.get("authorization", "").split(" ", 1)[-1]
            if token in self.read_only:
                return Response(
                    403,
                    {
                        "message": "Resource not accessible by personal access token",
                        "documentation_url": "https://docs.github.com/rest/git",
                        "status": "403",
                    },
                    {"X-Accepted-GitHub-Permissions": "contents=write"},
                )
            if self.before_write is not None:
                self.before_write(kind, f"{req.params['owner']}/{req.params['repo']}")
            with self.fake._data_lock:
                return handler(req)

        return run

    # --- handlers ---------------------------------------------------------------------------
    def _branch(self, req: Request) -> tuple[FakeRepo | None, str]:
        ref = req.params["ref"].strip("/")
        return self._repo(req), ref.removeprefix("refs/")

    def _get_ref(self, req: Request) -> Response:
        repo, ref = self._branch(req)
        if repo is None or ref != f"heads/{repo.default_branch}" or not repo.commits:
            return self.fake._not_found()
        with self.fake._data_lock:
            return Response(200, self._ref_json(repo, f"refs/{ref}", repo.commits[-1]["sha"]))

    def _get_commit(self, req: Request) -> Response:
        repo = self._repo(req)
        with self.fake._data_lock:
            c = self._commit(repo, req.params["sha"]) if repo else None
            return Response(200, self._commit_json(repo, c)) if c else self.fake._not_found()

    def _get_tree(self, req: Request) -> Response:
        repo = self._repo(req)
        sha = req.params["sha"]
        with self.fake._data_lock:
            files = self.trees.get(sha)
        if repo is None or files is None:
            return self.fake._not_found()
        api = f"{self.fake.api_url}/repos/{repo.full_name}/git"
        recursive = req.arg("recursive") not in (None, "", "0", "false")
        entries, dirs = [], set()
        for path, content in sorted(files.items()):
            parts = path.split("/")
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
            if recursive or len(parts) == 1:
                blob = git_blob_sha(content)
                entries.append({"path": path, "mode": "100644", "type": "blob", "sha": blob,
                                "size": len(content), "url": f"{api}/blobs/{blob}"})  # fmt: skip
        for d in sorted(dirs):
            if recursive or "/" not in d:
                # A subtree holds paths relative to its folder, as git's do.
                sub = self._store_tree(
                    {p[len(d) + 1 :]: c for p, c in files.items() if p.startswith(d + "/")}
                )
                entries.append({"path": d, "mode": "040000", "type": "tree", "sha": sub,
                                "url": f"{api}/trees/{sub}"})  # fmt: skip
        entries.sort(key=lambda e: e["path"])
        return Response(200, {"sha": sha, "url": f"{api}/trees/{sha}", "tree": entries, "truncated": False})

    def _create_blob(self, req: Request) -> Response:
        body = req.json() or {}
        content = body.get("content")
        if not isinstance(content, str):
            return Response(422, {"message": 'Invalid request.\n\n"content" wasn\'t supplied.'})
        data = base64.b64decode(content) if body.get("encoding") == "base64" else content.encode()
        sha = git_blob_sha(data)
        self.blobs[sha] = data
        repo = self._repo(req)
        url = f"{self.fake.api_url}/repos/{repo.full_name if repo else ''}/git/blobs/{sha}"
        return Response(201, {"sha": sha, "url": url})

    def _create_tree(self, req: Request) -> Response:
        repo = self._repo(req)
        body = req.json() or {}
        base = body.get("base_tree")
        if repo is None:
            return self.fake._not_found()
        if base and base not in self.trees:
            return Response(422, {"message": "Invalid tree info", "errors": ["base_tree not found"]})
        files = dict(self.trees[base]) if base else {}
        for entry in body.get("tree") or []:
            path = str(entry.get("path") or "").strip("/")
            if not path or entry.get("type", "blob") != "blob":
                return Response(422, {"message": "Invalid tree info"})
            if "content" in entry:
                files[path] = str(entry["content"]).encode()
            elif entry.get("sha") is None:
                files.pop(path, None)  # GitHub: sha null deletes the file
            elif entry["sha"] in self.blobs:
                files[path] = self.blobs[entry["sha"]]
            else:
                return Response(422, {"message": f"Invalid tree info: blob {entry['sha']} not found"})
        sha = self._store_tree(files)
        resp = self._get_tree(
            Request("GET", req.path, {"recursive": ["1"]}, req.headers, b"", {**req.params, "sha": sha})
        )
        resp.status = 201
        return resp

    def _create_commit(self, req: Request) -> Response:
        repo = self._repo(req)
        body = req.json() or {}
        if repo is None:
            return self.fake._not_found()
        tree, parents = body.get("tree"), list(body.get("parents") or [])
        if tree not in self.trees or any(self._commit(repo, p) is None for p in parents):
            return Response(422, {"message": "Tree or parent commit not found"})
        at = self.fake.tick(60)
        login = req.params.get("_login") or "octo-user"
        person = body.get("author") or {"name": login, "email": f"{login}@users.noreply.github.example"}
        person = {**person, "date": person.get("date") or iso(at)}
        raw = json.dumps([tree, parents, body.get("message"), person], sort_keys=True)
        sha = hashlib.sha1(("commit " + raw).encode()).hexdigest()
        self.commits[sha] = {
            "sha": sha,
            "tree": tree,
            "parents": parents,
            "message": body.get("message") or "",
            "author": person,
            "committer": body.get("committer") or person,
            "at": at,
        }
        return Response(201, self._commit_json(repo, self.commits[sha]))

    def _update_ref(self, req: Request) -> Response:
        repo, ref = self._branch(req)
        if repo is None or ref != f"heads/{repo.default_branch}" or not repo.commits:
            return self.fake._not_found()
        body = req.json() or {}
        sha, force = body.get("sha"), bool(body.get("force"))
        new = self.commits.get(sha or "")
        if new is None:
            return Response(422, {"message": "Object does not exist"})
        head = repo.commits[-1]["sha"]
        if not force and not self._is_ancestor(repo, head, sha):
            return Response(
                422,
                {
                    "message": "Update is not a fast forward",
                    "documentation_url": "https://docs.github.com/rest/git/refs#update-a-reference",
                },
            )
        # The new head becomes the repository's state for every other endpoint.
        repo.files = dict(self.trees[new["tree"]])
        repo.commits.append(
            {
                "sha": sha,
                "message": new["message"],
                "date": new["at"],
                "author_name": new["author"].get("name"),
                "author_email": new["author"].get("email"),
                "login": req.params.get("_login"),
                "parent": new["parents"][0] if new["parents"] else None,
            }
        )
        repo.pushed_at = max(repo.pushed_at, new["at"])
        self.ref_updates.append((repo.full_name, f"refs/{ref}", sha))
        return Response(200, self._ref_json(repo, f"refs/{ref}", sha))
