"""Project entity resolution: which source records (repositories, working directories, Notion
pages, Drive folders, chittychat-data states, registrations) are the same project.

Pure functions, no warehouse: the projects asset feeds it ``SourceRecord``s and stores the result.
Every record is joined by exactly one rule, recorded with what it matched on, strongest first:

1. ``registered``    a project registered with ``chitty-sync projectsync`` anchors its cluster
                     and gives it its key.
2. ``git_remote``    same normalised remote (ssh/https/``.git``/case: ``github.com/owner/name``).
3. ``path``          same normalised filesystem path (registered path, Claude Code cwd, the
                     ``projectPath`` of a chittychat-data state).
4. ``name``          same normalised name: case folded, separators (``- _ . space``) removed.
                     ``ChittyChat`` = ``chitty-chat`` = ``chittychat``; ``chitty-id`` != ``chittyid-client``.
5. ``path_within``   a working directory inside another project's path (``…/chittychat/worker``),
                     the deepest such path; tried after names so that a project folder inside
                     a folder of projects keeps its own identity when its name is known.
6. ``name_stripped`` documents only (Notion pages, Drive folders): the name without a trailing
                     generic word (data, docs, project, notes, workspace) matches a project:
                     ``ChittyChat Data`` -> chittychat. Exact names win first, so a real
                     ``chittychat-data`` repository keeps its own folder.
7. ``new``           nothing matched: the record starts a project of its own.

Not used on purpose: prefix stripping (``chitty-`` would merge ``chitty-id`` with ``id``), fuzzy
or edit-distance matching (``chittyid`` vs ``chittyids`` are different packages in this ecosystem).
Working directories whose basename is generic (``src``, the home folder, ``tmp``…) and that lie
in no project are kept as aliases with rule ``ignored_generic`` and no project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

REGISTERED_RANK = 0  # registered projects anchor first; platform feeds declare their own rank
GENERIC_SUFFIXES = ("data", "docs", "documents", "project", "notes", "workspace", "files")
GENERIC_BASENAMES = {
    "", "src", "app", "apps", "code", "dev", "repos", "repo", "projects", "project", "work",
    "workspace", "tmp", "temp", "home", "users", "desktop", "documents", "downloads", "git",
    "github", "lib", "test", "tests", "build", "dist", "private", "var", "root",
}  # fmt: skip


@dataclass
class SourceRecord:
    kind: str  # registered, or the kind a project feed maps
    source_table: str
    source_id: str
    name: str | None
    path: str | None = None
    git_remote: str | None = None
    last_active_at: datetime | None = None
    count: int = 1  # sessions for a working directory, 1 otherwise
    registered_key: str | None = None
    extra: dict = field(default_factory=dict)
    # From the feed (kernel/feeds.py): anchor strength (lower first), a code checkout (names match
    # exactly, never stripped), a working directory (generic folders ignored, path_within applies).
    rank: int = REGISTERED_RANK
    code: bool = True
    workdir: bool = False

    @property
    def alias_id(self) -> str:
        return f"{self.kind}:{self.source_table}:{self.source_id}"


@dataclass
class Match:
    record: SourceRecord
    rule: str
    matched_on: str
    project_key: str | None = None


def normalize_name(name: str | None) -> str:
    return re.sub(r"[\s\-_.]+", "", (name or "").strip().lower())


def stripped_name(name: str | None) -> str:
    words = [w for w in re.split(r"[\s\-_.]+", (name or "").strip().lower()) if w]
    while len(words) > 1 and words[-1] in GENERIC_SUFFIXES:
        words.pop()
    return "".join(words)


def slugify(name: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-") or "project"


_REMOTE = re.compile(
    r"^(?:[a-z+]+://)?(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?[:/](?P<path>.+?)(?:\.git)?/*$", re.I
)


def normalize_remote(remote: str | None) -> str | None:
    """``git@github.com:Org/Repo.git``, ``https://github.com/org/repo`` -> ``github.com/org/repo``."""
    if not remote:
        return None
    m = _REMOTE.match(remote.strip())
    if not m:
        return None
    return f"{m.group('host').lower()}/{m.group('path').strip('/').lower()}"


