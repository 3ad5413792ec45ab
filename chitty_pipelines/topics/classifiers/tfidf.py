"""The default classifier: TF-IDF similarity to each topic's description and keywords, plus
word-boundary keyword evidence, turned into calibrated confidences. Offline, no model download,
deterministic (no randomness anywhere).

Each top-level topic becomes one document: its name, description and keywords, and those of its
subcategories. A session's score for a topic is the cosine similarity of the session text to that
document (stemmed unigrams and bigrams, IDF over the topic documents so words shared by many
topics count little) plus ``keyword_weight`` times its keyword evidence (each distinct keyword
found as whole words, weighted 1/number of topics that list it). Confidences are a softmax over
the scores with a "none of these" option (see base.softmax_confidences), so a session with weak
evidence everywhere gets low confidence everywhere instead of a confident guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from chitty_pipelines.topics.classifiers.base import (
    Limits,
    TopicScore,
    keyword_evidence,
    select,
    softmax_confidences,
)
from chitty_pipelines.topics.classifiers.text import KeywordMatcher, analyzer, stem, words
from chitty_pipelines.topics.taxonomy import Taxonomy


@dataclass(frozen=True)
class TfidfParams:
    keyword_weight: float = 0.25
    temperature: float = 0.08
    none_score: float = 0.12  # a topic must beat this to be more likely than "no topic"
    evidence_terms_from_text: int = 3


class TfidfClassifier:
    name = "tfidf"

    def __init__(self, taxonomy: Taxonomy, limits: Limits | None = None, params: TfidfParams | None = None):
        self.taxonomy = taxonomy
        self.limits = limits or Limits()
        self.params = params or TfidfParams()
        self.categories = [t.id for t in taxonomy.categories]
        docs = [self._document(c) for c in self.categories]
        self.vectorizer = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, norm="l2")
        self.topic_matrix = self.vectorizer.fit_transform(docs)
        self.features = self.vectorizer.get_feature_names_out()
        self.matcher = KeywordMatcher(k for t in taxonomy.topics for k in t.keywords)
        # A keyword listed by several top-level topics says less about each of them.
        owners: dict[str, set[str]] = {}
        for t in taxonomy.topics:
            for k in t.keywords:
                owners.setdefault(k, set()).add(taxonomy.category_of(t.id))
        self.keyword_weight = {k: 1.0 / len(cats) for k, cats in owners.items()}

    def _document(self, category: str) -> str:
        parts = []
        for topic in [self.taxonomy[category], *self.taxonomy.children(category)]:
            # Keywords twice: they are the curated part of the topic, the description is prose.
            keywords = " . ".join(topic.keywords)
            parts += [topic.name, topic.description, keywords, keywords]
        return " . ".join(parts)

    def scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list]:
        """(raw scores n x K, cosine part n x K, keyword evidence per text)."""
        x = self.vectorizer.transform(texts)
        cosine = (x @ self.topic_matrix.T).toarray()
        evidence = [keyword_evidence(self.taxonomy, self.matcher, t) for t in texts]
        kw = np.zeros_like(cosine)
        index = {c: j for j, c in enumerate(self.categories)}
        for i, ev in enumerate(evidence):
            for category, found in ev.keywords.items():
                kw[i, index[category]] = sum(self.keyword_weight[k] for k in found)
        return cosine + self.params.keyword_weight * kw, x, evidence

    def classify(self, texts: Sequence[str]) -> list[list[TopicScore]]:
        if not texts:
            return []
        raw, x, evidence = self.scores(texts)
        results: list[list[TopicScore]] = []
        for i, text in enumerate(texts):
            row = {c: float(raw[i, j]) for j, c in enumerate(self.categories) if raw[i, j] > 0}
            if not row:
                results.append([])
                continue
            conf = softmax_confidences(row, self.params.temperature, self.params.none_score)
            order = {c: j for j, c in enumerate(self.categories)}  # ties: taxonomy order
            ranked = sorted(conf.items(), key=lambda kv: (-kv[1], order[kv[0]]))
            terms = self._text_terms(x[i], text, [c for c, _ in ranked[: self.limits.max_topics]])
            results.append(select(ranked, self.limits, evidence[i], terms))
        return results

    def _text_terms(self, x_row, text: str, categories: list[str]) -> dict[str, list[str]]:
        """The words of the text that weigh most in its similarity to each chosen topic."""
        surface: dict[str, str] = {}
        for w in words(text):
            surface.setdefault(stem(w), w)
        out: dict[str, list[str]] = {}
        cols = x_row.indices
        for category in categories:
            j = self.categories.index(category)
            topic_row = self.topic_matrix[j]
            contrib = x_row.multiply(topic_row).toarray().ravel()[cols]
            terms: list[str] = []
            for col in cols[np.argsort(-contrib, kind="stable")]:
                if len(terms) >= self.params.evidence_terms_from_text or contrib[list(cols).index(col)] <= 0:
                    break
                feature = str(self.features[col])
                term = " ".join(surface.get(p, p) for p in feature.split(" "))
                if term not in terms:
                    terms.append(term)
            out[category] = terms
        return out
