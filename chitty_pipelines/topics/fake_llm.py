"""A fake OpenAI-compatible chat completions endpoint (``POST /v1/chat/completions``) that
categorises sessions deterministically, for the LLM topic classifier's tests and demos.

It speaks the wire protocol a client sees: Bearer auth with OpenAI's error envelope, JSON mode
(which, like OpenAI, refuses a request whose messages never mention "json"), the
``chat.completion`` reply shape with usage. The "model" reads the taxonomy and the sessions from
the prompt and picks, for each session, the topics whose id or name occurs in it as a word
(confidence 0.9, then 0.6, 0.3), unless the test scripted an answer. Knobs for the failure paths:
``malformed_replies`` (content that is not JSON), ``unknown_topic`` (an id outside the taxonomy),
``fail_next`` (scripted 429/5xx answers), plus the base class's random fault injection.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from chitty_pipelines.kernel.fake_server import FakeService, Faults, Request, Response

_TAXONOMY_MARK = "Taxonomy:\n"


class FakeOpenAICompat(FakeService):
    def __init__(self, api_key: str | None = "sk-test", faults: Faults | None = None):
        super().__init__(faults)
        self.api_key = api_key
        self.scripted: dict[str, list[dict[str, Any]]] = {}  # substring of a session -> topics
        self.malformed_replies = 0
        # Deterministic failures: the next requests answer these (status, headers) in order.
        self.fail_next: list[tuple[int, dict[str, str]]] = []
        # Body of those failures when set (proxies and other servers answer {"error": "text"}).
        self.fail_body: Any = None
        self.unknown_topic: str | None = None
        self.bodies: list[dict[str, Any]] = []
        self.route("POST", "/v1/chat/completions", self._completions)

    def fault_response(self, status: int, headers: dict[str, str]) -> Response:
        kind = "rate_limit_exceeded" if status == 429 else "server_error"
        if self.fail_body is not None:
            return Response(status, self.fail_body, headers)
        return Response(
            status, {"error": {"message": f"injected {status}", "type": kind, "code": None}}, headers
        )

    def _error(self, status: int, message: str, kind: str, code: str | None = None) -> Response:
        return Response(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})

    def _completions(self, req: Request) -> Response:
        if self.fail_next:
            status, headers = self.fail_next.pop(0)
            return self.fault_response(status, headers)
        if self.api_key is not None and req.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        try:
            body = req.json()
        except ValueError:
            return self._error(
                400, "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        self.bodies.append(body)
        messages = body.get("messages")
        if not body.get("model") or not isinstance(messages, list) or not messages:
            return self._error(400, "'model' and 'messages' are required.", "invalid_request_error")
        text = " ".join(str(m.get("content", "")) for m in messages)
        if (body.get("response_format") or {}).get("type") == "json_object" and "json" not in text.lower():
            return self._error(
                400,
                "'messages' must contain the word 'json' in some form, to use 'response_format' "
                "of type 'json_object'.",
                "invalid_request_error",
            )
        if self.malformed_replies > 0:
            self.malformed_replies -= 1
            content = "Sure! Here are the topics: auth, api"
        else:
            content = json.dumps(self._answer(messages))
        return Response(200, self._envelope(body["model"], content, len(text)))

    def _answer(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "{}")
        taxonomy = json.loads(system.split(_TAXONOMY_MARK, 1)[1]) if _TAXONOMY_MARK in system else []
        results = []
        for session in json.loads(user).get("sessions", []):
            results.append({"index": session["index"], "topics": self._topics(session["text"], taxonomy)})
        return {"results": results}

    def _topics(self, text: str, taxonomy: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for needle, answer in self.scripted.items():
            if needle in text:
                return answer
        lowered = text.lower()
        chosen = []
        for topic in taxonomy:
            for term in (topic["id"], topic["name"]):
                hit = re.search(rf"\b{re.escape(term.lower())}\b", lowered)
                if hit:
                    subs = [
                        s["id"]
                        for s in topic.get("subcategories", [])
                        if re.search(rf"\b{s['id']}\b", lowered)
                    ]
                    chosen.append(
                        {
                            "id": topic["id"],
                            "subcategories": subs,
                            "evidence": [text[hit.start() : hit.end()]],
                        }
                    )
                    break
        out = [{**t, "confidence": c} for t, c in zip(chosen, (0.9, 0.6, 0.3), strict=False)]
        if self.unknown_topic:
            out.insert(0, {"id": self.unknown_topic, "confidence": 0.99, "subcategories": [], "evidence": []})
        return out

    @staticmethod
    def _envelope(model: str, content: str, prompt_chars: int) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake{int(time.time() * 1000)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_chars // 4,
                "completion_tokens": len(content) // 4,
                "total_tokens": (prompt_chars + len(content)) // 4,
            },
        }
