"""Do manual labels drawn from the dev set carry information about the rest of it? A probe for
issue 14 (outcome 2), in ~20 s rather than the full bench's ~12 min. Not the default classifier:
it measures one family of label methods on the default classifier's label-free scores.

The method probed: the default classifier's top-1/top-2 re-ranked by the labels. Each candidate
topic gains ``lam`` times the mean, over that topic's labels, of the session's embedding cosine to
the label standardised by the label's own cosines to the 296 prototype examples (a label a session
is no closer to than to a typical prototype adds nothing; only topics with labels gain, only among
the two the prototypes rank first, so labels cannot drag a session into a topic the prototypes
rule out). ``lam`` is either fixed (0.5, 1, 2: informed by the dev set, so their figures are
optimistic) or chosen by leave-one-label-out on the labels alone (ties: the smallest), which is
the only choice a deployed classifier could make. Draws as in dev.with_labels_curve (seed n).

    .venv/bin/python -m bench.topics_accuracy.label_probe
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.topics_accuracy import dev
from chitty_pipelines.topics import load_taxonomy
from chitty_pipelines.topics.classifiers.prototype import PrototypeClassifier

CANDIDATES = 2  # the prototypes' top-2 holds the right topic for 90% of the dev set (top-1: 77%)


def _softmax(z: np.ndarray) -> np.ndarray:
    p = np.exp(z - z.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def _unit(a: np.ndarray) -> np.ndarray:
    return a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-12)


class Probe:
    def __init__(self, method: str = "embedding") -> None:
        self.taxonomy = load_taxonomy()
        clf = PrototypeClassifier(self.taxonomy)
        self.items, self.fresh = dev.load_jsonl(dev.DEV_SET), dev.load_jsonl(dev.FRESH_SET)
        self.k = len(clf.categories)

        def gold(items: Sequence[dict]) -> np.ndarray:
            return np.array([clf.categories.index(dev.gold_id(it["topic"], self.taxonomy)) for it in items])

        self.y, self.yf = gold(self.items), gold(self.fresh)
        texts, ftexts = [it["text"] for it in self.items], [it["text"] for it in self.fresh]
        self.z, self.zf = clf.scores(texts), clf.scores(ftexts)  # label-free combined scores
        e, ef = _unit(clf.embedder.encode(texts)), _unit(clf.embedder.encode(ftexts))
        self.method = method
        if method == "embedding":
            self.sim, self.simf = e @ e.T, ef @ e.T  # sessions x dev items (the possible labels)
            reference = e @ _unit(clf._example_vectors).T  # each dev item against the prototypes
            self.mu, self.sd = reference.mean(1), reference.std(1)
            self.grid, self.fixed = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0), (0.0, 0.5, 1.0, 2.0)
        else:  # "reading": cosine of the zero-shot topic distributions (temperature 2)
            r, rf = _unit(_softmax(self.z / 2.0)), _unit(_softmax(self.zf / 2.0))
            self.sim, self.simf = r @ r.T, rf @ r.T
            self.grid, self.fixed = (0.0, 2.0, 4.0, 8.0, 16.0, 32.0), (0.0, 4.0, 8.0, 16.0)

    def bonus(self, sim: np.ndarray, labels: np.ndarray, lam: float) -> np.ndarray:
        out = np.zeros((sim.shape[0], self.k))
        if lam == 0 or not len(labels):
            return out
        if self.method == "embedding":
            z = (sim[:, labels] - self.mu[labels]) / self.sd[labels]
        else:  # centred on the session's mean over all labels: one topic's labels teach nothing
            z = sim[:, labels] - sim[:, labels].mean(1, keepdims=True)
        ylab = self.y[labels]
        for j in set(ylab.tolist()):
            out[:, j] = lam * z[:, ylab == j].mean(1)
        return out

    @staticmethod
    def predict(z: np.ndarray, bonus: np.ndarray) -> np.ndarray:
        cand = np.argsort(-z, 1, kind="stable")[:, :CANDIDATES]
        rows = np.arange(z.shape[0])[:, None]
        scores = np.full(z.shape, -np.inf)
        scores[rows, cand] = z[rows, cand] + bonus[rows, cand]
        return scores.argmax(1)

    def choose(self, labels: np.ndarray) -> float:
        """Leave one label out: the grid value under which the other labels best re-rank it."""
        best, chosen = -1, 0.0
        for lam in self.grid:
            hits = 0
            for n, label in enumerate(labels):
                others = np.delete(labels, n)
                b = self.bonus(self.sim[[label]], others, lam)
                hits += int(self.predict(self.z[[label]], b)[0] == self.y[label])
            if hits > best:
                best, chosen = hits, lam
        return chosen

    def draws(self, per_topic: int, n: int = 10) -> list[np.ndarray]:
        by_topic: dict[str, list[int]] = {}
        for i, it in enumerate(self.items):
            by_topic.setdefault(it["topic"], []).append(i)
        out = []
        for draw in range(n if per_topic else 1):
            rng = np.random.default_rng(draw)
            chosen = [int(i) for ids in by_topic.values() for i in rng.choice(ids, per_topic, replace=False)]
            out.append(np.array(sorted(chosen), dtype=int))
        return out

    def curve(self, per_topic: int) -> dict:
        rows: dict[str, dict[str, list[float]]] = {}
        chosen_lams = []
        for labels in self.draws(per_topic):
            rest = np.setdiff1d(np.arange(len(self.items)), labels)
            loo = self.choose(labels) if len(labels) else 0.0
            chosen_lams.append(loo)
            for name, lam in [
                *((f"lam={g}", g) for g in self.fixed),
                ("lam by leave-one-label-out", loo),
            ]:
                b, bf = self.bonus(self.sim[rest], labels, lam), self.bonus(self.simf, labels, lam)
                r = rows.setdefault(name, {"dev_rest": [], "fresh": []})
                r["dev_rest"].append(float((self.predict(self.z[rest], b) == self.y[rest]).mean()))
                r["fresh"].append(float((self.predict(self.zf, bf) == self.yf).mean()))
        out = {
            name: {
                "dev_rest": dev._spread(v["dev_rest"]),
                "fresh": round(float(np.mean(v["fresh"])), 3),
            }
            for name, v in rows.items()
        }
        out["lam chosen per draw"] = chosen_lams  # type: ignore[assignment]
        return out

    def drag(self, topics_n: int, lam: float, draws: int = 5) -> list[dict]:
        """3 labels of ``topics_n`` topics (the draws of dev.one_topic_labels): top-1 on the rest
        and the other topics' sessions read as a labelled one, with the labels and without."""
        topics = sorted({it["topic"] for it in self.items})
        out = []
        for draw in range(draws):
            rng = np.random.default_rng(100 + draw)
            if topics_n == 1:
                chosen_topics = [topics[int(rng.integers(len(topics)))]]
            else:
                chosen_topics = [str(t) for t in rng.choice(topics, topics_n, replace=False)]
            chosen: set[int] = set()
            for topic in chosen_topics:
                ids = [n for n, it in enumerate(self.items) if it["topic"] == topic]
                chosen |= {int(i) for i in rng.choice(ids, 3, replace=False)}
            labels = np.array(sorted(chosen), dtype=int)
            rest = np.setdiff1d(np.arange(len(self.items)), labels)
            labelled = np.unique(self.y[labels])
            taught = self.predict(self.z[rest], self.bonus(self.sim[rest], labels, lam))
            plain = self.z[rest].argmax(1)
            others = ~np.isin(self.y[rest], labelled)
            out.append(
                {
                    "top1": round(float((taught == self.y[rest]).mean()), 3),
                    "top1_without": round(float((plain == self.y[rest]).mean()), 3),
                    "moved_into_labelled": int(np.isin(taught[others], labelled).sum()),
                    "there_without": int(np.isin(plain[others], labelled).sum()),
                }
            )
        return out


def main() -> None:
    for method, drag_lam in (("embedding", 1.0), ("reading", 16.0)):
        probe = Probe(method)
        print(f"== {method}")
        for k in (0, 1, 3, 5):
            for name, v in probe.curve(k).items():
                if isinstance(v, dict):
                    d = v["dev_rest"]
                    print(
                        f"{k} labels/topic  {name:28s} dev rest {d['mean']:.3f} ± {d['sd']:.3f}  "
                        f"fresh {v['fresh']:.3f}"
                    )
                else:
                    print(f"{k} labels/topic  {name}: {v}")
        for n in (1, 3):
            print(f"3 labels of {n} topic(s), lam {drag_lam}:", probe.drag(n, drag_lam))


if __name__ == "__main__":
    main()
