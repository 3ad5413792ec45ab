"""The classifier interface every topic classifier implements, and what they share.

``classify(texts)`` returns, for each text, its topics best first: top-level topic ids of the
taxonomy with a confidence in [0, 1], the subcategories that apply and the terms that gave the
topic away. An empty list means no topic could be told.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from chitty_pipelines.topics.classifiers.text import KeywordMatcher
from chitty_pipelines.topics.taxonomy import Taxonomy


class ClassifierError(RuntimeError):
    """A batch could not be classified (after retries); its sessions stay unclassified and are
    tried again on the next run. Anything else a classifier raises fails the run."""


@dataclass(frozen=True)
class TopicScore:
    topic_id: str
    confidence: float
    subcategories: tuple[str, ...] = ()
    evidence_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    max_topics: int = 3
    min_confidence: float = 0.2  # the best topic is kept whatever its confidence


@runtime_checkable
class TopicClassifier(Protocol):
    name: str  # recorded with every row it produces (session_topics.classifier)

    def classify(self, texts: Sequence[str]) -> list[list[TopicScore]]: ...


@dataclass
class CategoryEvidence:
    """Per text: the keyword hits of each category (its own and its subcategories')."""

    keywords: dict[str, list[str]] = field(default_factory=dict)  # category -> matched keywords
    subcategories: dict[str, list[str]] = field(default_factory=dict)  # category -> child ids hit


def keyword_evidence(taxonomy: Taxonomy, matcher: KeywordMatcher, text: str) -> CategoryEvidence:
    """Word-boundary keyword hits grouped by top-level topic. A subcategory counts as hit only
    through a keyword its parent does not also have ("component" is both ui's and react's)."""
    hits = matcher.matches(text)
    evidence = CategoryEvidence()
    for topic in taxonomy.topics:
        found = [k for k in topic.keywords if k in hits]
        if not found:
            continue
        category = taxonomy.category_of(topic.id)
        bucket = evidence.keywords.setdefault(category, [])
        bucket.extend(k for k in found if k not in bucket)
        if topic.parent is not None:
            own = set(found) - set(taxonomy[topic.parent].keywords)
            if own:
                evidence.subcategories.setdefault(category, []).append(topic.id)
    return evidence


def softmax_confidences(scores: dict[str, float], temperature: float, none_score: float) -> dict[str, float]:
    """Scores -> confidences that sum to at most 1, with a "none of these" option scoring
    ``none_score``: weak evidence everywhere gives low confidence everywhere."""
    top = max([none_score, *scores.values()])
    exps = {k: math.exp((v - top) / temperature) for k, v in scores.items()}
    denominator = sum(exps.values()) + math.exp((none_score - top) / temperature)
    return {k: v / denominator for k, v in exps.items()}


def select(
    ranked: list[tuple[str, float]],
    limits: Limits,
    evidence: CategoryEvidence,
    extra_terms: dict[str, list[str]] | None = None,
) -> list[TopicScore]:
    """Best first, at most ``max_topics``, dropping those under ``min_confidence`` except the best."""
    out: list[TopicScore] = []
    for n, (topic_id, confidence) in enumerate(ranked):
        if n >= limits.max_topics or (n > 0 and confidence < limits.min_confidence):
            break
        terms = list(evidence.keywords.get(topic_id, []))
        for term in (extra_terms or {}).get(topic_id, []):
            if term.lower() not in {t.lower() for t in terms}:
                terms.append(term)
        out.append(
            TopicScore(
                topic_id=topic_id,
                confidence=round(min(max(confidence, 0.0), 1.0), 4),
                subcategories=tuple(evidence.subcategories.get(topic_id, [])),
                evidence_terms=tuple(terms[:8]),
            )
        )
    return out
