"""Building blocks of a synthetic Claude Code corpus: ids, clocks, text and the line shapes of
session-formats.md §1.4-§1.10, as plain dicts ready for orjson.

Every random choice comes from one ``random.Random`` so a seed reproduces the corpus byte for
byte. Text is cut from one pre-built pool (slicing is far cheaper than generating words), which
is what lets the generator write hundreds of MB in a minute or two.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

_WORDS = " ".join(
    [
        "the a of to and in is for that with on as it this be are from by or not at an config ",
        "function return value error test file path import class def self data table query sync ",
        "session project cursor token usage warehouse schema column row index merge upsert commit ",
        "branch build deploy worker request response header retry backoff limit page offset async ",
        "await promise module package version update delete create insert select where group order ",
        "we should now let me check the failing case then run tests again because parser handles",
    ]
).split()
_CODE = [
    "def {w}(self, {v}: int) -> None:",
    "    return {w}_{v}",
    "import {w}",
    "const {w} = await {v}();",
    "if ({w} === null) throw new Error('{v}');",
    "    for {w} in {v}:",
    "SELECT {w} FROM {v} WHERE id = ?;",
    "# {w} {v}",
]


def text_pool(rng: random.Random, size: int = 1 << 21) -> str:
    """About 2 MB of prose-and-code text, sliced for every text field."""
    parts: list[str] = []
    n = 0
    while n < size:
        if rng.random() < 0.3:
            line = rng.choice(_CODE).format(w=rng.choice(_WORDS), v=rng.choice(_WORDS))
        else:
            line = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 18))).capitalize() + "."
        parts.append(line)
        n += len(line) + 1
    return "\n".join(parts)


class Gen:
    """Seeded ids, sizes and text for one corpus."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pool = text_pool(random.Random(seed ^ 0x5EED))
        self._plen = len(self.pool)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hexid(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def b58(self, prefix: str, n: int = 24) -> str:
        alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
        return prefix + "".join(self.rng.choices(alphabet, k=n))

    def text(self, n: int) -> str:
        start = self.rng.randrange(0, self._plen - n - 1) if n < self._plen - 1 else 0
        return self.pool[start : start + n]

    def size(self, median: float, sigma: float = 0.9, lo: int = 8, hi: int = 60_000) -> int:
        """Log-normal sizes: most fields are short, a few are huge, as in real transcripts."""
        return max(lo, min(hi, int(self.rng.lognormvariate(0.0, sigma) * median)))


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def encode_cwd(cwd: str) -> str:
    """Claude Code's folder name for a cwd: every char outside [A-Za-z0-9] becomes '-' (§1.2)."""
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in cwd)


# --- tool calls: (input, tool_result text, toolUseResult) per tool, shapes of §1.7 -------------


def tool_call(g: Gen, name: str, cwd: str, todos: list[dict[str, str]]) -> tuple[dict, str, Any]:
    rng = g.rng
    path = f"{cwd}/src/{rng.choice(_WORDS)}_{rng.choice(_WORDS)}.py"
    if name == "Read":
        content = g.text(g.size(3500, hi=40_000))
        lines = content.count("\n") + 1
        numbered = content  # the real tool prefixes line numbers; size is what matters here
        res = {
            "type": "text",
            "file": {
                "filePath": path,
                "content": content,
                "numLines": lines,
                "startLine": 1,
                "totalLines": lines,
            },
        }
        return {"file_path": path}, numbered, res
    if name == "Bash":
        out = g.text(g.size(900, hi=20_000))
        cmd = rng.choice(["pytest -q", "git status", "npm test", "ls -la", "make build", "ruff check ."])
        res = {"stdout": out, "stderr": "", "interrupted": False, "isImage": False, "noOutputExpected": False}
        return {"command": cmd, "description": g.text(40)}, out, res
    if name == "Edit":
        old, new = g.text(g.size(250)), g.text(g.size(300))
        res = {
            "filePath": path,
            "oldString": old,
            "newString": new,
            "originalFile": g.text(g.size(2500, hi=30_000)),
            "replaceAll": False,
            "structuredPatch": [
                {"oldStart": 10, "oldLines": 3, "newStart": 10, "newLines": 4, "lines": [old, new]}
            ],
            "userModified": False,
        }
        msg = f"The file {path} has been updated. Here's the result of running `cat -n`:\n" + g.text(
            g.size(600)
        )
        return {"file_path": path, "old_string": old, "new_string": new}, msg, res
    if name == "Write":
        content = g.text(g.size(1800, hi=30_000))
        res = {
            "type": "create",
            "filePath": path,
            "content": content,
            "structuredPatch": [],
            "originalFile": None,
        }
        return {"file_path": path, "content": content}, f"File created successfully at: {path}", res
    if name == "Grep":
        files = [f"{cwd}/src/{rng.choice(_WORDS)}.py" for _ in range(rng.randint(1, 12))]
        res = {"mode": "files_with_matches", "filenames": files, "numFiles": len(files)}
        return {"pattern": rng.choice(_WORDS), "path": cwd}, "\n".join(files), res
    if name == "Glob":
        files = [f"{cwd}/{rng.choice(_WORDS)}/{rng.choice(_WORDS)}.ts" for _ in range(rng.randint(1, 30))]
        res = {
            "filenames": files,
            "durationMs": rng.randint(2, 90),
            "numFiles": len(files),
            "truncated": False,
        }
        return {"pattern": "**/*.ts"}, "\n".join(files), res
    if name == "WebSearch":
        q = g.text(30)
        results = [{"title": g.text(50), "url": f"https://example.com/{g.hexid(8)}"} for _ in range(5)]
        res = {"query": q, "results": results, "durationSeconds": round(rng.uniform(0.5, 4), 3)}
        return {"query": q}, g.text(g.size(1500)), res
    if name == "TodoWrite":
        old = [dict(t) for t in todos]
        if not todos or rng.random() < 0.3:
            todos[:] = [
                {"content": g.text(40), "status": "pending", "activeForm": g.text(30)}
                for _ in range(rng.randint(2, 6))
            ]
        else:
            for t in todos:
                if t["status"] != "completed":
                    t["status"] = "completed" if t["status"] == "in_progress" else "in_progress"
                    break
        new = [dict(t) for t in todos]
        msg = "Todos have been modified successfully. Ensure that you continue to use the todo list."
        return {"todos": new}, msg, {"oldTodos": old, "newTodos": new}
    raise ValueError(name)


TOOLS = [
    "Read",
    "Read",
    "Read",
    "Bash",
    "Bash",
    "Edit",
    "Edit",
    "Grep",
    "Glob",
    "Write",
    "WebSearch",
    "TodoWrite",
]
