"""Gemini activity from Google Takeout (``My Activity/Gemini Apps/My Activity.json``).

The file is a JSON array of activity items, newest first, one item per prompt, with no
conversation id (session-formats.md §3). Each prompt item becomes one row here; sessions are
rebuilt from all prompts by time gap in the warehouse (streams.py). Localised exports
translate the header and the title prefixes, so both are parameters.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

DEFAULT_HEADERS = ("Gemini Apps",)
DEFAULT_PROMPT_PREFIXES = ("Prompted ",)
GEM_SUFFIX = " was used in this chat."
ATTACHMENT_PREFIX = "-  "


class ActivityError(ValueError):
    """An item that cannot be read as activity (no time, not an object); it becomes a reject."""


@dataclass(frozen=True)
class ActivityRules:
    headers: tuple[str, ...] = DEFAULT_HEADERS
    prompt_prefixes: tuple[str, ...] = DEFAULT_PROMPT_PREFIXES


class _Text(HTMLParser):
    """Visible text of the response HTML; block elements become line breaks."""

    _BLOCKS = frozenset({"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0  # inside <script> or <style>: code, not text anyone read

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self.hidden += 1
        if tag in self._BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.hidden = max(0, self.hidden - 1)
        if tag in self._BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.out.append(data)


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.out).splitlines()]
    return "\n".join(line for line in lines if line)


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ActivityError("item has no time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ActivityError(f"unparsable time {value[:40]!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_gemini_item(item: dict[str, Any], rules: ActivityRules) -> bool:
    """Gemini activity by its header or product: one of ``rules.headers``, or any name containing
    "Gemini" (the brand is not translated: "Gemini-Apps", "Applications Gemini")."""
    products = item.get("products") if isinstance(item.get("products"), list) else []
    names = [n for n in (item.get("header"), *products) if isinstance(n, str)]
    return any(n in rules.headers or "gemini" in n.casefold() for n in names)


def prompt_row(item: Any, rules: ActivityRules, source_file: str, index: int) -> dict[str, Any] | None:
    """The prompt row for a Gemini prompt item; None for other activity (Created, Used, feedback,
    other products), which is skipped rather than rejected."""
    if not isinstance(item, dict):
        raise ActivityError(f"array element is a {type(item).__name__}, not an activity object")
    header = item.get("header")
    if not is_gemini_item(item, rules):
        return None
    title = item.get("title")
    responses = [
        r["html"]
        for r in item.get("safeHtmlItem") or []
        if isinstance(r, dict) and isinstance(r.get("html"), str)
    ]
    prefix = next((p for p in rules.prompt_prefixes if isinstance(title, str) and title.startswith(p)), None)
    if prefix is None and responses and isinstance(title, str):
        # A localised Takeout translates "Prompted "; an item with an answer is a prompt all the
        # same (Created/Used/feedback items carry none): keep the title whole rather than lose it.
        prefix = ""
    if prefix is None or not isinstance(title, str):
        return None
    when = parse_time(item.get("time"))
    subtitles = [s.get("name") for s in item.get("subtitles") or [] if isinstance(s, dict)]
    subtitles = [s for s in subtitles if isinstance(s, str)]
    gems = [s[: -len(GEM_SUFFIX)] for s in subtitles if s.endswith(GEM_SUFFIX)]
    files = [s[len(ATTACHMENT_PREFIX) :].strip() for s in subtitles if s.startswith(ATTACHMENT_PREFIX)]
    files += [f for f in item.get("attachedFiles") or [] if isinstance(f, str)]
    # Stable across re-exports and overlapping Takeouts: the same prompt at the same instant.
    prompt_id = hashlib.sha1(f"{when.isoformat()}\x1f{title}".encode()).hexdigest()[:24]
    return {
        "prompt_id": prompt_id,
        "prompt_time": when,
        "prompt_text": title[len(prefix) :],
        "response_text": html_text(responses[0]) if responses else None,
        "response_html": responses[0] if responses else None,
        "regenerations": max(len(responses) - 1, 0),
        "gem_name": gems[0] if gems else None,
        "attached_files": files,
        "has_image": isinstance(item.get("imageFile"), str),
        "header": header if isinstance(header, str) else None,
        "session_id": None,  # assigned when sessions are rebuilt
        "source_file": source_file,
        "file_index": index,
        # Everything but the response HTML (kept above), for fields we do not model yet.
        "raw_json": json.dumps({k: v for k, v in item.items() if k != "safeHtmlItem"}, default=str),
    }
