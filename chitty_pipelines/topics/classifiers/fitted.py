"""What a fitted scikit-learn model computes at prediction time, in numpy and scipy.sparse alone.

scikit-learn fits the default classifier; classifying needs only a vocabulary, idf weights and
a coefficient matrix. Importing scikit-learn costs ~1.4 s (it pulls in scipy.stats and pandas),
more than classifying a few new sessions, so a fit loaded from the disk cache (fit_cache.py)
holds these forms instead and a sync that classifies imports no scikit-learn at all. Each
reproduces the transform it replaces (tests/topics/test_fitted_forms.py compares them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

_EMPTY = np.zeros(0, dtype=np.int64)


def sublinear_tfidf_l2(rows: np.ndarray, columns: np.ndarray, n_rows: int, idf: np.ndarray) -> csr_matrix:
    """Term counts from (row, column) pairs -> (1 + log tf) * idf, each row scaled to unit
    length: ``TfidfVectorizer(sublinear_tf=True)``'s transform after counting."""
    counts = csr_matrix(
        (np.ones(len(columns)), (rows, columns)), shape=(n_rows, len(idf)), dtype=np.float64
    )  # duplicates summed: term counts
    counts.sum_duplicates()
    counts.data = (np.log(counts.data) + 1.0) * idf[counts.indices]
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    counts.data /= np.repeat(norms, np.diff(counts.indptr))
    return counts


class WordTfidf:
    """``transform`` of a fitted ``TfidfVectorizer(analyzer=<callable>, sublinear_tf=True)``
    (idf, L2 norm: the defaults otherwise)."""

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, analyzer: Callable[[str], list[str]]):
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float64)
        self.analyzer = analyzer

    @classmethod
    def from_fitted(cls, fitted: Any) -> WordTfidf:
        if not (callable(fitted.analyzer) and fitted.sublinear_tf and fitted.norm == "l2" and fitted.use_idf):
            raise ValueError("WordTfidf reproduces a callable analyzer with sublinear tf, idf and L2 only")
        return cls(dict(fitted.vocabulary_), fitted.idf_, fitted.analyzer)

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        vocabulary = self.vocabulary
        found = [[vocabulary[t] for t in self.analyzer(text) if t in vocabulary] for text in texts]
        lengths = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(found))
        columns = np.fromiter((j for f in found for j in f), dtype=np.int64, count=int(lengths.sum()))
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        return sublinear_tfidf_l2(rows, columns if len(columns) else _EMPTY, len(texts), self.idf)


class Softmax:
    """``predict_proba`` of a fitted ``LogisticRegression``: a softmax over the classes' scores
    (three or more classes), the logistic of the one score with two."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray):
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.classes_ = np.asarray(classes)

    @classmethod
    def from_fitted(cls, fitted: Any) -> Softmax:
        if getattr(fitted, "multi_class", "auto") not in ("auto", "multinomial", "deprecated"):
            raise ValueError("Softmax reproduces the multinomial LogisticRegression only, not one-vs-rest")
        return cls(fitted.coef_, fitted.intercept_, fitted.classes_)

    def decision_function(self, x: Any) -> np.ndarray:
        scores = np.asarray(x @ self.coef_.T) + self.intercept_
        return scores.reshape(-1) if scores.shape[1] == 1 else scores

    def predict_proba(self, x: Any) -> np.ndarray:
        scores = self.decision_function(x)
        if scores.ndim == 1:  # two classes: one score, scikit-learn's logistic of it
            from scipy.special import expit

            p = expit(scores)
            return np.stack([1 - p, p], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores
