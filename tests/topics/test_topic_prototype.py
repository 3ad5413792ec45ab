"""The default (prototype) classifier: accuracy on the independently written dev set (a
conformance test: skipped where shared/data is absent), on the project's own fresh set, CPU per
session, evidence, no topic for empty text, offline and torch-free, and learning from labels."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from bench.topics_accuracy.dev import DEV_SET, FRESH_SET, SEEDED_TAXONOMY, evaluate, load_jsonl, primary
from chitty_pipelines.topics import load_taxonomy
from chitty_pipelines.topics.classifiers.prototype import PrototypeClassifier, PrototypeParams
from chitty_pipelines.topics.prototypes import Example
from chitty_pipelines.topics.taxonomy import parse_taxonomy

# Floors a little under what bench/results/topics_accuracy.json records, so a change that loses
# ground fails while run-to-run noise (there is none: the classifier is deterministic) cannot.
DEV_FLOOR = 0.80  # measured 0.839 (default taxonomy), 0.856 (seeded 15) with MiniLM; 0.767 with WordLlama
# Our own 45 sessions, written after the classifier and never tuned on: 0.867 (default taxonomy,
# 27 topics, so 12 more to confuse with) and 0.889 (seeded 15) with MiniLM; 0.689 / 0.711 with
# WordLlama. CPU per session is measured in bench/topics_accuracy, not here.
FRESH_FLOOR = {"default": 0.80, "seeded15": 0.82}


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


@pytest.fixture(scope="module")
def classifier(taxonomy):
    return PrototypeClassifier(taxonomy)


@pytest.fixture(scope="module")
def dev_items():
    if not DEV_SET.is_file():
        pytest.skip(f"dev set not found at {DEV_SET} (shared/data)")
    return load_jsonl(DEV_SET)


def test_dev_set_accuracy_floor(classifier, taxonomy, dev_items):
    result = evaluate(dev_items, primary(classifier), taxonomy)
    print("dev top1", result["top1"], "recall", result["recall"])
    assert result["n"] == 180
    assert result["top1"] >= DEV_FLOOR
    # No topic is left behind: every one of the 15 is recognised at least a third of the time.
    assert min(result["recall"].values()) >= 1 / 3, result["recall"]


def test_fresh_set_accuracy_floor(classifier, taxonomy):
    result = evaluate(load_jsonl(FRESH_SET), primary(classifier), taxonomy)
    seeded = load_taxonomy(SEEDED_TAXONOMY)
    on_seeded = evaluate(load_jsonl(FRESH_SET), primary(PrototypeClassifier(seeded)), seeded)
    print("fresh top1", result["top1"], "seeded", on_seeded["top1"])
    assert result["n"] == 45 and result["top1"] >= FRESH_FLOOR["default"]
    assert on_seeded["top1"] >= FRESH_FLOOR["seeded15"]


def test_evidence_names_terms_and_the_deciding_example(classifier):
    [scores] = classifier.classify(["Add JWT auth to the API and refresh the access token when it expires."])
    best = scores[0]
    assert best.topic_id == "auth"
    assert "jwt" in best.evidence_terms
    assert any(t.startswith("example: ") for t in best.evidence_terms)
    assert "oauth" in best.subcategories  # "access token" is the oauth subcategory's keyword
    assert 0.0 <= best.confidence <= 1.0


def test_nothing_to_go_on_gives_no_topic(classifier):
    assert classifier.classify(["", "  ...  "]) == [[], []]


def test_confidence_is_low_when_no_topic_stands_out(classifier):
    clear = classifier.classify(["Write pytest unit tests with fixtures and mocks for the parser."])[0][0]
    vague = classifier.classify(["ok thanks, that works now"])[0][0]
    assert clear.confidence > 0.8
    assert vague.confidence < clear.confidence


def test_default_classifier_is_offline_and_torch_free():
    code = (
        "import sys\n"
        "from chitty_pipelines.unified.topic_classifier import TopicClassifierResource\n"
        "c = TopicClassifierResource.from_settings().build()\n"
        "assert c.name == 'prototype', c.name\n"
        "print(c.classify(['Deploy the app with a Dockerfile'])[0][0].topic_id)\n"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "CHITTY_HOME": "/nonexistent"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "deployment"


TWO_TOPICS = parse_taxonomy(
    """
topics:
  - id: garden
    name: Garden
    description: Plants outdoors.
    keywords: [garden]
  - id: kitchen
    name: Kitchen
    description: Cooking food.
    keywords: [kitchen]
"""
)


def test_labels_teach_unseen_vocabulary():
    """A custom taxonomy without prototypes: what the labels say is all there is to learn from."""
    base = PrototypeClassifier(TWO_TOPICS)
    text = "the sourdough starter smells of acetone after proofing overnight"
    labels = [
        Example("my sourdough loaf is dense, should the starter proof longer", "kitchen", "label:a"),
        Example("feeding a sourdough starter with rye flour before proofing", "kitchen", "label:b"),
        Example("aphids on the roses and the tomato seedlings are wilting", "garden", "label:c"),
        Example("when to prune the apple tree and mulch the tomato seedlings", "garden", "label:d"),
    ]
    taught = base.with_labels(labels)
    # Not calibrated (off by default): the regression learns the labels' words.
    assert not taught.calibrated and taught.label.startswith("prototype:v2+minilm+4labels:")
    assert base.label == "prototype:v2+minilm"
    [scores] = taught.classify([text])
    assert scores[0].topic_id == "kitchen"
    assert any(t.startswith("label ") for t in scores[0].evidence_terms)  # the label that decided
    one_each = base.with_labels(labels[::2])  # one label per topic: the regression learns them
    assert not one_each.calibrated
    assert one_each.classify([text])[0][0].topic_id == "kitchen"


def test_labels_of_one_topic_do_not_pull_other_sessions_into_it(classifier, taxonomy, dev_items):
    """How a user starts: three labels, all of one topic. Sessions of other topics must not move
    into it: calibrated on these three, the previous version moved 36 of the other 168 into
    "security" (2 before the labels)."""
    chosen = [it for it in dev_items if it["topic"] == "security"][:3]
    taught = classifier.with_labels([Example(it["text"], "security", f"label:{it['id']}") for it in chosen])
    others = [it["text"] for it in dev_items if it["topic"] != "security"]
    before = sum(s[0].topic_id == "security" for s in classifier.classify(others) if s)
    after = sum(s[0].topic_id == "security" for s in taught.classify(others) if s)
    print("other topics' sessions read as security: before", before, "after", after)
    assert after <= before + 3


def test_labels_of_several_topics_set_a_class_prior_when_asked(classifier, taxonomy):
    """With ``label_prior`` (off by default: bench/README.md), from 3 labelled topics on, the label
    counts are a prior over topics (Dirichlet posterior mean, one pseudo-count a topic, relative to
    the uniform prior the scores assume); with fewer labelled topics there is none. Our own
    sessions, not from any evaluation set."""
    texts = {
        "testing": ["pytest fixture leaks a temp dir between tests", "flaky cypress test on CI"],
        "database": ["postgres migration adds a NOT NULL column to a big table"],
        "docs": ["write the README section on installing with uv"],
    }
    labels = [Example(t, topic, f"label:{n}") for topic, ts in texts.items() for n, t in enumerate(ts)]
    k = len(classifier.categories)
    expected = {c: math.log(k * (1 + 0) / (k + 4)) for c in classifier.categories}
    expected.update({"testing": math.log(k * 3 / (k + 4)), "database": math.log(k * 2 / (k + 4))})
    expected["docs"] = expected["database"]
    prior = PrototypeParams(label_prior=True)
    taught = PrototypeClassifier(taxonomy, params=prior, labels=labels)
    assert dict(zip(classifier.categories, taught.bias, strict=True)) == pytest.approx(expected)
    # It is part of every score: the labelled topics gain exactly the prior's difference.
    text = ["the nightly job that loads the csv exports into postgres failed again"]
    j, d = classifier.categories.index("testing"), classifier.categories.index("deployment")
    plain = classifier.with_labels(labels)  # the default: no prior
    assert not plain.bias.any()
    gap = taught.scores(text)[0] - plain.scores(text)[0]
    assert gap[j] - gap[d] == pytest.approx(math.log(3))

    two_topics = [e for e in labels if e.topic_id != "docs"]
    assert not PrototypeClassifier(taxonomy, params=prior, labels=two_topics).bias.any()
