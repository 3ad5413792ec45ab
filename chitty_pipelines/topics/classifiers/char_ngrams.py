"""scikit-learn's ``char_wb`` TF-IDF transform, computed word by word with a cache.

``TfidfVectorizer(analyzer="char_wb")`` cuts every word of every text into character n-grams and
looks each one up in its vocabulary, in Python: 60 % of the prototype classifier's time (about
1.4 s of 2.4 s for 4,249 sessions). A word's n-grams depend on the word alone, and session texts
repeat their words, so each distinct word is cut once here and its vocabulary indices kept; the
counts, sublinear tf, idf weights and L2 norm are then numpy. The result equals the vectorizer's
own ``transform`` (tests/topics/test_char_ngrams.py); fitting stays with scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix

from chitty_pipelines.topics.classifiers.fitted import sublinear_tfidf_l2

if TYPE_CHECKING:  # a loaded fit classifies without importing scikit-learn (fitted.py)
    from sklearn.feature_extraction.text import TfidfVectorizer

_EMPTY = np.zeros(0, dtype=np.int64)
CACHE_WORDS = 200_000  # bounds memory (~100 bytes a word) on a corpus of unbounded vocabulary


class CachedCharNgrams:
    """``transform`` of a fitted ``TfidfVectorizer(analyzer="char_wb", sublinear_tf=True)``
    (lowercase, no accent stripping, L2 norm, the defaults otherwise)."""

    def __init__(self, fitted: TfidfVectorizer):
        if not (
            fitted.analyzer == "char_wb"
            and fitted.sublinear_tf
            and fitted.lowercase
            and not fitted.strip_accents
            and fitted.preprocessor is None
            and fitted.norm == "l2"
            and fitted.use_idf
        ):
            raise ValueError("CachedCharNgrams reproduces char_wb with sublinear tf, idf and L2 only")
        self.vocabulary: dict[str, int] = fitted.vocabulary_
        self.idf = np.asarray(fitted.idf_, dtype=np.float64)
        self.min_n, self.max_n = fitted.ngram_range
        self._words: dict[str, np.ndarray] = {}

    def _word(self, word: str) -> np.ndarray:
        """Vocabulary indices of one word's n-grams, as sklearn's ``_char_wb_ngrams`` cuts them."""
        w = f" {word} "
        found = []
        for n in range(self.min_n, self.max_n + 1):
            if len(w) < n:  # a short word counts once, whole
                index = self.vocabulary.get(w)
                if index is not None:
                    found.append(index)
                break
            for start in range(len(w) - n + 1):
                index = self.vocabulary.get(w[start : start + n])
                if index is not None:
                    found.append(index)
            if len(w) == n:  # sklearn stops after the n that covers the whole word
                break
        return np.array(found, dtype=np.int64) if found else _EMPTY

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        cache = self._words
        if len(cache) > CACHE_WORDS:
            cache.clear()
        pieces: list[np.ndarray] = []
        lengths = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            total = 0
            for word in text.lower().split():
                indices = cache.get(word)
                if indices is None:
                    indices = cache[word] = self._word(word)
                if len(indices):
                    pieces.append(indices)
                    total += len(indices)
            lengths[row] = total
        columns = np.concatenate(pieces) if pieces else _EMPTY
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        return sublinear_tfidf_l2(rows, columns, len(texts), self.idf)
