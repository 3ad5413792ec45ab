"""Taxonomy loading and the offline classifiers: word-boundary evidence, confidences, determinism,
the original scoring's exact arithmetic, and the classifier chosen by configuration."""

from __future__ import annotations

import pytest

from chitty_pipelines.topics import TaxonomyError, load_taxonomy
from chitty_pipelines.topics.classifiers import TopicClassifier
from chitty_pipelines.topics.classifiers.base import Limits
from chitty_pipelines.topics.classifiers.llm import LlmClassifier
from chitty_pipelines.topics.classifiers.original import OriginalKeywordScorer
from chitty_pipelines.topics.classifiers.prototype import PrototypeClassifier
from chitty_pipelines.topics.classifiers.semantic import SemanticClassifier
from chitty_pipelines.topics.classifiers.text import KeywordMatcher
from chitty_pipelines.topics.classifiers.tfidf import TfidfClassifier
from chitty_pipelines.topics.taxonomy import parse_taxonomy
from chitty_pipelines.unified.topic_classifier import TopicClassifierResource

# The detector's 37 topics and parents (contracts reference §8.2).
PARENTS = {
    "oauth": "auth", "ml": "ai", "cache": "performance", "webhook": "api", "react": "ui",
    "worker": "backend", "migration": "database", "evidence": "legal", "registry": "chittyos",
    "gateway": "chittyos",
}  # fmt: skip


def test_default_taxonomy_is_the_chittyos_topics():
    t = load_taxonomy()
    assert len(t.topics) == 37 and len(t.categories) == 27
    assert {x.id: x.parent for x in t.topics if x.parent} == PARENTS
    assert t["auth"].keywords == (
        "auth",
        "authentication",
        "oauth",
        "jwt",
        "token",
        "login",
        "session",
        "credential",
    )
    assert t["bugfix"].name == "Bug Fix" and t["id"].name == "Identity"
    assert all(x.description and x.keywords for x in t.topics)
    assert t.category_of("oauth") == "auth" and t.category_of("auth") == "auth"


def test_taxonomy_from_the_environment_and_errors(tmp_path, monkeypatch):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "topics:\n"
        "  - {id: cooking, name: Cooking, description: Recipes and kitchens., keywords: [recipe, oven]}\n"
        "  - {id: baking, parent: cooking, keywords: [bread, sourdough]}\n"
    )
    monkeypatch.setenv("CHITTY_TOPIC_TAXONOMY", str(path))
    t = load_taxonomy()
    assert t.ids == ["cooking", "baking"] and t.source == str(path) and t["baking"].name == "baking"
    clf = TfidfClassifier(t)
    [scores] = clf.classify(["A sourdough bread recipe for a small oven"])
    assert [(s.topic_id, s.subcategories) for s in scores] == [("cooking", ("baking",))]
    assert set(scores[0].evidence_terms) >= {"recipe", "oven", "bread", "sourdough"}
    for bad, message in [
        ("topics: []", "non-empty"),
        ("topics:\n  - {id: a}\n  - {id: a}", "twice"),
        ("topics:\n  - {id: a, parent: b}", "unknown parent"),
        ("topics:\n  - {id: a}\n  - {id: b, parent: a}\n  - {id: c, parent: b}", "cannot have subcategories"),
        ("topics:\n  - {id: 'Bad Id'}", "lowercase"),
    ]:
        with pytest.raises(TaxonomyError, match=message):
            parse_taxonomy(bad)
    monkeypatch.setenv("CHITTY_TOPIC_TAXONOMY", str(tmp_path / "missing.yaml"))
    with pytest.raises(TaxonomyError, match="CHITTY_TOPIC_TAXONOMY"):
        load_taxonomy()


def test_keywords_match_whole_words_only():
    m = KeywordMatcher(["id", "ai", "ui", "new", "log", "refresh token", "ci/cd", "test"])
    assert m.matches("Validate and maintain the build; renew the catalog") == {}
    assert m.matches("Refresh tokens in CI/CD, new logs, two tests and a test") == {
        "refresh token": 1, "ci/cd": 1, "new": 1, "log": 1, "test": 2,
    }  # fmt: skip


