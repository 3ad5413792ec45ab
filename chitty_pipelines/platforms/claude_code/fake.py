"""A fake Claude Code home: transcript lines in the real format (session-formats.md §1), written
where Claude Code writes them. The local platforms read files, so their "fake" is a builder of
those files rather than a server; tests, the bench and the demo seed write through it.

    write_jsonl(home / "projects" / "-work-app" / f"{session}.jsonl", [
        user("u1", None, session, 0, "hello"),
        assistant("a1", "u1", session, 1, "msg_1", "req_1", [text("hi")], usage(10, 5)),
    ])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CWD = "/work/app"


def ts(minute: int, day: int = 1) -> str:
    return f"2026-11-{day:02d}T10:{minute:02d}:00.000Z"


def env(uuid: str | None, parent: str | None, session: str, minute: int, **extra: Any) -> dict:
    line = {
        "parentUuid": parent,
        "isSidechain": False,
        "userType": "external",
        "cwd": CWD,
        "sessionId": session,
        "version": "1.0.98",
        "gitBranch": "main",
        "timestamp": ts(minute, extra.pop("day", 1)),
    }
    if uuid is not None:
        line["uuid"] = uuid
    line.update(extra)
    return line


def user(uuid: str, parent: str | None, session: str, minute: int, content: Any, **extra: Any) -> dict:
    return {
        **env(uuid, parent, session, minute, **extra),
        "type": "user",
        "message": {"role": "user", "content": content},
    }


def usage(inp: int, out: int, cache_create: int = 0, cache_read: int = 0, **extra: Any) -> dict:
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_creation_input_tokens": cache_create,
        "cache_read_input_tokens": cache_read,
        **extra,
    }


def assistant(
    uuid: str,
    parent: str | None,
    session: str,
    minute: int,
    msg_id: str | None,
    request_id: str | None,
    blocks: list[dict],
    use: dict,
    model: str = "claude-sonnet-4-20250514",
    **extra: Any,
) -> dict:
    line = {
        **env(uuid, parent, session, minute, **extra),
        "type": "assistant",
        "message": {
            "model": model,
            "type": "message",
            "role": "assistant",
            "content": blocks,
            "stop_reason": None,
            "usage": use,
        },
    }
    if msg_id is not None:
        line["message"]["id"] = msg_id
    if request_id is not None:
        line["requestId"] = request_id
    return line


def text(t: str) -> dict:
    return {"type": "text", "text": t}


def tool_use(tool_id: str, name: str, tool_input: dict) -> dict:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def tool_result(tool_id: str, content: str, is_error: bool | None = None) -> dict:
    block = {"type": "tool_result", "tool_use_id": tool_id, "content": content}
    if is_error is not None:
        block["is_error"] = is_error
    return block


def write_jsonl(path: Path, lines: list[dict | str | bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = bytearray()
    for line in lines:
        if isinstance(line, bytes):
            out += line + b"\n"
        elif isinstance(line, str):
            out += line.encode() + b"\n"
        else:
            out += json.dumps(line).encode() + b"\n"
    path.write_bytes(bytes(out))
    return path
