"""LLM classifier for any OpenAI-compatible endpoint (OpenAI, Azure-style proxies, vLLM, Ollama,
LM Studio...): chat completions in JSON mode, a batch of sessions per request.

The prompt carries the taxonomy (ids, names, descriptions) and the sessions as JSON, and asks for
``{"results": [{"index", "topics": [{"id", "confidence", "subcategories", "evidence"}]}]}``. The
reply is validated: unknown topic ids are dropped, confidences clamped to [0, 1], subcategories
kept only when they belong to the topic. Rate limits (429 + Retry-After), 5xx, timeouts and
malformed replies are retried through ``resources.retry.call_with_retry``; 401/403 fail at once
naming CHITTY_TOPIC_LLM_API_KEY. The key never appears in logs or errors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from chitty_pipelines.kernel.retry import call_with_retry, parse_retry_after
from chitty_pipelines.topics.classifiers.base import (
    CategoryEvidence,
    ClassifierError,
    Limits,
    TopicScore,
    keyword_evidence,
    select,
)
from chitty_pipelines.topics.classifiers.text import KeywordMatcher
from chitty_pipelines.topics.taxonomy import Taxonomy

SYSTEM_PROMPT = (
    "You categorise AI assistant sessions (coding, research, operations) into a fixed taxonomy. "
    "Reply with one JSON object only, no prose: "
    '{"results": [{"index": <session index>, "topics": [{"id": <topic id from the taxonomy>, '
    '"confidence": <0..1>, "subcategories": [<subcategory ids of that topic>], '
    '"evidence": [<up to 5 words or phrases from the session>]}]}]}. '
    "Use only top-level topic ids for 'id' and only that topic's subcategory ids for "
    "'subcategories'. Give at most {max_topics} topics per session, best first; an empty list "
    "when none fits. Taxonomy:\n{taxonomy}"
)
_MAX_SESSION_CHARS = 2000


class LlmAuthError(PermissionError):
    pass


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LlmSettings:
    base_url: str
    model: str
    api_key: str | None = None
    batch_size: int = 10
    timeout_s: float = 60.0
    attempts: int = 4
    max_wait_s: float = 30.0


class LlmClassifier:
    name = "llm"

    def __init__(self, taxonomy: Taxonomy, settings: LlmSettings, limits: Limits | None = None):
        self.taxonomy = taxonomy
        self.settings = settings
        self.limits = limits or Limits()
        self.matcher = KeywordMatcher(k for t in taxonomy.topics for k in t.keywords)
        self.requests_made = 0
        catalogue = [
            {
                "id": c.id,
                "name": c.name,
                "description": c.description,
                "subcategories": [{"id": s.id, "name": s.name} for s in taxonomy.children(c.id)],
            }
            for c in taxonomy.categories
        ]
        self.system_prompt = SYSTEM_PROMPT.replace("{max_topics}", str(self.limits.max_topics)).replace(
            "{taxonomy}", json.dumps(catalogue, ensure_ascii=False)
        )

    @property
    def batch_size(self) -> int:
        """Sessions per request; the asset hands over this many at a time, so a failed request
        leaves only its own sessions unclassified."""
        return max(1, self.settings.batch_size)

    @property
    def label(self) -> str:
        return f"llm:{self.settings.model}"

    @property
    def url(self) -> str:
        return self.settings.base_url.rstrip("/") + "/chat/completions"

    def classify(self, texts: Sequence[str]) -> list[list[TopicScore]]:
        out: list[list[TopicScore]] = []
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        with httpx.Client(timeout=self.settings.timeout_s, headers=headers) as client:
            size = max(1, self.settings.batch_size)
            for start in range(0, len(texts), size):
                out.extend(self._batch(client, list(texts[start : start + size])))
        return out

    def _batch(self, client: httpx.Client, texts: list[str]) -> list[list[TopicScore]]:
        sessions = [{"index": i, "text": t[:_MAX_SESSION_CHARS]} for i, t in enumerate(texts)]
        body = {
            "model": self.settings.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": json.dumps({"sessions": sessions}, ensure_ascii=False)},
            ],
        }

        def attempt() -> dict:
            self.requests_made += 1
            try:
                resp = client.post(self.url, json=body)
            except httpx.TransportError as exc:
                raise _Transient(f"{type(exc).__name__} calling {self.url}") from None
            if resp.status_code in (401, 403):
                raise LlmAuthError(
                    f"{self.url} refused the credentials (HTTP {resp.status_code}): "
                    "check CHITTY_TOPIC_LLM_API_KEY (and CHITTY_TOPIC_LLM_BASE_URL)"
                )
            if resp.status_code == 429 or resp.status_code >= 500:
                hinted = parse_retry_after(resp.headers.get("retry-after"))
                raise _Transient(f"HTTP {resp.status_code} from {self.url}", hinted)
            if resp.status_code >= 400:
                raise ClassifierError(f"HTTP {resp.status_code} from {self.url}: {self._error_text(resp)}")
            return self._parse(resp)

        try:
            reply = call_with_retry(
                attempt,
                retryable=lambda e: isinstance(e, _Transient),
                retry_after=lambda e: getattr(e, "retry_after", None),
                attempts=self.settings.attempts,
                max_wait=self.settings.max_wait_s,
                describe=f"topic classification ({self.settings.model})",
            )
        except _Transient as exc:
            raise ClassifierError(f"{exc} (gave up after {self.settings.attempts} attempts)") from None
        by_index = {r.get("index"): r for r in reply.get("results", []) if isinstance(r, dict)}
        return [self._scores(text, by_index.get(i)) for i, text in enumerate(texts)]

    def _parse(self, resp: httpx.Response) -> dict:
        """The JSON object in the first choice; a malformed one is worth another try."""
        try:
            content = resp.json()["choices"][0]["message"]["content"]
            reply = json.loads(content)
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Transient("malformed chat completion reply") from None
        if not isinstance(reply, dict) or not isinstance(reply.get("results"), list):
            raise _Transient("reply has no 'results' list")
        return reply

    def _scores(self, text: str, result: dict | None) -> list[TopicScore]:
        evidence = keyword_evidence(self.taxonomy, self.matcher, text)
        ranked: list[tuple[str, float]] = []
        model_evidence = CategoryEvidence()
        terms: dict[str, list[str]] = {}
        for item in (result or {}).get("topics") or []:
            if not isinstance(item, dict):
                continue
            topic_id = str(item.get("id", ""))
            if topic_id not in self.taxonomy or topic_id in dict(ranked):
                continue
            answered, topic_id = topic_id, self.taxonomy.category_of(topic_id)  # a subcategory: its parent
            if topic_id in dict(ranked):
                continue
            try:
                confidence = float(item.get("confidence", 0.5))
            except (TypeError, ValueError):
                confidence = 0.5
            ranked.append((topic_id, min(max(confidence, 0.0), 1.0)))
            subs = [
                str(s)
                for s in item.get("subcategories") or []
                if str(s) in self.taxonomy and self.taxonomy[str(s)].parent == topic_id
            ]
            if answered != topic_id and answered not in subs:
                subs.insert(0, answered)
            model_evidence.subcategories[topic_id] = subs or evidence.subcategories.get(topic_id, [])
            model_evidence.keywords[topic_id] = evidence.keywords.get(topic_id, [])
            terms[topic_id] = [str(t)[:60] for t in item.get("evidence") or [] if isinstance(t, str)]
        ranked.sort(key=lambda kv: -kv[1])
        return select(ranked, self.limits, model_evidence, terms)

    def _error_text(self, resp: httpx.Response) -> str:
        # OpenAI says {"error": {"message": ...}}; proxies and other servers answer
        # {"error": "text"}, a list, or plain text: any of them must become a message, not a crash
        try:
            body = resp.json()
        except ValueError:
            body = resp.text
        error = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(error, dict):
            error = error.get("message", error)
        message = error if isinstance(error, str) else json.dumps(error)[:200]
        if self.settings.api_key:
            message = message.replace(self.settings.api_key, "***")
        return message[:200]
