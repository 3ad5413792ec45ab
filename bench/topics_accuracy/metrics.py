"""Accuracy of topic classifiers on the labelled session summaries (tests/topics/labelled_sessions.yaml).

- top1: the primary prediction is one of the gold topics; strict_top1: it is the first gold topic;
- top3: a gold topic is among the first three predictions;
- macro_f1: per-topic F1 of the primary prediction, averaged over the gold primary topics (an item
  whose prediction is an acceptable gold topic counts as that topic, otherwise as its first one);
- set_f1: mean F1 between the whole predicted topic list and the gold list (penalises
  over-tagging: the original keeps up to 8 topics per text);
- traps: top1 on the items marked ``trap`` (substring pitfalls of the original scoring);
- confidence: mean top-1 confidence, and expected calibration error over 5 bins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

LABELLED = Path(__file__).resolve().parents[2] / "tests" / "topics" / "labelled_sessions.yaml"


def load_labelled(path: Path = LABELLED) -> list[dict[str, Any]]:
    items = yaml.safe_load(path.read_text())["sessions"]
    for n, item in enumerate(items):
        item["split"] = "dev" if n % 2 == 0 else "holdout"
    return items


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def score(items: Sequence[dict[str, Any]], predictions: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """``predictions[i]`` is the classifier's list of TopicScore for ``items[i]``."""
    n = len(items)
    if n == 0:
        return {"n": 0}
    primary = [p[0].topic_id if p else None for p in predictions]
    golds = [list(it["gold"]) for it in items]
    top1 = sum(p in g for p, g in zip(primary, golds, strict=True)) / n
    strict = sum(p == g[0] for p, g in zip(primary, golds, strict=True)) / n
    top3 = sum(any(s.topic_id in g for s in p[:3]) for p, g in zip(predictions, golds, strict=True)) / n
    effective = [p if p in g else g[0] for p, g in zip(primary, golds, strict=True)]
    tp, fp, fn = Counter(), Counter(), Counter()
    for pred, truth in zip(primary, effective, strict=True):
        if pred == truth:
            tp[truth] += 1
        else:
            fn[truth] += 1
            if pred is not None:
                fp[pred] += 1
    classes = sorted({g[0] for g in golds})
    macro_f1 = sum(_f1(tp[c], fp[c], fn[c]) for c in classes) / len(classes)
    set_f1 = 0.0
    for p, g in zip(predictions, golds, strict=True):
        predicted = {s.topic_id for s in p}
        hit = len(predicted & set(g))
        set_f1 += _f1(hit, len(predicted) - hit, len(set(g)) - hit)
    traps = [i for i, it in enumerate(items) if it.get("trap")]
    confidences = [p[0].confidence if p else 0.0 for p in predictions]
    correct = [p in g for p, g in zip(primary, golds, strict=True)]
    return {
        "n": n,
        "top1": round(top1, 4),
        "strict_top1": round(strict, 4),
        "top3": round(top3, 4),
        "macro_f1": round(macro_f1, 4),
        "set_f1": round(set_f1 / n, 4),
        "avg_topics_per_item": round(sum(len(p) for p in predictions) / n, 3),
        "traps_n": len(traps),
        "traps_top1": round(sum(correct[i] for i in traps) / len(traps), 4) if traps else None,
        "mean_top1_confidence": round(sum(confidences) / n, 4),
        "ece_5_bins": round(_ece(confidences, correct), 4),
    }


def _ece(confidences: list[float], correct: list[bool], bins: int = 5) -> float:
    total, n = 0.0, len(confidences)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidences) if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if idx:
            acc = sum(correct[i] for i in idx) / len(idx)
            conf = sum(confidences[i] for i in idx) / len(idx)
            total += len(idx) / n * abs(acc - conf)
    return total


def by_split(items: Sequence[dict[str, Any]], predictions: Sequence[Sequence[Any]]) -> dict[str, Any]:
    out = {"all": score(items, predictions)}
    for split in ("dev", "holdout"):
        idx = [i for i, it in enumerate(items) if it["split"] == split]
        out[split] = score([items[i] for i in idx], [predictions[i] for i in idx])
    return out
