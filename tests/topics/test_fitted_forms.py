"""topics/classifiers/fitted.py must compute what the scikit-learn models it replaces compute, and
a fit loaded from the disk cache must classify without importing scikit-learn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import random as sparse_random
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from chitty_pipelines.topics.classifiers.fitted import Softmax, WordTfidf
from chitty_pipelines.topics.classifiers.prototype import _analyzer

DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "topics-dev.jsonl"
ODD = ["", "   ", "a", "Ünïcödé Straße café", "SELECT * FROM users; DROP TABLE", "x" * 300, "same same word"]


def _dev_texts() -> list[str]:
    if not DEV.is_file():
        pytest.skip(f"dev set not found at {DEV}")
    return [json.loads(line)["text"] for line in DEV.read_text().splitlines() if line.strip()]


def test_word_rows_equal_sklearns_transform() -> None:
    texts = _dev_texts()
    fitted = TfidfVectorizer(analyzer=_analyzer, sublinear_tf=True).fit(texts[:90])
    ours = WordTfidf.from_fitted(fitted)
    assert ours.transform([]).shape == (0, len(fitted.idf_))  # scikit-learn refuses an empty batch
    for batch in (texts[90:], ODD):
        mine, theirs = ours.transform(batch), fitted.transform(batch)
        assert mine.shape == theirs.shape
        assert abs(mine - theirs).max() < 1e-12 if theirs.nnz else mine.nnz == 0
        assert np.array_equal(mine.getnnz(axis=1), theirs.getnnz(axis=1))


@pytest.mark.parametrize("classes", [5, 2])
def test_probabilities_equal_sklearns_predict_proba(classes: int) -> None:
    rng = np.random.default_rng(3)
    x = sparse_random(200, 60, density=0.2, format="csr", random_state=4)
    y = rng.integers(0, classes, 200)
    fitted = LogisticRegression(C=2.0, max_iter=2000).fit(x, y)
    ours = Softmax.from_fitted(fitted)
    test = sparse_random(50, 60, density=0.2, format="csr", random_state=5)
    assert np.abs(ours.predict_proba(test) - fitted.predict_proba(test)).max() < 1e-12
    assert np.array_equal(ours.classes_, fitted.classes_)


def test_only_the_reproduced_settings_are_accepted() -> None:
    with pytest.raises(ValueError, match="callable analyzer"):
        WordTfidf.from_fitted(TfidfVectorizer(sublinear_tf=True).fit(["alpha beta", "beta gamma"]))


_CLASSIFY = """
import json, sys
from chitty_pipelines.unified.topic_classifier import TopicClassifierResource
res = TopicClassifierResource.from_settings()
clf = res.build(res.taxonomy())
rows = clf.classify(json.loads(sys.argv[1]))
print(json.dumps({
    "topics": [[[t.topic_id, t.confidence, list(t.evidence_terms)] for t in r] for r in rows],
    "sklearn": "sklearn" in sys.modules,
    "pandas": "pandas" in sys.modules,
}))
"""


def test_a_later_command_classifies_from_the_cache_without_scikit_learn(tmp_path: Path) -> None:
    texts = [*_dev_texts()[:40], *ODD]
    env = {**os.environ, "CHITTY_HOME": str(tmp_path)}

    def run() -> dict:
        out = subprocess.run(
            [sys.executable, "-c", _CLASSIFY, json.dumps(texts)], env=env, capture_output=True, timeout=300
        )
        assert out.returncode == 0, out.stderr.decode()[-2000:]
        return json.loads(out.stdout)

    fitted, loaded = run(), run()
    assert fitted["sklearn"] is True  # the first command fits
    assert loaded["sklearn"] is False and loaded["pandas"] is False
    assert loaded["topics"] == fitted["topics"]
    assert len(list((tmp_path / "cache" / "topics").glob("prototype-*.pkl"))) == 1