def test_original_scoring_arithmetic_and_its_substring_traps():
    scorer = OriginalKeywordScorer(load_taxonomy())
    # "maintain": ai +2 (substring 'ai'); "valid": nothing for id (its keywords are phrases such
    # as 'id generation'), but schema's 'validation' is not in "valid" either; "build": ui +2
    # ('ui' inside 'build'), deployment +2 ('build') +1.5 (whole word), feature +1 (heuristic).
    scores = scorer.topic_scores("maintain the build")
    assert scores == {"ai": 2.0, "ui": 2.0, "deployment": 3.5, "feature": 1.0}
    assert scorer.classify(["maintain the build"])[0][0].topic_id == "deployment"
    assert scorer.classify(["nothing at all"])[0][0].topic_id == "feature"  # the default
    # Subcategories are reported under their parent: 'react' (ui) via 'react'/'jsx' + heuristic.
    assert scorer.classify(["react jsx"])[0][0].topic_id == "ui"


def test_tfidf_is_deterministic_bounded_and_explains_itself():
    t = load_taxonomy()
    text = "Renew the TLS certificate and keep the catalog valid; maintain the build"
    a = TfidfClassifier(t).classify([text, "", "zzz qqq"])
    b = TfidfClassifier(t).classify([text, "", "zzz qqq"])
    assert a == b
    assert a[0][0].topic_id == "security" and "tls" in a[0][0].evidence_terms
    assert a[1] == [] and a[2] == []
    assert all(0 <= s.confidence <= 1 for s in a[0])
    ranked = [s.confidence for s in a[0]]
    assert ranked == sorted(ranked, reverse=True)


def test_limits_bound_the_topics_kept():
    t = load_taxonomy()
    text = "Deploy the React UI with a Postgres migration, tests and docs for the API"
    many = TfidfClassifier(t, Limits(max_topics=5, min_confidence=0.0)).classify([text])[0]
    one = TfidfClassifier(t, Limits(max_topics=1)).classify([text])[0]
    assert len(many) == 5 and len(one) == 1 and one[0].topic_id == many[0].topic_id


def test_classifier_chosen_by_configuration(monkeypatch):
    assert isinstance(TopicClassifierResource.from_settings().build(), PrototypeClassifier)  # the default
    monkeypatch.setenv("CHITTY_TOPIC_CLASSIFIER", "tfidf")
    assert isinstance(TopicClassifierResource.from_settings().build(), TfidfClassifier)
    monkeypatch.setenv("CHITTY_TOPIC_CLASSIFIER", "original")  # the first hub's scorer stays selectable
    assert isinstance(TopicClassifierResource.from_settings().build(), OriginalKeywordScorer)
    monkeypatch.setenv("CHITTY_TOPIC_CLASSIFIER", "LLM")
    monkeypatch.setenv("CHITTY_TOPIC_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("CHITTY_TOPIC_LLM_MODEL", "local-model")
    monkeypatch.setenv("CHITTY_TOPIC_MAX_PER_SESSION", "2")
    resource = TopicClassifierResource.from_settings()
    llm = resource.build()
    assert isinstance(llm, LlmClassifier) and isinstance(llm, TopicClassifier)
    assert llm.url == "http://127.0.0.1:9/v1/chat/completions" and llm.label == "llm:local-model"
    assert llm.limits.max_topics == 2 and resource.llm_api_key is None
    monkeypatch.setenv("CHITTY_TOPIC_CLASSIFIER", "semantic")
    assert isinstance(TopicClassifierResource.from_settings().build(), SemanticClassifier)  # lazy: no load
    monkeypatch.setenv("CHITTY_TOPIC_CLASSIFIER", "magic")
    with pytest.raises(ValueError, match="CHITTY_TOPIC_CLASSIFIER"):
        TopicClassifierResource.from_settings().build()


def test_a_broken_or_missing_taxonomy_names_the_file_and_the_variable(tmp_path, monkeypatch):
    """A YAML syntax error said only 'ParserError: while parsing a flow sequence in "<byte
    string>"'; a missing file printed as the bare FileNotFoundError, because a run's output shows
    the innermost cause of the step's error (cli/runner.py), which dropped the message naming
    CHITTY_TOPIC_TAXONOMY."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("topics:\n  - id: db\n    name: [unclosed\n")
    monkeypatch.setenv("CHITTY_TOPIC_TAXONOMY", str(broken))
    with pytest.raises(TaxonomyError) as caught:
        load_taxonomy()
    message = str(caught.value)
    assert str(broken) in message and "not valid YAML (line 4" in message, message
    assert "CHITTY_TOPIC_TAXONOMY" in message and caught.value.__cause__ is None
    monkeypatch.setenv("CHITTY_TOPIC_TAXONOMY", str(tmp_path / "missing.yaml"))
    with pytest.raises(TaxonomyError) as caught:
        load_taxonomy()
    assert "missing.yaml (CHITTY_TOPIC_TAXONOMY)" in str(caught.value)
    assert caught.value.__cause__ is None  # what a run prints is this message
