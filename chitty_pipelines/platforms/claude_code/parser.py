"""Claude Code transcript lines -> warehouse rows (session-formats.md §1).

Every line becomes one ``claude_messages`` row keyed by (file, line number): the same ``uuid``
legitimately appears in several files (resumed sessions replay earlier lines with a new
``sessionId``), so the uuid is data, not a key. Token de-duplication (§1.8) happens later in
SQL over all rows, never here, so that incremental and concurrent syncs stay exact.

Rows are tuples in the order of the ``*_FIELDS`` declarations (claude_code_rows.py): building
one dict per line costs more than the JSON parse of a typical line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from chitty_pipelines.platforms.claude_code.rows import (
    MESSAGE_FIELDS,
    SUBAGENT_FIELDS,
    TODO_FIELDS,
    TOOL_CALL_FIELDS,
    TOOL_RESULT_FIELDS,
    FileContext,
    subagent_row,
    todo_rows,
)

TEXT_CHARS = 300  # text excerpt kept per line; the transcript itself stays on the user's disk
SUMMARY_CHARS = 200

KNOWN_TYPES = frozenset(
    {
        "user",
        "assistant",
        "system",
        "summary",
        "file-history-snapshot",
        "queue-operation",
        "progress",
        "attachment",
        "custom-title",
        "ai-title",
        "agent-name",
        "agent-setting",
        "permission-mode",
        "mode",
        "pr-link",
        "last-prompt",
        "bridge-session",
    }
)

# User text that is not a human prompt (§1.11): command echoes, caveats, notices, interrupts.
NOT_PROMPT_PREFIXES = (
    "<command-",
    "<local-command-",
    "<bash-",
    "<task-notification>",
    "<system-reminder>",
    "Caveat: The messages below",
    "[Request interrupted",
)


@dataclass
class Rejected:
    line_no: int
    reason: str
    excerpt: str
    where: str = ""  # a field within the line (one line may have several bad fields)

    @property
    def location(self) -> str:
        if not self.line_no:  # about the whole file (it could not be read)
            return self.where or "file"
        return f"line {self.line_no} {self.where}" if self.where else f"line {self.line_no}"


@dataclass
class ParsedRows:
    """Rows of one batch, per table, plus the lines rejected."""

    messages: list[tuple] = field(default_factory=list)
    tool_calls: list[tuple] = field(default_factory=list)
    tool_results: list[tuple] = field(default_factory=list)
    todos: list[tuple] = field(default_factory=list)
    subagents: list[tuple] = field(default_factory=list)
    rejects: list[tuple[str, Rejected]] = field(default_factory=list)  # (source_file, reject)


def parse_timestamp(value: Any) -> str | None:
    """A valid ISO-8601 timestamp, normalised to an offset-carrying ISO string (naive means UTC).

    Strings rather than datetimes: Arrow casts ISO strings to timestamps an order of magnitude
    faster than it converts Python datetime objects.
    """
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 24 and value[-1] == "Z" and value[10] == "T":
        return value  # Claude Code's own shape; the Arrow cast re-checks every value
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()


def _str(value: Any) -> str | None:
    return value if value.__class__ is str else None


# Largest token count one response may carry. A real response is below 10^7; anything above
# 2^40 is corrupt, and clipping there keeps every session sum far below int64 (issue 15: one
# value above 2^63 used to fail the Arrow build of the whole batch, on every run).
MAX_TOKENS = 1 << 40

_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
_CACHE_FIELDS = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")


def _token_count(value: Any, name: str, problems: list[str] | None) -> int:
    """A usage value as a count in [0, MAX_TOKENS]. Anything else counts 0 (negative, text,
    fractional, null) or MAX_TOKENS (too large) and is reported in ``problems`` so the line
    lands with a reject row beside it instead of a silent zero."""
    if value.__class__ is int:
        if 0 <= value <= MAX_TOKENS:
            return value
        if problems is not None:
            problems.append(f"usage.{name} {'negative' if value < 0 else 'above 2^40'} ({str(value)[:40]})")
        return 0 if value < 0 else MAX_TOKENS
    if isinstance(value, float) and value.is_integer():
        # 12.0: some exporters write every number as a float; orjson also reads an integer
        # beyond 64 bits (99999999999999999999) as a float, so size is checked here too
        if 0 <= value <= MAX_TOKENS:
            return int(value)
        if problems is not None:
            problems.append(f"usage.{name} {'negative' if value < 0 else 'above 2^40'} ({value:.0f})")
        return 0 if value < 0 else MAX_TOKENS
    if problems is not None:
        shown = "null" if value is None else type(value).__name__
        problems.append(f"usage.{name} is not a non-negative integer ({shown}: {str(value)[:40]})")
    return 0


def usage_tokens(usage: dict, problems: list[str] | None = None) -> tuple[int, int, int, int]:
    """(input, output, cache creation, cache read); cache creation per §1.8 rule 6. A field that
    is absent counts 0 silently; one that is present but not a valid count goes to ``problems``."""

    def get(d: dict, name: str) -> int:
        return _token_count(d[name], name, problems) if name in d else 0

    cc = usage.get("cache_creation")
    if isinstance(cc, dict):
        creation = min(get(cc, _CACHE_FIELDS[0]) + get(cc, _CACHE_FIELDS[1]), MAX_TOKENS)
    else:
        creation = get(usage, "cache_creation_input_tokens")
    return (
        get(usage, "input_tokens"),
        get(usage, "output_tokens"),
        creation,
        get(usage, "cache_read_input_tokens"),
    )


def _blocks_text(content: Any) -> tuple[str, bool]:
    """Text excerpt of a message's content and whether it holds tool results."""
    if isinstance(content, str):
        return content[:TEXT_CHARS], False
    if not isinstance(content, list):
        return "", False
    parts: list[str] = []
    size = 0
    has_result = False
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and size < TEXT_CHARS:
            text = block.get("text")
            if isinstance(text, str):
                parts.append(text)
                size += len(text)
        elif kind == "tool_result":
            has_result = True
    return "\n".join(parts)[:TEXT_CHARS], has_result


