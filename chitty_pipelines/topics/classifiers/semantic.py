"""Sentence-embedding classifier: cosine similarity between a session and each topic's name +
description + keywords, embedded with all-MiniLM-L6-v2 (sentence_embed.py: numpy, no torch),
plus the same word-boundary keyword evidence as the default classifier. Zero-shot: it needs no
prototypes (a custom taxonomy works as written) and learns nothing from manual labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chitty_pipelines.topics.classifiers.base import (
    Limits,
    TopicScore,
    keyword_evidence,
    select,
    softmax_confidences,
)
from chitty_pipelines.topics.classifiers.sentence_embed import minilm_encoder
from chitty_pipelines.topics.classifiers.text import KeywordMatcher
from chitty_pipelines.topics.taxonomy import Taxonomy


@dataclass(frozen=True)
class SemanticParams:
    keyword_weight: float = 0.1
    temperature: float = 0.04
    none_score: float = 0.25  # MiniLM cosines of unrelated short texts sit around 0.0-0.2


class SemanticClassifier:
    name = "semantic"

    def __init__(
        self,
        taxonomy: Taxonomy,
        limits: Limits | None = None,
        params: SemanticParams | None = None,
        model: Any = None,
    ):
        self.taxonomy = taxonomy
        self.limits = limits or Limits()
        self.params = params or SemanticParams()
        self.categories = [t.id for t in taxonomy.categories]
        self.matcher = KeywordMatcher(k for t in taxonomy.topics for k in t.keywords)
        self._model = model
        self._topic_vectors: np.ndarray | None = None

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            self._model = minilm_encoder()
        return self._model.encode(list(texts))

    def _topics(self) -> np.ndarray:
        if self._topic_vectors is None:
            docs = []
            for c in self.categories:
                parts = []
                for t in [self.taxonomy[c], *self.taxonomy.children(c)]:
                    parts.append(f"{t.name}: {t.description} ({', '.join(t.keywords)})")
                docs.append(" ".join(parts))
            self._topic_vectors = self._encode(docs)
        return self._topic_vectors

    def classify(self, texts: Sequence[str]) -> list[list[TopicScore]]:
        if not texts:
            return []
        cosine = self._encode(texts) @ self._topics().T
        results = []
        for i, text in enumerate(texts):
            evidence = keyword_evidence(self.taxonomy, self.matcher, text)
            row = {}
            for j, c in enumerate(self.categories):
                row[c] = float(cosine[i, j]) + self.params.keyword_weight * len(evidence.keywords.get(c, []))
            conf = softmax_confidences(row, self.params.temperature, self.params.none_score)
            order = {c: j for j, c in enumerate(self.categories)}
            ranked = sorted(conf.items(), key=lambda kv: (-kv[1], order[kv[0]]))
            results.append(select(ranked, self.limits, evidence))
        return results
