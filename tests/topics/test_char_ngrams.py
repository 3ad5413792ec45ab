"""CachedCharNgrams must give exactly the rows of scikit-learn's own char_wb TF-IDF transform."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from chitty_pipelines.topics.classifiers.char_ngrams import CachedCharNgrams

DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "topics-dev.jsonl"

ODD = [
    "",
    "   ",
    "a",  # shorter than every n once padded
    "ab abc abcd abcde",  # words around the n-gram lengths
    "Ünïcödé  Straße\tcafé\u00a0naïve \u2003em-space",
    "SELECT * FROM users WHERE id = '1; DROP TABLE'",
    "x" * 300,
    "same same same same word word",
]


def _fit(texts: list[str]) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit(texts)


def test_rows_equal_sklearns_transform() -> None:
    if not DEV.is_file():
        pytest.skip(f"dev set not found at {DEV}")
    texts = [json.loads(line)["text"] for line in DEV.read_text().splitlines() if line.strip()]
    fitted = _fit(texts[:90])  # a vocabulary that misses much of the rest, as in use
    cached = CachedCharNgrams(fitted)
    for batch in (texts[90:], texts[90:], ODD):  # twice: the second pass is served by the cache
        ours, theirs = cached.transform(batch), fitted.transform(batch)
        assert ours.shape == theirs.shape
        assert abs(ours - theirs).max() < 1e-12 if theirs.nnz else ours.nnz == 0
        assert np.array_equal(ours.getnnz(axis=1), theirs.getnnz(axis=1))


def test_only_the_reproduced_settings_are_accepted() -> None:
    with pytest.raises(ValueError, match="char_wb"):
        CachedCharNgrams(TfidfVectorizer(analyzer="char", ngram_range=(3, 5), sublinear_tf=True).fit(ODD))
    with pytest.raises(ValueError, match="char_wb"):
        CachedCharNgrams(TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5)).fit(ODD))
