"""Topic classifiers on the labelled session summaries: accuracy of the default TF-IDF classifier
against the original hub's keyword scoring (the baseline, run in the same invocation), plus the
semantic classifier when its optional extra is installed. Writes bench/results/topics_accuracy.json.

    .venv/bin/python -m bench.topics_accuracy.run            # accuracy + throughput on 20,000 texts
    .venv/bin/python -m bench.topics_accuracy.run --smoke    # accuracy + 850 texts, seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.topics_accuracy.metrics import by_split, load_labelled  # noqa: E402
from chitty_pipelines.topics import load_taxonomy  # noqa: E402
from chitty_pipelines.topics.classifiers.original import OriginalKeywordScorer  # noqa: E402
from chitty_pipelines.topics.classifiers.tfidf import TfidfClassifier  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "topics_accuracy.json"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(classifier: Any, items: list[dict[str, Any]], throughput_texts: int) -> dict[str, Any]:
    texts = [it["text"] for it in items]
    started = time.perf_counter()
    predictions = classifier.classify(texts)
    accuracy_s = time.perf_counter() - started
    bulk = (texts * (throughput_texts // len(texts) + 1))[:throughput_texts]
    started = time.perf_counter()
    classifier.classify(bulk)
    bulk_s = time.perf_counter() - started
    return {
        "accuracy": by_split(items, predictions),
        "labelled_seconds": round(accuracy_s, 4),
        "throughput_texts": len(bulk),
        "throughput_seconds": round(bulk_s, 3),
        "texts_per_second": round(len(bulk) / bulk_s, 1) if bulk_s else None,
    }


def run(smoke: bool = False, semantic: bool = False, out: Path = RESULTS) -> dict[str, Any]:
    started = time.perf_counter()
    items = load_labelled()
    taxonomy = load_taxonomy()
    throughput = 850 if smoke else 20_000
    results: dict[str, Any] = {
        "benchmark": "topics_accuracy",
        "inputs": {
            "labelled_items": len(items),
            "dev_items": sum(it["split"] == "dev" for it in items),
            "holdout_items": sum(it["split"] == "holdout" for it in items),
            "taxonomy": "default (chitty_pipelines/topics/taxonomy.yaml)",
            "taxonomy_fingerprint": taxonomy.fingerprint,
            "categories": len(taxonomy.categories),
            "smoke": smoke,
            "python": platform.python_version(),
        },
        "requests_made": 0,
        "classifiers": {},
    }
    contenders: list[Any] = [OriginalKeywordScorer(taxonomy), TfidfClassifier(taxonomy)]
    if semantic:
        from chitty_pipelines.topics.classifiers.semantic import SemanticClassifier

        contenders.append(SemanticClassifier(taxonomy))
    for classifier in contenders:
        results["classifiers"][classifier.name] = _measure(
            classifier, items, throughput if classifier.name != "semantic" else len(items)
        )
    base = results["classifiers"]["original"]
    for r in results["classifiers"].values():
        r["ratio_to_original"] = {
            "top1": round(r["accuracy"]["all"]["top1"] / base["accuracy"]["all"]["top1"], 3),
            "holdout_top1": round(r["accuracy"]["holdout"]["top1"] / base["accuracy"]["holdout"]["top1"], 3),
            "texts_per_second": round((r["texts_per_second"] or 0) / base["texts_per_second"], 3)
            if base["texts_per_second"]
            else None,
        }
    results["wall_seconds"] = round(time.perf_counter() - started, 2)
    results["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="small throughput run (seconds)")
    parser.add_argument("--semantic", action="store_true", help="also the semantic classifier (extra)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or (RESULTS if not args.smoke else ROOT / "bench" / ".work" / "topics_accuracy.smoke.json")
    results = run(smoke=args.smoke, semantic=args.semantic, out=out)
    for name, r in results["classifiers"].items():
        a = r["accuracy"]
        print(
            f"{name:9s} top1 {a['all']['top1']:.3f} "
            f"(dev {a['dev']['top1']:.3f}, holdout {a['holdout']['top1']:.3f}) "
            f"top3 {a['all']['top3']:.3f} macroF1 {a['all']['macro_f1']:.3f} setF1 {a['all']['set_f1']:.3f} "
            f"traps {a['all']['traps_top1']:.3f}  {r['texts_per_second']} texts/s"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
