"""Topic classifiers, honestly: the accuracy figure is the dev set (shared/data/topics-dev.jsonl,
written independently of every classifier; see dev.py) for every classifier (original keyword
scorer, tfidf, the default prototype classifier with either embedding, the semantic classifier,
the llm classifier against the fake endpoint), with the default and the seeded 15-topic taxonomy, plus the
default classifier with 0/1/3/5 manual labels per topic and our own fresh set
(fresh_sessions.jsonl). The project's own labelled summaries (tests/topics/labelled_sessions.yaml,
written together with the tfidf classifier) stay as a regression check under ``project_set``.
Writes bench/results/topics_accuracy.json.

    .venv/bin/python -m bench.topics_accuracy.run            # everything, 10 label draws (~8 min)
    .venv/bin/python -m bench.topics_accuracy.run --smoke    # 2 draws of 3 labels, small throughput
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

from bench.topics_accuracy import dev  # noqa: E402
from bench.topics_accuracy.metrics import by_split, load_labelled  # noqa: E402
from chitty_pipelines.topics import load_taxonomy  # noqa: E402
from chitty_pipelines.topics.classifiers.original import OriginalKeywordScorer  # noqa: E402
from chitty_pipelines.topics.classifiers.tfidf import TfidfClassifier  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "topics_accuracy.json"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(classifier: Any, items: list[dict[str, Any]], throughput_texts: int) -> dict[str, Any]:
    texts = [it["text"] for it in items]
    dev.forget_embeddings()  # each classifier reads the texts as never seen
    started = time.perf_counter()
    predictions = classifier.classify(texts)
    accuracy_s = time.perf_counter() - started
    # Distinct texts: the MiniLM encoder keeps the vectors of texts it has seen.
    repeated = (texts * (throughput_texts // len(texts) + 1))[:throughput_texts]
    bulk = [f"{t} ({n})" for n, t in enumerate(repeated)]
    dev.forget_embeddings()
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


def _contenders(taxonomy: Any, fake_url: str | None) -> dict[str, Any]:
    """name -> a zero-argument builder (or the reason it is skipped)."""
    from chitty_pipelines.topics.classifiers.prototype import PrototypeClassifier, PrototypeParams
    from chitty_pipelines.topics.classifiers.semantic import SemanticClassifier

    wordllama = PrototypeParams(embedding="wordllama")
    out: dict[str, Any] = {
        "original": lambda: OriginalKeywordScorer(taxonomy),
        "tfidf": lambda: TfidfClassifier(taxonomy),
        "prototype": lambda: PrototypeClassifier(taxonomy),
        "prototype_wordllama": lambda: PrototypeClassifier(taxonomy, params=wordllama),
        "semantic": lambda: SemanticClassifier(taxonomy),
    }
    if fake_url:
        from chitty_pipelines.topics.classifiers.llm import LlmClassifier, LlmSettings

        settings = LlmSettings(base_url=fake_url, model="fake", api_key="sk-bench", max_wait_s=0.05)
        out["llm_fake"] = lambda: LlmClassifier(taxonomy, settings)
    return out


def dev_results(smoke: bool) -> dict[str, Any]:
    """The accuracy figures: dev set and fresh set, every classifier, both taxonomies."""
    if not dev.DEV_SET.is_file():
        return {"skipped": f"dev set not found at {dev.DEV_SET}"}
    from chitty_pipelines.topics.classifiers.prototype import PrototypeClassifier, PrototypeParams
    from chitty_pipelines.topics.fake_llm import FakeOpenAICompat

    items, fresh = dev.load_jsonl(dev.DEV_SET), dev.load_jsonl(dev.FRESH_SET)
    out: dict[str, Any] = {
        "dev_set": {
            "path": "shared/data/topics-dev.jsonl",
            "n": len(items),
            "topics": dev.topic_counts(items),
        },
        "fresh_set": {"path": "bench/topics_accuracy/fresh_sessions.jsonl", "n": len(fresh)},
        "note": "the llm row runs against the project's fake endpoint (it matches topic ids and "
        "names as words): it measures the plumbing, not a real model",
        "taxonomies": {},
    }
    with FakeOpenAICompat(api_key="sk-bench") as fake:
        for name, path in (("default", None), ("seeded15", dev.SEEDED_TAXONOMY)):
            taxonomy = load_taxonomy(path)
            per: dict[str, Any] = {}
            for cname, build in _contenders(taxonomy, f"{fake.base_url}/v1").items():
                if isinstance(build, str):
                    per[cname] = build
                    continue
                cpu = time.process_time()
                classifier = build()
                built_s = time.process_time() - cpu
                result = dev.evaluate(items, dev.primary(classifier), taxonomy, cold=True)
                result["build_cpu_seconds"] = round(built_s, 3)
                result["fresh_top1"] = dev.evaluate(fresh, dev.primary(classifier), taxonomy)["top1"]
                per[cname] = result
            base = PrototypeClassifier(taxonomy)
            ks, draws = ((0, 3), 2) if smoke else ((0, 1, 3, 5), 10)
            curve = dev.with_labels_curve(
                base.with_labels, items, taxonomy, per_topic=ks, draws=draws, elsewhere=fresh
            )
            skewed = dev.one_topic_labels(base.with_labels, items, taxonomy, draws=2 if smoke else 5)
            # The class prior from the labels starts at 3 labelled topics: its drag there.
            three = dev.one_topic_labels(
                base.with_labels, items, taxonomy, draws=2 if smoke else 5, topics_n=3
            )
            # The class prior from the labels, selectable and off: its figures, default taxonomy.
            prior: dict[str, Any] = {}
            if name == "default":
                params = PrototypeParams(label_prior=True)
                with_prior = PrototypeClassifier(taxonomy, params=params)
                prior = {
                    "prototype_with_label_prior": {
                        "params": "PrototypeParams(label_prior=True)",
                        "manual_labels": dev.with_labels_curve(
                            with_prior.with_labels, items, taxonomy, per_topic=(3,), draws=2 if smoke else 10
                        ),
                        "labels_of_three_topics": dev.one_topic_labels(
                            with_prior.with_labels, items, taxonomy, draws=2 if smoke else 5, topics_n=3
                        ),
                    }
                }
            out["taxonomies"][name] = {
                "classifiers": per,
                "prototype_with_manual_labels": curve,
                "prototype_with_labels_of_one_topic": skewed,
                "prototype_with_labels_of_three_topics": three,
                **prior,
            }
    return out


def run(smoke: bool = False, out: Path = RESULTS) -> dict[str, Any]:
    started = time.perf_counter()
    accuracy = dev_results(smoke)
    items = load_labelled()
    taxonomy = load_taxonomy()
    throughput = 850 if smoke else 20_000
    embedded = 170 if smoke else 1_000  # MiniLM: ~20 ms a text
    project: dict[str, Any] = {
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
    results: dict[str, Any] = {"benchmark": "topics_accuracy", "accuracy": accuracy, "project_set": project}
    from chitty_pipelines.topics.classifiers.prototype import PrototypeClassifier, PrototypeParams
    from chitty_pipelines.topics.classifiers.semantic import SemanticClassifier

    wordllama = PrototypeParams(embedding="wordllama")
    contenders: dict[str, Any] = {
        "original": OriginalKeywordScorer(taxonomy),
        "tfidf": TfidfClassifier(taxonomy),
        "prototype": PrototypeClassifier(taxonomy),
        "prototype_wordllama": PrototypeClassifier(taxonomy, params=wordllama),
        "semantic": SemanticClassifier(taxonomy),
    }
    for name, classifier in contenders.items():
        fast = name in ("original", "tfidf", "prototype_wordllama")
        project["classifiers"][name] = _measure(classifier, items, throughput if fast else embedded)
    base = project["classifiers"]["original"]
    for r in project["classifiers"].values():
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
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or (RESULTS if not args.smoke else ROOT / "bench" / ".work" / "topics_accuracy.smoke.json")
    results = run(smoke=args.smoke, out=out)
    for tax, block in results["accuracy"].get("taxonomies", {}).items():
        for name, r in block["classifiers"].items():
            if isinstance(r, str):
                print(f"dev [{tax}] {name:9s} {r}")
                continue
            print(
                f"dev [{tax}] {name:9s} top1 {r['top1']:.3f}  fresh {r['fresh_top1']:.3f}  "
                f"{r['cpu_ms_per_session']:.2f} ms CPU/session"
            )
        for k, v in block["prototype_with_manual_labels"].items():
            t, c, g = v["top1"], v["same_rest_no_labels"], v["gain"]
            print(
                f"dev [{tax}] prototype + {k} labels/topic ({v['draws']} draws): "
                f"{t['mean']:.3f} ± {t['sd']:.3f} [{t['min']:.3f}-{t['max']:.3f}]  "
                f"same rest without labels {c['mean']:.3f}  gain {g['mean']:+.3f} ± {g['sd']:.3f}  "
                f"{v['cpu_ms_per_session']:.2f} ms CPU/session, fit {v['build_cpu_seconds']:.2f} s; "
                f"fresh set {v['fresh_set']['top1']['mean']:.3f} (without {v['fresh_set']['no_labels']:.3f})"
            )
        one = block["prototype_with_labels_of_one_topic"]
        print(
            f"dev [{tax}] prototype + 3 labels of one topic: {one['top1']['mean']:.3f} "
            f"(without {one['same_rest_no_labels']['mean']:.3f}); other topics' sessions moved into it: "
            f"{one['other_topics_sessions_moved_into_labelled_topic']}"
        )
        if "prototype_with_label_prior" in block:
            p = block["prototype_with_label_prior"]
            t = p["manual_labels"]["3"]
            th = p["labels_of_three_topics"]
            print(
                f"dev [{tax}] prototype with label_prior: 3 labels/topic {t['top1']['mean']:.3f} ± "
                f"{t['top1']['sd']:.3f} (gain {t['gain']['mean']:+.3f}); 3 labels of three topics "
                f"{th['top1']['mean']:.3f} (without {th['same_rest_no_labels']['mean']:.3f}), drag "
                f"{th['other_topics_sessions_moved_into_labelled_topic']}"
            )
        three = block["prototype_with_labels_of_three_topics"]
        print(
            f"dev [{tax}] prototype + 3 labels of three topics: {three['top1']['mean']:.3f} "
            f"(without {three['same_rest_no_labels']['mean']:.3f}); other topics' sessions read as "
            f"them: {three['other_topics_sessions_moved_into_labelled_topic']} "
            f"(without labels {three['same_sessions_there_without_labels']})"
        )
    print("project set (regression only):")
    for name, r in results["project_set"]["classifiers"].items():
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
