"""Accuracy on shared/data/topics-dev.jsonl: 180 sessions (12 per seeded topic) written by hand
independently of every classifier. Top-1, per-topic recall and the confusion matrix; and, for the
default classifier, accuracy with 0, 1, 3 and 5 manual labels per topic drawn from the set and
scored on the rest (mean and spread over 10 seeded draws, paired with the same rest unlabelled).

The dev set labels the seeded hub's 15 topics; its ``bug`` is the default taxonomy's ``bugfix``.
With the default taxonomy (27 top-level topics) a prediction outside the 15 counts as wrong.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chitty_pipelines.topics.prototypes import Example
from chitty_pipelines.topics.taxonomy import Taxonomy

ROOT = Path(__file__).resolve().parents[2]
DEV_SET = Path(os.environ.get("CHITTY_TOPICS_DEV_SET", ROOT.parent / "shared" / "data" / "topics-dev.jsonl"))
SEEDED_TAXONOMY = ROOT / "chitty_pipelines" / "topics" / "taxonomy_seeded.yaml"
FRESH_SET = Path(__file__).with_name("fresh_sessions.jsonl")


def load_jsonl(path: Path = DEV_SET) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def gold_id(topic: str, taxonomy: Taxonomy) -> str:
    """The dev set's ``bug`` is ``bugfix`` in the default taxonomy."""
    return "bugfix" if topic == "bug" and "bug" not in taxonomy and "bugfix" in taxonomy else topic


def evaluate(
    items: Sequence[dict[str, Any]],
    predict: Callable[[list[str]], list[str | None]],
    taxonomy: Taxonomy,
    cold: bool = False,
) -> dict[str, Any]:
    """Top-1, recall, confusion and CPU per session of ``predict`` on ``items``. ``cold``: as for
    texts never seen (the MiniLM encoder keeps the vectors of texts it has read; the label curves
    read the same sessions again and again, so their CPU figure is the classifier's without it)."""
    texts = [it["text"] for it in items]
    gold = [gold_id(it["topic"], taxonomy) for it in items]
    if cold:
        forget_embeddings()
    started = time.process_time()
    predicted = predict(texts)
    cpu = time.process_time() - started
    correct = [p == g for p, g in zip(predicted, gold, strict=True)]
    extra = calibration(predict, correct) if isinstance(predict, primary) else {}
    topics = sorted(set(gold))
    confusion: dict[str, dict[str, int]] = {g: {} for g in topics}
    for p, g in zip(predicted, gold, strict=True):
        key = p or "(none)"
        confusion[g][key] = confusion[g].get(key, 0) + 1
    return {
        "n": len(items),
        "top1": round(sum(correct) / len(items), 4),
        "recall": {
            t: round(sum(c for c, g in zip(correct, gold, strict=True) if g == t) / gold.count(t), 3)
            for t in topics
        },
        "confusion": confusion,
        "predicted_outside_gold_topics": sum(1 for p in predicted if p not in set(gold)),
        "cpu_ms_per_session": round(1000 * cpu / len(items), 3),
        **extra,
    }


def forget_embeddings() -> None:
    """Empty the MiniLM encoder's memo of texts (sentence_embed.py) when it is loaded."""
    from chitty_pipelines.topics.classifiers.sentence_embed import minilm_encoder

    if minilm_encoder.cache_info().currsize:
        minilm_encoder().forget()


class primary:  # lower case: used like a function
    """The primary topic of each text; keeps the confidences for the calibration figures."""

    def __init__(self, classifier: Any):
        self.classifier = classifier
        self.confidences: list[float] = []

    def __call__(self, texts: list[str]) -> list[str | None]:
        results = self.classifier.classify(texts)
        self.confidences = [scores[0].confidence if scores else 0.0 for scores in results]
        return [scores[0].topic_id if scores else None for scores in results]


def calibration(predict: primary, correct: Sequence[bool], bins: int = 5) -> dict[str, float]:
    """Mean top-1 confidence against accuracy, and the expected calibration error."""
    conf = np.asarray(predict.confidences, dtype=float)
    hits = np.asarray(correct, dtype=float)
    ece = 0.0
    for lo in np.linspace(0, 1, bins, endpoint=False):
        mask = (conf > lo) & (conf <= lo + 1 / bins) if lo else (conf <= 1 / bins)
        if mask.any():
            ece += mask.mean() * abs(conf[mask].mean() - hits[mask].mean())
    return {"mean_top1_confidence": round(float(conf.mean()), 4), "ece_5_bins": round(float(ece), 4)}


def _spread(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=float)
    return {
        "mean": round(float(a.mean()), 4),
        "sd": round(float(a.std(ddof=1)) if len(a) > 1 else 0.0, 4),
        "min": round(float(a.min()), 4),
        "max": round(float(a.max()), 4),
    }


