"""Local AI session files: Claude Code's folder(s) and ChatGPT export folder."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.config import load_settings
from chitty_pipelines.kernel.export_files import (
    ACTIVITY_NAMES,
    CHATGPT_EXPORT_NAME,
    HEAD_BYTES,
    is_activity_path,
    is_chatgpt_member,
    looks_like_activity,
    zip_members,
)
from chitty_pipelines.warehouse import Reject, Warehouse


@dataclass(frozen=True)
class SessionFile:
    """A transcript file found on disk, with what the path alone tells about it."""

    path: Path
    root: Path  # the Claude home it was found under
    kind: str  # main | agent_flat | subagent
    session_hint: str  # file stem for main files, parent folder for <session>/subagents/*
    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True)
class SkippedPath:
    """A path that looks like input but is never opened: the platform writes it to ops.rejects."""

    path: Path
    reason: str


def reject_skipped(
    wh: Warehouse, run_id: str | None, platform: str, stream: str, skipped: list[SkippedPath] | None
) -> int:
    """Paths never opened (pipes, sockets, broken or looping links) become rejects; returns how many."""
    if not skipped:
        return 0
    with wh.transaction(run_id) as tx:
        return tx.add_rejects([Reject(platform, stream, str(s.path), "file", s.reason) for s in skipped])


_FILE_TYPES = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
)


def regular_file(path: Path, skipped: list[SkippedPath] | None) -> os.stat_result | None:
    """The stat of ``path`` if it is (or links to) a regular file; otherwise None, with the reason
    in ``skipped``. Opening a FIFO for reading blocks until a writer appears (a sync that hangs
    forever), so the type is checked before anything opens the path."""
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            reason = "symlink loop"
        elif exc.errno == errno.ENOENT and path.is_symlink():
            reason = f"dangling symlink (to {os.readlink(path)})"
        elif exc.errno == errno.ENOENT:
            return None  # vanished between listing and stat: the next sync sees the truth
        else:
            reason = f"cannot stat: {exc.strerror}"
        if skipped is not None:
            skipped.append(SkippedPath(path, reason))
        return None
    if stat.S_ISREG(st.st_mode):
        return st
    if skipped is not None:
        what = next((name for test, name in _FILE_TYPES if test(st.st_mode)), "not a regular file")
        skipped.append(SkippedPath(path, f"not a regular file: {what}"))
    return None


def _stat_file(
    path: Path, root: Path, kind: str, session_hint: str, skipped: list[SkippedPath] | None
) -> SessionFile | None:
    st = regular_file(path, skipped)
    if st is None:
        return None
    return SessionFile(path, root, kind, session_hint, st.st_size, st.st_mtime_ns, st.st_ino)


def _regular_files(paths: Iterator[Path], skipped: list[SkippedPath] | None) -> list[Path]:
    return sorted(p for p in paths if regular_file(p, skipped) is not None)


class MissingFolderError(RuntimeError):
    """The user named a folder (by an environment variable) that is not there. (The syncs report
    it as a warning instead, so the other folders still land; kept for callers that must stop.)"""


class LocalSessionsResource(dg.ConfigurableResource):
    """Where the local AI session files are. Nothing here needs credentials."""

    claude_homes: list[str] = Field(description="Claude Code data folders (each may hold projects/).")
    exports_dir: str = Field(description="Folder searched for ChatGPT conversations.json exports.")

    @classmethod
    def from_settings(cls) -> LocalSessionsResource:
        s = load_settings()
        return cls(claude_homes=[str(p) for p in s.claude_homes], exports_dir=str(s.exports_dir))

    def claude_roots(self) -> list[Path]:
        return [Path(p) for p in self.claude_homes]

    def claude_transcripts(self, skipped: list[SkippedPath] | None = None) -> Iterator[SessionFile]:
        """Every transcript under ``<home>/projects``, in every layout (sessions-formats §1.10):

        * ``projects/<enc>/<session>.jsonl``                main file (v1.0 inline sidechains too)
        * ``projects/<enc>/agent-<id>.jsonl``               v2.0 flat subagent file
        * ``projects/<enc>/<session>/subagents/*.jsonl``    v2.1 subagent files
        * any deeper ``*.jsonl`` (ccusage's nested fixture layout) counts as a main file whose
          session is its parent folder.

        Paths named ``*.jsonl`` that are not regular files (pipes, sockets, devices, directories,
        broken or looping links) are never opened; they go to ``skipped`` with the reason.
        """
        for root in self.claude_roots():
            projects = root / "projects"
            if not projects.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(projects):
                dirnames.sort()
                here = Path(dirpath)
                depth = len(here.relative_to(projects).parts)
                for name in dirnames:
                    if name.endswith(".jsonl") and skipped is not None:
                        skipped.append(SkippedPath(here / name, "not a regular file: a directory"))
                for name in sorted(filenames):
                    if not name.endswith(".jsonl"):
                        continue
                    path = here / name
                    stem = name[: -len(".jsonl")]
                    if here.name == "subagents":
                        if name == "journal.jsonl":  # lifecycle records, not a transcript
                            continue
                        found = _stat_file(path, root, "subagent", here.parent.name, skipped)
                    elif depth == 1 and stem.startswith("agent-"):
                        found = _stat_file(path, root, "agent_flat", stem, skipped)
                    elif depth == 1:
                        found = _stat_file(path, root, "main", stem, skipped)
                    else:
                        found = _stat_file(path, root, "main", here.name, skipped)
                    if found:
                        yield found

    def claude_state_files(self, folder: str, skipped: list[SkippedPath] | None = None) -> Iterator[Path]:
        """JSON files under ``<home>/todos`` or ``<home>/tasks`` (TodoWrite and Task tool state)."""
        for root in self.claude_roots():
            base = root / folder
            if base.is_dir():
                yield from _regular_files(base.rglob("*.json"), skipped)

    def chatgpt_exports(self, skipped: list[SkippedPath] | None = None) -> Iterator[Path]:
        """ChatGPT exports under the exports folder: ``conversations.json`` files and other JSON
        arrays that are not Takeout activity, and ZIP archives holding a ``conversations.json``
        (the export as downloaded; an unreadable ZIP is listed too, so the sync says so)."""
        base = Path(self.exports_dir)
        if base.is_dir():
            found = _regular_files(base.rglob("*.json"), skipped)
            found = [p for p in found if _looks_like_export(p)]
            zips = _regular_files(base.rglob("*.[zZ][iI][pP]"), skipped)
            found += [z for z in zips if zip_members(z, is_chatgpt_member) != []]
            yield from sorted(found)

    def gemini_activity(self, skipped: list[SkippedPath] | None = None) -> Iterator[Path]:
        """Google Takeout activity files under the exports folder: ``My Activity.json`` in any of
        Takeout's languages (``export_files.is_activity_path``), loose activity arrays, and ZIPs
        holding them (Gemini Apps activity is picked item by item by its header)."""
        base = Path(self.exports_dir)
        if base.is_dir():
            found = _regular_files(base.rglob("*.json"), skipped)
            found = [p for p in found if _looks_like_activity_file(p, base)]
            zips = _regular_files(base.rglob("*.[zZ][iI][pP]"), skipped)
            found += [z for z in zips if zip_members(z, is_activity_path) != []]
            yield from sorted(found)

    def missing_folders(self, which: str) -> list[str]:
        """Messages for folders named explicitly (``which``: "claude" or "exports") that do not
        exist. An unset variable falls back to a default folder, whose absence only means the
        tool is not used on this machine, so it is no error; nor is a missing folder this
        resource was configured with in code rather than through the variable."""
        settings = load_settings()
        if which == "claude":
            var = next((v for v in ("CLAUDE_HOME", "CLAUDE_CONFIG_DIR") if config.is_set(v)), None)
            named = {str(p) for p in settings.claude_homes}
            paths = [str(p) for p in self.claude_roots()]
        else:
            var = "CHITTY_EXPORTS_DIR" if config.is_set("CHITTY_EXPORTS_DIR") else None
            named = {str(settings.exports_dir)}
            paths = [self.exports_dir]
        if var is None:
            return []
        return [
            f"{var} points to {p}, which does not exist (or is not a folder): nothing was read; "
            f"fix or unset {var}"
            for p in paths
            if p in named and not Path(p).is_dir()
        ]

    def health(self) -> dict[str, object]:
        roots = self.claude_roots()
        return {
            "claude_homes": [str(r) for r in roots],
            "claude_projects_found": [str(r) for r in roots if (r / "projects").is_dir()],
            "exports_dir": self.exports_dir,
            "exports_dir_exists": Path(self.exports_dir).is_dir(),
        }


# Arrays that sit next to conversations.json in a ChatGPT export ZIP (or in a Google Takeout) but
# hold no conversations: reading them as exports would reject every element.
_NOT_CONVERSATIONS = frozenset(
    {"shared_conversations.json", "message_feedback.json", "model_comparisons.json", "My Activity.json"}
)


def _head(path: Path) -> bytes | None:
    try:
        with path.open("rb") as fh:
            return fh.read(HEAD_BYTES)
    except OSError:
        return None


def _looks_like_export(path: Path) -> bool:
    """``conversations.json`` by name, or a JSON file whose first byte opens an array, unless it
    is Takeout activity (a full Takeout unzipped here holds YouTube's ``watch-history.json`` and
    activity files in the account's language: read as conversations, every item would be a reject)."""
    if path.name == CHATGPT_EXPORT_NAME:
        return True
    if path.name in _NOT_CONVERSATIONS or path.name in ACTIVITY_NAMES:
        return False
    head = _head(path)
    if head is None:
        return False
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"[") and not looks_like_activity(head)


def _looks_like_activity_file(path: Path, base: Path) -> bool:
    """Takeout activity by its name or layout (below ``base``), or a loose JSON array whose first
    item starts with ``"header"`` (a localised file copied out of its folders)."""
    if path.name == CHATGPT_EXPORT_NAME:
        return False
    if is_activity_path(path.relative_to(base).as_posix()):
        return True
    head = _head(path)
    return head is not None and looks_like_activity(head)


def probe_exports(resource: LocalSessionsResource, files: Callable[[], Iterator[Path]]) -> dict[str, Any]:
    """Health of a platform that reads export files under CHITTY_EXPORTS_DIR (ChatGPT, Gemini):
    does the folder exist, and how many of ``files()`` it holds."""
    folder = Path(resource.exports_dir)
    missing = resource.missing_folders("exports")
    if missing:  # named by the user but not there: an error to fix, not "not configured"
        return {"ok": False, "configured": True, "reason": missing[0]}
    if not folder.is_dir():
        return {
            "ok": None,
            "configured": False,
            "reason": f"{folder} does not exist (set CHITTY_EXPORTS_DIR)",
        }
    try:
        count = sum(1 for _ in files())
    except OSError as exc:
        return {"ok": False, "configured": True, "reason": f"{folder} is not readable ({exc.strerror})"}
    return {"ok": True, "configured": True, "reason": f"{count} file(s) under {folder}", "files": count}
