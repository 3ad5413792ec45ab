"""The original hub's keyword scoring (successor hub, src/topics/topic-detector.ts), kept as the
baseline the default classifier is measured against. Implemented as the contracts reference
§8.2 describes it, weaknesses included; do not use it to classify.

- +2 per keyword found as a substring of the lowercased text (once per keyword);
- +1.5 per word-boundary occurrence of the keyword;
- +1 per heuristic group that matches (e.g. add|implement|create|build -> feature). The
  reference does not say whether these are word-bounded; we give the baseline the benefit of the
  doubt and match them as whole words.
- keep the top 8; the primary topic is the top one, or ``feature`` when nothing scores.

Sessions have no todo status and no file path, so the +1 for completed fixes and the +3 path
rules never apply. Subcategories (e.g. ``oauth``) are reported under their parent so the result
can be compared with the top-level gold labels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from chitty_pipelines.topics.classifiers.base import TopicScore
from chitty_pipelines.topics.taxonomy import Taxonomy

_HEURISTICS: tuple[tuple[str, str], ...] = (
    (r"add|implement|create|build", "feature"),
    (r"fix|resolve|repair|correct", "bugfix"),
    (r"refactor|cleanup|improve|optimize", "refactor"),
    (r"test|spec|coverage", "testing"),
    (r"deploy|release|ship", "deployment"),
    (r"document|readme|guide", "docs"),
    (r"react|jsx|component|hook", "react"),
    (r"worker|edge|cloudflare", "worker"),
    (r"database|sql|d1|postgres", "database"),
    (r"api|endpoint|rest|graphql", "api"),
)


class OriginalKeywordScorer:
    name = "original"

    def __init__(self, taxonomy: Taxonomy, keep: int = 8):
        self.taxonomy = taxonomy
        self.keep = keep
        self._boundary = {k: re.compile(rf"\b{re.escape(k)}\b") for t in taxonomy.topics for k in t.keywords}
        self._heuristics = [(re.compile(rf"\b(?:{p})\b"), topic) for p, topic in _HEURISTICS]

    def topic_scores(self, text: str) -> dict[str, float]:
        """Scores of the detector's own topics (subcategories separate), in taxonomy order."""
        text = text.lower()
        scores: dict[str, float] = {}
        for topic in self.taxonomy.topics:
            score = 0.0
            for keyword in topic.keywords:
                if keyword in text:
                    score += 2
                score += 1.5 * len(self._boundary[keyword].findall(text))
            if score:
                scores[topic.id] = score
        for pattern, topic_id in self._heuristics:
            if topic_id in self.taxonomy and pattern.search(text):
                scores[topic_id] = scores.get(topic_id, 0.0) + 1
        return scores

    def _found(self, text: str, category: str) -> tuple[str, ...]:
        """The keywords of the category (and its subcategories) the scorer found, as evidence."""
        lowered = text.lower()
        topics = [self.taxonomy[category], *self.taxonomy.children(category)]
        found = [k for t in topics for k in t.keywords if k in lowered]
        return tuple(dict.fromkeys(found))[:8]

    def classify(self, texts: Sequence[str]) -> list[list[TopicScore]]:
        results = []
        for text in texts:
            scores = self.topic_scores(text)
            order = {t: n for n, t in enumerate(self.taxonomy.ids)}
            ranked = sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))[: self.keep]
            if not ranked:
                ranked = [("feature", 0.0)] if "feature" in self.taxonomy else []
            total = sum(s for _, s in ranked) or 1.0
            # The detector's own order, each subcategory replaced by its parent (first one wins).
            merged: dict[str, float] = {}
            for topic_id, score in ranked:
                merged.setdefault(self.taxonomy.category_of(topic_id), score)
            results.append(
                [
                    TopicScore(c, round(s / total, 4), evidence_terms=self._found(text, c))
                    for c, s in merged.items()
                ]
            )
        return results