def _pooled(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-topic recall and the confusion matrix summed over the draws."""
    confusion: dict[str, dict[str, int]] = {}
    for r in results:
        for gold, row in r["confusion"].items():
            into = confusion.setdefault(gold, {})
            for predicted, n in row.items():
                into[predicted] = into.get(predicted, 0) + n
    recall = {g: round(row.get(g, 0) / sum(row.values()), 3) for g, row in sorted(confusion.items())}
    return {"recall": recall, "confusion": confusion}


def with_labels_curve(
    build: Callable[[list[Example]], Any],
    items: Sequence[dict[str, Any]],
    taxonomy: Taxonomy,
    per_topic: Sequence[int] = (0, 1, 3, 5),
    draws: int = 10,
    elsewhere: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Top-1 on the rest of the set after k manual labels per topic drawn at random from it (draw
    n uses seed n), next to the same classifier without labels on the same rest
    (``same_rest_no_labels``): the rest of a draw is not the whole set, so only the paired
    difference (``gain``) shows what the labels taught. Mean, sd, min and max over the draws;
    per-topic recall and confusion pooled over them; CPU per session of the taught classifier and
    the CPU its fit took (it is fitted once per label set, not per session). ``elsewhere``: another
    set none of the labels come from (the fresh set), scored with and without the labels."""
    by_topic: dict[str, list[int]] = {}
    for n, it in enumerate(items):
        by_topic.setdefault(it["topic"], []).append(n)
    out: dict[str, Any] = {}
    for k in per_topic:
        scores, controls, results, builds, cpu, away = [], [], [], [], [], []
        for draw in range(draws if k else 1):
            rng = np.random.default_rng(draw)
            chosen = (
                sorted(int(i) for ids in by_topic.values() for i in rng.choice(ids, k, replace=False))
                if k
                else []
            )
            labels = [
                Example(items[i]["text"], gold_id(items[i]["topic"], taxonomy), f"label:{items[i]['id']}")
                for i in chosen
            ]
            rest = [it for n, it in enumerate(items) if n not in set(chosen)]
            started = time.process_time()
            taught = build(labels)
            builds.append(time.process_time() - started)
            result = evaluate(rest, primary(taught), taxonomy)
            results.append(result)
            scores.append(result["top1"])
            cpu.append(result["cpu_ms_per_session"])
            controls.append(evaluate(rest, primary(build([])), taxonomy)["top1"])
            if elsewhere:
                away.append(evaluate(elsewhere, primary(taught), taxonomy)["top1"])
        out[str(k)] = {
            "draws": len(scores),
            "rest_n": results[0]["n"],
            "top1": _spread(scores),
            "same_rest_no_labels": _spread(controls),
            "gain": _spread([a - b for a, b in zip(scores, controls, strict=True)]),
            "per_draw_top1": scores,
            "cpu_ms_per_session": round(float(np.mean(cpu)), 3),
            "build_cpu_seconds": round(float(np.mean(builds)), 3),
            **_pooled(results),
        }
        if elsewhere:
            without = evaluate(elsewhere, primary(build([])), taxonomy)["top1"]
            out[str(k)]["fresh_set"] = {"top1": _spread(away), "no_labels": without}
    return out


def one_topic_labels(
    build: Callable[[list[Example]], Any],
    items: Sequence[dict[str, Any]],
    taxonomy: Taxonomy,
    k: int = 3,
    draws: int = 5,
    topics_n: int = 1,
) -> dict[str, Any]:
    """k labels of ``topics_n`` topics only (how a user starts): the rest of the set, with and
    without them. Labels of a few topics must not drag the others' sessions into them: counted
    with the labels and, on the same sessions, without them."""
    topics = sorted({it["topic"] for it in items})
    scores, controls, into, into_before = [], [], [], []
    for draw in range(draws):
        rng = np.random.default_rng(100 + draw)
        if topics_n == 1:  # the draws of the earlier figures
            chosen_topics = [topics[int(rng.integers(len(topics)))]]
        else:
            chosen_topics = [str(t) for t in rng.choice(topics, topics_n, replace=False)]
        chosen: set[int] = set()
        for topic in chosen_topics:
            ids = [n for n, it in enumerate(items) if it["topic"] == topic]
            chosen |= {int(i) for i in rng.choice(ids, k, replace=False)}
        golds = {gold_id(t, taxonomy) for t in chosen_topics}
        labels = [
            Example(items[i]["text"], gold_id(items[i]["topic"], taxonomy), f"label:{items[i]['id']}")
            for i in sorted(chosen)
        ]
        rest = [it for n, it in enumerate(items) if n not in chosen]
        others = [it["text"] for it in rest if it["topic"] not in chosen_topics]
        predict, plain = primary(build(labels)), primary(build([]))
        scores.append(evaluate(rest, predict, taxonomy)["top1"])
        controls.append(evaluate(rest, plain, taxonomy)["top1"])
        # Sessions of other topics now read as a labelled one (the drag), and before the labels.
        into.append(sum(p in golds for p in predict(others)))
        into_before.append(sum(p in golds for p in plain(others)))
    return {
        "labels": k,
        "topics": topics_n,
        "draws": draws,
        "top1": _spread(scores),
        "same_rest_no_labels": _spread(controls),
        "other_topics_sessions_moved_into_labelled_topic": into,
        "same_sessions_there_without_labels": into_before,
    }


def topic_counts(items: Sequence[dict[str, Any]]) -> dict[str, int]:
    return dict(sorted(Counter(it["topic"] for it in items).items()))