def normalize_path(path: str | None) -> str | None:
    if not path:
        return None
    p = path.strip().replace("\\", "/").rstrip("/")
    return p or None


def _is_generic_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    base = parts[-1].lower() if parts else ""
    # /Users/<me>, /home/<me>: a home folder is where sessions start when no project is open
    at_home = len(parts) == 3 and parts[1].lower() in {"users", "home"}
    return base in GENERIC_BASENAMES or at_home


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra  # the earlier (stronger) record stays the root


def resolve(records: list[SourceRecord]) -> tuple[list[Match], dict[str, list[Match]]]:
    """Matches for every record, and project_key -> its matches."""
    records = sorted(
        records,
        key=lambda r: (r.rank, len(normalize_path(r.path) or ""), r.source_table, r.source_id),
    )
    uf = _UnionFind()
    by_remote: dict[str, str] = {}
    by_path: dict[str, str] = {}
    by_name: dict[str, str] = {}
    matches: list[Match] = []
    for rec in records:
        me = rec.alias_id
        uf.find(me)
        remote, path = normalize_remote(rec.git_remote), normalize_path(rec.path)
        name = normalize_name(rec.name)
        rule, on, target = _match(rec, remote, path, name, by_remote, by_path, by_name)
        if target is not None:
            uf.union(target, me)
        elif rec.workdir and path and _is_generic_path(path):
            rule, on = "ignored_generic", f"generic working directory {path}"
        matches.append(Match(rec, rule, on))
        if rule == "ignored_generic":
            continue
        if remote:
            by_remote.setdefault(remote, me)
        if path:
            by_path.setdefault(path, me)
        if name and not (rec.workdir and path and _is_generic_path(path)):
            by_name.setdefault(name, me)
    return matches, _assign_keys(matches, uf)


def _match(rec, remote, path, name, by_remote, by_path, by_name) -> tuple[str, str, str | None]:
    if rec.kind == "registered":
        return "registered", f"registered as {rec.registered_key}", None
    if remote and remote in by_remote:
        return "git_remote", remote, by_remote[remote]
    if path and path in by_path:
        return "path", path, by_path[path]
    if name and name in by_name:
        return "name", name, by_name[name]
    if path and rec.workdir:
        parent = _containing(path, by_path)
        if parent is not None:
            return "path_within", f"inside {parent}", by_path[parent]
    if not rec.code:
        short = stripped_name(rec.name)
        if short and short != name and short in by_name:
            return "name_stripped", short, by_name[short]
    return "new", name or rec.source_id, None


def _containing(path: str, by_path: dict[str, str]) -> str | None:
    """The deepest known, non-generic folder holding ``path`` (walks the parents: O(depth))."""
    for parent in PurePosixPath(path).parents:
        candidate = str(parent)
        if candidate in by_path and not _is_generic_path(candidate):
            return candidate
    return None


def _assign_keys(matches: list[Match], uf: _UnionFind) -> dict[str, list[Match]]:
    clusters: dict[str, list[Match]] = {}
    for m in matches:
        if m.rule != "ignored_generic":
            clusters.setdefault(uf.find(m.record.alias_id), []).append(m)
    taken: set[str] = set()
    projects: dict[str, list[Match]] = {}
    # Registered clusters pick first so their keys are never displaced by a suffix.
    ordered = sorted(
        clusters.values(), key=lambda ms: (ms[0].record.kind != "registered", ms[0].record.alias_id)
    )
    for ms in ordered:
        anchor = ms[0].record
        base = anchor.registered_key or slugify(anchor.name or anchor.source_id)
        key, n = base, 2
        while key in taken:
            key, n = f"{base}-{n}", n + 1
        taken.add(key)
        for m in ms:
            m.project_key = key
        projects[key] = ms
    return projects
