"""One synthetic Claude Code session (main file plus subagent files) in a chosen CLI layout.

Layouts (session-formats.md §1.10): ``1.0`` inline sidechains in the main file, ``2.0`` flat
``agent-<id>.jsonl`` beside it, ``2.1`` ``<session>/subagents/agent-<id>.jsonl`` with a
``.meta.json`` sidecar and ``agent_progress`` copies in the parent file.

Token truth is recorded here, per API response, by construction: every response's final usage is
counted once for the session that first wrote it; replayed lines, ``agent_progress`` copies,
``/btw`` sidechain replays and ``<synthetic>`` lines add nothing (§1.8 rules 1-5, 7).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .corpus import TOOLS, Gen, iso, tool_call

MODELS = {
    "1.0": ["claude-sonnet-4-20250514", "claude-opus-4-1-20250805"],
    "2.0": ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805"],
    "2.1": ["claude-opus-4-6", "claude-sonnet-4-5-20250929"],
}
SUB_MODEL = {
    "1.0": "claude-sonnet-4-20250514",
    "2.0": "claude-haiku-4-5-20251001",
    "2.1": "claude-haiku-4-5-20251001",
}
TOKEN_KEYS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")


class Truth:
    """True token totals (§1.8), overall and per session, accumulated while generating."""

    def __init__(self) -> None:
        self.totals = dict.fromkeys(TOKEN_KEYS, 0)
        self.per_session: dict[str, dict[str, int]] = {}
        self.responses = 0
        self.counts: Counter[str] = Counter()

    def add(self, session_id: str, usage: dict[str, Any]) -> None:
        cc = usage.get("cache_creation")
        creation = (
            cc["ephemeral_5m_input_tokens"] + cc["ephemeral_1h_input_tokens"]
            if cc
            else usage.get("cache_creation_input_tokens", 0)
        )
        vals = (
            usage["input_tokens"],
            usage["output_tokens"],
            creation,
            usage.get("cache_read_input_tokens", 0),
        )
        sess = self.per_session.setdefault(session_id, dict.fromkeys(TOKEN_KEYS, 0))
        for key, v in zip(TOKEN_KEYS, vals, strict=True):
            self.totals[key] += v
            sess[key] += v
        self.responses += 1


class Session:
    """Builds the lines of one session. ``files`` maps a path relative to the project folder to
    its lines (dicts, serialised by the caller); the main file is ``<sid>.jsonl``."""

    def __init__(
        self,
        g: Gen,
        truth: Truth,
        *,
        sid: str,
        cwd: str,
        branch: str,
        version: str,
        start_ms: int,
        gateway: bool,
        rare: int = 1,
    ) -> None:
        self.g, self.rng, self.truth = g, g.rng, truth
        self.sid, self.cwd, self.version, self.family = sid, cwd, version, version[:3]
        self.gateway = gateway
        self.rare = rare  # multiplies the odds of rare features, so tiny corpora still have them
        self.clock = start_ms
        self.main: list[dict[str, Any]] = []
        self.files: dict[str, Any] = {f"{sid}.jsonl": self.main}
        self.parent: str | None = None
        self.todos: list[dict[str, str]] = []
        self.model = self.rng.choice(MODELS[self.family])
        self.base: dict[str, Any] = {
            "parentUuid": None,
            "isSidechain": False,
            "userType": "external",
            "cwd": cwd,
            "sessionId": sid,
            "version": version,
            "gitBranch": branch,
        }
        if self.family == "2.1":
            self.base["slug"] = "-".join([*g.text(6).split()[:1], "quiet", "otter"])
        self.last_response: tuple[str, dict[str, Any]] | None = None

    # --- envelope ---------------------------------------------------------------------------
    def tick(self, lo: int = 40, hi: int = 9000) -> str:
        self.clock += self.rng.randint(lo, hi)
        return iso(self.clock)

    def env(self, kind: str, chain: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """An envelope line threaded onto ``chain`` (the main thread when None)."""
        line = dict(chain["base"] if chain else self.base)
        line["parentUuid"] = chain["parent"] if chain else self.parent
        line["type"] = kind
        line.update(fields)
        line["uuid"] = u = self.g.uuid()
        line["timestamp"] = self.tick()
        if chain:
            chain["parent"] = u
        else:
            self.parent = u
        return line

    # --- building blocks --------------------------------------------------------------------
    def usage(self, out: int, first: bool) -> dict[str, Any]:
        rng = self.rng
        creation = rng.randint(0, 20_000) if first or rng.random() < 0.4 else rng.randint(0, 900)
        u: dict[str, Any] = {
            "input_tokens": rng.randint(1, 12) if rng.random() < 0.9 else rng.randint(100, 9000),
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": rng.randint(0, 160_000) if not first else rng.randint(0, 15_000),
        }
        if self.version != "1.0.30":  # the oldest lines lack the cache_creation split (§1.6)
            one_h = creation if self.family == "2.1" else 0
            u["cache_creation"] = {
                "ephemeral_5m_input_tokens": creation - one_h,
                "ephemeral_1h_input_tokens": one_h,
            }
        u["output_tokens"] = out
        u["service_tier"] = "standard"
        if self.family == "2.1":
            u["inference_geo"] = "not_available"
        return u

    def response(
        self, blocks: list[dict[str, Any]], chain: dict[str, Any] | None, model: str, first: bool = False
    ) -> list[dict[str, Any]]:
        """One API response: one line per content block, shared message.id/requestId, growing
        output_tokens; only the last line carries the final usage (§1.8)."""
        g = self.g
        mid, rid = g.b58("msg_01"), None if self.gateway else g.b58("req_011C")
        final_out = g.size(180, sigma=1.1, lo=1, hi=8000)
        final = self.usage(final_out, first)
        lines = []
        n = len(blocks)
        for i, block in enumerate(blocks):
            u = dict(final)
            u["output_tokens"] = final_out if i == n - 1 else max(1, final_out * (i + 1) // (n + 1))
            stop = None
            if self.family == "1.0" and i == n - 1:
                stop = "tool_use" if block["type"] == "tool_use" else "end_turn"
            msg = {"model": model, "id": mid, "type": "message", "role": "assistant", "content": [block]}
            msg.update(stop_reason=stop, stop_sequence=None, usage=u)
            fields: dict[str, Any] = {"message": msg}
            if rid:
                fields["requestId"] = rid
            lines.append(self.env("assistant", chain, **fields))
        self.truth.add(self.sid, final)
        self.truth.counts["assistant_lines"] += n
        if chain is None:
            self.last_response = (mid, final)
        return lines

    def user(self, content: Any, chain: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return self.env("user", chain, message={"role": "user", "content": content}, **extra)

    # --- a conversation thread (main, or a subagent's) ------------------------------------------
    def rounds(
        self, chain: dict[str, Any] | None, sink: list[dict[str, Any]], model: str, n_rounds: int
    ) -> int:
        """Tool rounds then a closing text answer; returns the last response's total tokens."""
        g, rng = self.g, self.rng
        total = 0
        for r in range(n_rounds + 1):
            blocks: list[dict[str, Any]] = []
            if self.family != "1.0" and rng.random() < 0.5:
                blocks.append({"type": "thinking", "thinking": g.text(g.size(700)), "signature": g.text(300)})
            if r == n_rounds or rng.random() < 0.6:
                blocks.append({"type": "text", "text": g.text(g.size(450 if r < n_rounds else 900))})
            calls = []
            if r < n_rounds:
                for _ in range(1 if rng.random() < 0.75 else rng.randint(2, 3)):
                    name = rng.choice(TOOLS)
                    tid = g.b58("toolu_01")
                    inp, text, result = tool_call(g, name, self.cwd, self.todos)
                    blocks.append({"type": "tool_use", "id": tid, "name": name, "input": inp})
                    calls.append((tid, text, result))
            lines = self.response(blocks, chain, model, first=(r == 0))
            sink.extend(lines)
            total = sum(v for k, v in lines[-1]["message"]["usage"].items() if k.endswith("_tokens"))
            for tid, text, result in calls:
                block = {"tool_use_id": tid, "type": "tool_result", "content": text}
                extra: dict[str, Any] = {"toolUseResult": result}
                if self.family == "2.1":
                    extra["sourceToolAssistantUUID"] = lines[-1]["uuid"]
                sink.append(self.user([block], chain, **extra))
                if self.family == "2.1" and chain is None and rng.random() < 0.5:
                    sink.append(self.hook("PostToolUse"))
        return total

    def hook(self, event: str) -> dict[str, Any]:
        data = {
            "type": "hook_progress",
            "hookEvent": event,
            "hookName": f"{event}:tool",
            "command": "bd sync",
        }
        tid = self.g.uuid()
        self.truth.counts["progress_lines"] += 1
        return self.env("progress", data=data, parentToolUseID=tid, toolUseID=tid)

    # --- subagents -----------------------------------------------------------------------------
    def task(self) -> None:
        """A Task call: the subagent's lines land where this CLI version puts them (§1.10)."""
        g, rng = self.g, self.rng
        tid = g.b58("toolu_01")
        prompt = g.text(g.size(900))
        desc = g.text(30)
        call = {"type": "tool_use", "id": tid, "name": "Task"}
        call["input"] = {"description": desc, "prompt": prompt, "subagent_type": "general-purpose"}
        lines = self.response([{"type": "text", "text": g.text(g.size(200))}, call], None, self.model)
        self.main.extend(lines)
        mid = lines[-1]["message"]["id"]
        agent = "a" + g.hexid(7)
        chain: dict[str, Any] = {"base": dict(self.base, isSidechain=True), "parent": None}
        if self.family == "2.1":
            chain["base"]["agentId"] = agent
        sub: list[dict[str, Any]] = [self.user(prompt, chain)]
        before = self.truth.totals["output_tokens"]
        self.rounds(chain, sub, SUB_MODEL[self.family], rng.randint(1, 6))
        self.truth.counts[f"subagents_{self.family}"] += 1
        if self.family == "1.0":
            self.main.extend(sub)  # inline sidechain lines, same file and sessionId
        elif self.family == "2.0":
            self.files[f"agent-{agent}.jsonl"] = sub  # flat file beside the parent
        else:
            self.files[f"{self.sid}/subagents/agent-{agent}.jsonl"] = sub
            meta = {"agentType": "general-purpose", "description": desc, "toolUseId": tid}
            self.files[f"{self.sid}/subagents/agent-{agent}.meta.json"] = meta
            for s in sub:  # display copies in the parent: never usage (§1.8 rule 1)
                copy = {
                    "type": s["type"],
                    "timestamp": s["timestamp"],
                    "message": s["message"],
                    "uuid": s["uuid"],
                }
                if "requestId" in s:
                    copy["requestId"] = s["requestId"]
                data = {"message": copy, "normalizedMessages": [], "type": "agent_progress"}
                data.update(prompt=prompt, agentId=agent)
                self.main.append(
                    self.env("progress", data=data, toolUseID=f"agent_{mid}", parentToolUseID=tid)
                )
                self.truth.counts["agent_progress_lines"] += 1
        out = self.truth.totals["output_tokens"] - before
        result = {
            "status": "completed",
            "prompt": prompt,
            "agentId": agent,
            "content": [{"type": "text", "text": sub[-1]["message"]["content"][0].get("text", "")}],
            "totalDurationMs": rng.randint(5_000, 400_000),
            "totalTokens": out,  # a summary of the subagent's spend, never added on top (rule 9)
            "totalToolUseCount": len(sub) // 3,
            "usage": sub[-1]["message"]["usage"],
        }
        block = {"tool_use_id": tid, "type": "tool_result", "content": result["content"]}
        self.main.append(self.user([block], toolUseResult=result))

    def compact(self) -> None:
        """compact_boundary + isCompactSummary; in v2.1 the summary comes from an acompact agent."""
        g = self.g
        logical = self.parent
        boundary = {"content": "Conversation compacted", "subtype": "compact_boundary", "level": "info"}
        boundary["compactMetadata"] = {"trigger": self.rng.choice(["auto", "manual"]), "preTokens": 155_000}
        self.parent = None
        self.main.append(self.env("system", logicalParentUuid=logical, **boundary))
        text = "This session is being continued from a previous conversation that ran out of context. "
        self.main.append(
            self.user(text + g.text(g.size(4000)), isCompactSummary=True, isVisibleInTranscriptOnly=True)
        )
        if self.family == "2.1":
            agent = "acompact-" + g.hexid(6)
            base = dict(self.base, isSidechain=True, agentId=agent)
            chain: dict[str, Any] = {"base": base, "parent": logical}
            sub = [self.user("Your task is to create a detailed summary of the conversation so far.", chain)]
            sub.extend(self.response([{"type": "text", "text": g.text(g.size(4000))}], chain, self.model))
            self.files[f"{self.sid}/subagents/agent-{agent}.jsonl"] = sub
        self.truth.counts["compactions"] += 1

    # --- the whole session ---------------------------------------------------------------------
    def build(self, n_turns: int) -> None:
        g, rng, fam, main = self.g, self.rng, self.family, self.main
        if fam != "2.1" and rng.random() < 0.3:
            main.append({"type": "summary", "summary": g.text(60), "leafUuid": g.uuid()})
        if fam == "2.1":
            self.parent = None
            main.append(self.hook("SessionStart"))
        for turn in range(n_turns):
            if fam != "1.0":
                snap = {"messageId": g.uuid(), "trackedFileBackups": {}, "timestamp": iso(self.clock)}
                main.append(
                    {
                        "type": "file-history-snapshot",
                        "messageId": snap["messageId"],
                        "snapshot": snap,
                        "isSnapshotUpdate": False,
                    }
                )
                if rng.random() < 0.1:
                    for op in ("enqueue", "dequeue"):
                        q = {
                            "type": "queue-operation",
                            "operation": op,
                            "timestamp": self.tick(),
                            "sessionId": self.sid,
                        }
                        main.append(dict(q, content=g.text(80)) if op == "enqueue" else q)
            if rng.random() < 0.05:
                cmd = "<command-name>/init</command-name>\n<command-message>init</command-message>\n"
                cmd += "<command-args></command-args>"
                main.append(self.user(cmd, isMeta=True))
                main.append(self.env("system", subtype="local_command", content=cmd, level="info"))
            extra = {}
            if fam == "2.1":
                extra = {
                    "thinkingMetadata": {"maxThinkingTokens": 31999},
                    "todos": [],
                    "permissionMode": "default",
                }
            main.append(self.user(g.text(g.size(350, sigma=1.2)), **extra))
            if (
                rng.random() < 0.03 * self.rare
            ):  # an API error: client-made <synthetic> line, no usage (rule 2)
                err = {
                    "model": "<synthetic>",
                    "id": g.uuid(),
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "text", "text": "API Error: Request timed out."}],
                    "stop_reason": "stop_sequence",
                    "stop_sequence": "",
                    "usage": {
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                }
                main.append(self.env("assistant", message=err, isApiErrorMessage=True))
                self.truth.counts["synthetic_lines"] += 1
            if rng.random() < 0.12 * self.rare:
                self.task()
            self.rounds(None, main, self.model, min(12, int(rng.expovariate(1 / 2.5))))
            if fam == "2.1" and self.last_response and rng.random() < 0.02 * self.rare:
                self.btw()
            if fam == "2.1":
                main.append(
                    self.env("system", subtype="turn_duration", durationMs=rng.randint(2_000, 900_000))
                )
            if fam != "1.0" and turn == n_turns // 2 and n_turns >= 8 // self.rare and rng.random() < 0.5:
                self.compact()
            self.clock += rng.randint(10_000, 1_800_000)
        if rng.random() < 0.1:
            main.append({"type": "custom-title", "customTitle": g.text(40), "sessionId": self.sid})

    def btw(self) -> None:
        """/btw side question: replays the last response's message.id with a new requestId as a
        sidechain line; the non-sidechain copy is the one that counts (rule 5)."""
        mid, final = self.last_response  # type: ignore[misc]
        msg = {
            "model": self.model,
            "id": mid,
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": self.g.text(300)}],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": dict(final),
        }
        chain = {"base": dict(self.base, isSidechain=True), "parent": self.parent}
        self.main.append(self.env("assistant", chain, message=msg, requestId=self.g.b58("req_011C")))
        self.truth.counts["btw_lines"] += 1

    def replay_from(self, old: Session) -> None:
        """A resumed session: the old conversation's lines copied in with their uuids and this
        session's id and their original timestamps, after a ``summary`` pointing at the old leaf
        (§1.8 rule 3: they stay counted for the old session, the one that ends first)."""
        self.main.append({"type": "summary", "summary": self.g.text(60), "leafUuid": old.parent})
        for line in old.main:
            if "uuid" in line and line["type"] in ("user", "assistant"):
                copy = dict(line, sessionId=self.sid)
                self.main.append(copy)
                self.parent = copy["uuid"]
                self.truth.counts["replayed_lines"] += 1
