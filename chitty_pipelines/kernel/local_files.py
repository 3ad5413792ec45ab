"""Local AI session files: Claude Code's folder(s) and ChatGPT export folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from chitty_pipelines.config import load_settings


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


def _stat_file(path: Path, root: Path, kind: str, session_hint: str) -> SessionFile | None:
    try:
        st = path.stat()
    except OSError:  # vanished between listing and stat: the next sync sees the truth
        return None
    return SessionFile(path, root, kind, session_hint, st.st_size, st.st_mtime_ns, st.st_ino)


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

    def claude_transcripts(self) -> Iterator[SessionFile]:
        """Every transcript under ``<home>/projects``, in every layout (sessions-formats §1.10):

        * ``projects/<enc>/<session>.jsonl``                main file (v1.0 inline sidechains too)
        * ``projects/<enc>/agent-<id>.jsonl``               v2.0 flat subagent file
        * ``projects/<enc>/<session>/subagents/*.jsonl``    v2.1 subagent files
        * any deeper ``*.jsonl`` (ccusage's nested fixture layout) counts as a main file whose
          session is its parent folder.
        """
        for root in self.claude_roots():
            projects = root / "projects"
            if not projects.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(projects):
                dirnames.sort()
                here = Path(dirpath)
                depth = len(here.relative_to(projects).parts)
                for name in sorted(filenames):
                    if not name.endswith(".jsonl"):
                        continue
                    path = here / name
                    stem = name[: -len(".jsonl")]
                    if here.name == "subagents":
                        if name == "journal.jsonl":  # lifecycle records, not a transcript
                            continue
                        found = _stat_file(path, root, "subagent", here.parent.name)
                    elif depth == 1 and stem.startswith("agent-"):
                        found = _stat_file(path, root, "agent_flat", stem)
                    elif depth == 1:
                        found = _stat_file(path, root, "main", stem)
                    else:
                        found = _stat_file(path, root, "main", here.name)
                    if found:
                        yield found

    def claude_state_files(self, folder: str) -> Iterator[Path]:
        """JSON files under ``<home>/todos`` or ``<home>/tasks`` (TodoWrite and Task tool state)."""
        for root in self.claude_roots():
            base = root / folder
            if base.is_dir():
                yield from sorted(p for p in base.rglob("*.json") if p.is_file())

    def chatgpt_exports(self) -> Iterator[Path]:
        base = Path(self.exports_dir)
        if base.is_dir():
            yield from sorted(p for p in base.rglob("*.json") if p.is_file() and _looks_like_export(p))

    def gemini_activity(self) -> Iterator[Path]:
        """Google Takeout's ``My Activity.json`` files under the exports folder (Gemini Apps activity;
        other products' activity files are filtered item by item by their header)."""
        base = Path(self.exports_dir)
        if base.is_dir():
            yield from sorted(p for p in base.rglob("My Activity.json") if p.is_file())

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


def _looks_like_export(path: Path) -> bool:
    """``conversations.json`` by name, or any JSON file whose first byte opens an array."""
    if path.name == "conversations.json":
        return True
    if path.name in _NOT_CONVERSATIONS:
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(64).lstrip()
    except OSError:
        return False
    return head.startswith(b"[")