def _is_prompt(entry: dict, text: str, has_result: bool, sidechain: bool) -> bool:
    if sidechain or has_result or entry.get("isMeta") or entry.get("isCompactSummary"):
        return False
    stripped = text.lstrip()
    return bool(stripped) and not stripped.startswith(NOT_PROMPT_PREFIXES)


_TOOL_SUMMARY_KEYS = ("command", "file_path", "notebook_path", "pattern", "url", "query", "description")
_PATH_KEYS = ("file_path", "notebook_path", "path")


def _tool_summary(tool_input: Any) -> tuple[str, list[str]]:
    if not isinstance(tool_input, dict):
        return "", []
    paths = [v for k in _PATH_KEYS if isinstance(v := tool_input.get(k), str) and v]
    for key in _TOOL_SUMMARY_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return value[:SUMMARY_CHARS], paths
    return orjson.dumps(tool_input).decode()[:SUMMARY_CHARS], paths


class TranscriptParser:
    """Turns raw lines of one file into rows appended to a ``ParsedRows``."""

    def __init__(self, ctx: FileContext, out: ParsedRows):
        self.ctx = ctx
        self.out = out

    def line(self, line_no: int, raw: bytes) -> None:
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            reason = "invalid UTF-8" if "UTF-8" in str(exc) else f"invalid JSON: {exc}"
            self._reject(line_no, reason, raw)
            return
        if not isinstance(entry, dict):
            self._reject(line_no, f"not a JSON object ({type(entry).__name__})", raw)
            return
        message = entry.get("message")
        etype = entry.get("type")
        if not isinstance(etype, str) and not isinstance(message, dict) and "uuid" not in entry:
            self._reject(line_no, "not a transcript entry (no type, message or uuid)", raw)
            return
        self._entry(line_no, entry, etype if isinstance(etype, str) else None, message, raw)

    def _reject(self, line_no: int, reason: str, raw: bytes, where: str = "") -> None:
        excerpt = raw[:120].decode("utf-8", errors="replace")
        self.out.rejects.append((self.ctx.source_file, Rejected(line_no, reason, excerpt, where)))

    def _entry(self, line_no: int, e: dict, etype: str | None, message: Any, raw: bytes) -> None:
        ctx = self.ctx
        get = e.get  # one bound method: this function runs once per line
        line_session = _str(get("sessionId"))
        session = ctx.session_for(line_session)
        agent = _str(get("agentId")) or ctx.agent_hint
        sidechain = bool(get("isSidechain")) or ctx.kind != "main"
        ts = parse_timestamp(get("timestamp"))
        msg = message if isinstance(message, dict) else {}
        role = _str(msg.get("role"))
        # ccusage-style lines have no ``type``: key on the message (§1.15)
        kind = etype or role
        subtype = _str(get("subtype"))
        text = ""
        model = message_id = request_id = None
        usage_ok = is_prompt = False
        tokens: tuple[int, int, int, int] | None = None
        tool_uses = 0
        uuid = _str(get("uuid"))

        if kind == "assistant":
            model = _str(msg.get("model"))
            message_id = _str(msg.get("id"))
            request_id = _str(get("requestId"))
            content = msg.get("content")
            text, _ = _blocks_text(content)
            if isinstance(content, list):
                tool_uses = self._tool_uses(content, session, uuid, agent, sidechain, ts, line_no)
            usage = msg.get("usage")
            if isinstance(usage, dict):
                problems: list[str] = []
                tokens = usage_tokens(usage, problems)
                for problem in problems:  # the line still lands, with the value clipped
                    self._reject(line_no, problem, raw, where=problem.split(" ", 1)[0])
                usage_ok = model != "<synthetic>" and not get("isApiErrorMessage")
            if get("isApiErrorMessage"):
                subtype = "api_error"
        elif kind == "user":
            content = msg.get("content")
            text, has_result = _blocks_text(content)
            is_prompt = _is_prompt(e, text, has_result, sidechain)
            if has_result:
                self._tool_results(content, e, session, ts)
        elif etype == "system":
            content = e.get("content")
            text = content[:TEXT_CHARS] if isinstance(content, str) else ""
        elif etype == "progress":
            data = e.get("data")
            subtype = data.get("type") if isinstance(data, dict) else None
        elif etype == "attachment":
            att = e.get("attachment")
            subtype = att.get("type") if isinstance(att, dict) else None
        else:
            text = self._small_record_text(e, etype)

        raw_json = None
        if etype is not None and etype not in KNOWN_TYPES:
            raw_json = raw.decode("utf-8")  # unknown types kept whole so parsing can improve later
        inp, out, cc, cr = tokens if tokens else (None, None, None, None)
        self.out.messages.append(
            (
                ctx.source_file,
                line_no,
                session,
                uuid,
                _str(get("parentUuid")),
                line_session,
                agent,
                ctx.kind,
                sidechain,
                etype,
                subtype,
                role,
                ts,
                model,
                message_id,
                request_id,
                bool(get("isMeta")),
                is_prompt,
                usage_ok,
                inp,
                out,
                cc,
                cr,
                (inp + out + cc + cr) if tokens else None,
                tool_uses,
                text,
                _str(get("cwd")),
                _str(get("gitBranch")),
                _str(get("version")),
                raw_json,
            )
        )

    @staticmethod
    def _small_record_text(e: dict, etype: str | None) -> str:
        for key in ("summary", "customTitle", "aiTitle", "lastPrompt", "prUrl", "agentName", "content"):
            value = e.get(key)
            if isinstance(value, str):
                return value[:TEXT_CHARS]
        return ""

    def _tool_uses(
        self, content: list, session: str, uuid: str | None, agent: str | None, sidechain: bool, ts, line_no
    ) -> int:
        n = 0
        for block_idx, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") != "tool_use":
                continue
            tool_id = block.get("id")
            if not isinstance(tool_id, str):
                continue
            n += 1
            name = block.get("name") if isinstance(block.get("name"), str) else None
            tool_input = block.get("input")
            summary, paths = _tool_summary(tool_input)
            self.out.tool_calls.append(
                (
                    session,
                    tool_id,
                    uuid,
                    agent,
                    sidechain,
                    name,
                    ts,
                    summary,
                    paths,
                    False,
                    None,
                    None,
                    None,
                    self.ctx.source_file,
                    line_no,
                )
            )
            if name == "TodoWrite" and isinstance(tool_input, dict):
                todos = tool_input.get("todos")
                if isinstance(todos, list):
                    self.out.todos.extend(
                        todo_rows(
                            todos, self.ctx.source_file, line_no, block_idx, "transcript", session, agent,
                            None, tool_id, ts,
                        )
                    )  # fmt: skip
        return n

    def _tool_results(self, content: list, e: dict, session: str, ts) -> None:
        tur = e.get("toolUseResult")
        spawned = tur.get("agentId") if isinstance(tur, dict) else None
        spawned = spawned if isinstance(spawned, str) else None
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                tool_id = block.get("tool_use_id")
                if isinstance(tool_id, str):
                    self.out.tool_results.append((session, tool_id, bool(block.get("is_error")), ts, spawned))


__all__ = [
    "MESSAGE_FIELDS",
    "SUBAGENT_FIELDS",
    "TODO_FIELDS",
    "TOOL_CALL_FIELDS",
    "TOOL_RESULT_FIELDS",
    "FileContext",
    "ParsedRows",
    "Rejected",
    "TranscriptParser",
    "subagent_row",
    "todo_rows",
]
