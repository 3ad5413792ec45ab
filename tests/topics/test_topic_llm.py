"""The LLM classifier against a fake OpenAI-compatible endpoint (a real HTTP server): the request
it sends, validation of the reply, retries, auth failures, and the asset on a failing endpoint."""

from __future__ import annotations

import dagster as dg
import pytest
from topic_support import materialize, metadata, put_sessions

from chitty_pipelines.topics import load_taxonomy
from chitty_pipelines.topics.classifiers import ClassifierError, TopicScore
from chitty_pipelines.topics.classifiers.llm import LlmAuthError, LlmClassifier, LlmSettings
from chitty_pipelines.topics.fake_llm import FakeOpenAICompat
from chitty_pipelines.unified.topic_classifier import TopicClassifierResource
from chitty_pipelines.unified.topic_tables import SESSION_TOPICS

KEY = "sk-test-9f8e7d6c5b4a"


@pytest.fixture
def fake():
    with FakeOpenAICompat(api_key=KEY) as server:
        yield server


def _classifier(fake, **kw) -> LlmClassifier:
    settings = LlmSettings(
        base_url=f"{fake.base_url}/v1",
        model="gpt-test",
        api_key=kw.pop("api_key", KEY),
        max_wait_s=0.05,
        **kw,
    )
    return LlmClassifier(load_taxonomy(), settings)


def test_batches_sessions_and_validates_the_reply(fake):
    clf = _classifier(fake, batch_size=2)
    fake.scripted["Spotify"] = [
        {"id": "music", "confidence": 1.7, "subcategories": ["oauth"], "evidence": ["Spotify"]},
        {"id": "astrology", "confidence": 0.8},  # not in the taxonomy: dropped
        {"id": "oauth", "confidence": "high", "evidence": ["token"]},  # a subcategory: its parent
    ]
    texts = [
        "Fix the Database migration behind the API",
        "Spotify playlist sync with an OAuth token",
        "nothing to see here",
    ]
    result = clf.classify(texts)
    assert result == [
        [
            TopicScore("database", 0.9, ("migration",), ("database", "migration")),
            TopicScore("api", 0.6, (), ("api",)),
        ],
        [
            TopicScore("music", 1.0, (), ("playlist", "spotify")),
            TopicScore("auth", 0.5, ("oauth",), ("oauth", "token")),
        ],
        [],
    ]
    assert fake.requests["POST /v1/chat/completions"] == 2 and clf.requests_made == 2
    body = fake.bodies[0]
    assert body["model"] == "gpt-test" and body["temperature"] == 0
    assert body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert '"id": "auth"' in body["messages"][0]["content"]


def test_retries_rate_limits_server_errors_and_malformed_replies(fake):
    clf = _classifier(fake)
    fake.fail_next = [(429, {"Retry-After": "0"}), (503, {})]
    fake.malformed_replies = 1
    assert clf.classify(["Testing the parser with pytest"])[0][0].topic_id == "testing"
    # (the fake logs a status after sending it, so only the earlier ones are certain to be logged)
    assert [status for _, _, status in fake.log][:3] == [429, 503, 200]
    assert fake.requests["POST /v1/chat/completions"] == 4
    assert clf.requests_made == 4


def test_gives_up_after_bounded_attempts(fake):
    clf = _classifier(fake, attempts=3)
    fake.fail_next = [(500, {})] * 5
    with pytest.raises(ClassifierError, match="gave up after 3 attempts"):
        clf.classify(["Write pytest tests"])
    assert clf.requests_made == 3


def test_wrong_key_fails_fast_naming_the_variable_without_the_key(fake):
    clf = _classifier(fake, api_key="sk-wrong-0000")
    with pytest.raises(LlmAuthError) as info:
        clf.classify(["Write pytest tests"])
    assert "CHITTY_TOPIC_LLM_API_KEY" in str(info.value) and "sk-wrong" not in str(info.value)
    assert clf.requests_made == 1


def test_asset_with_llm_classifier_keeps_failed_sessions_for_the_next_run(
    fake, warehouse, warehouse_resource, monkeypatch, caplog
):
    instance = dg.DagsterInstance.ephemeral()
    monkeypatch.setenv("CHITTY_TOPIC_LLM_API_KEY", KEY)
    resource = TopicClassifierResource(
        classifier="llm",
        llm_base_url=f"{fake.base_url}/v1",
        llm_api_key=dg.EnvVar("CHITTY_TOPIC_LLM_API_KEY"),
        llm_model="gpt-test",
        llm_batch_size=2,
        llm_attempts=2,
        llm_max_wait_s=0.05,
    )
    put_sessions(
        warehouse, {"a": "Deployment to production", "b": "Docs for the README", "c": "Music playlist"}
    )
    fake.fail_next = [(500, {}), (500, {})]  # the first batch (a, b) fails twice: given up
    first = materialize(warehouse_resource, resource, instance=instance)
    meta = metadata(first, ["unified", "session_topics"])
    assert (meta["classified"], meta["failed"], meta["classifier"]) == (1, 2, "llm:gpt-test")
    assert warehouse.query(
        f"SELECT session_key, topic_id FROM {SESSION_TOPICS.sql_name}"
    ).values.tolist() == [["c", "music"]]
    second = materialize(warehouse_resource, resource, instance=instance)
    meta = metadata(second, ["unified", "session_topics"])
    assert (meta["classified"], meta["unchanged"], meta["failed"]) == (2, 1, 0)
    rows = warehouse.query(f"SELECT session_key, topic_id FROM {SESSION_TOPICS.sql_name} ORDER BY 1").values
    assert rows.tolist() == [["a", "deployment"], ["b", "docs"], ["c", "music"]]
    # The key never reaches the event log (metadata, logs, errors) nor Python logging.
    for run in (first, second):
        logs = instance.all_logs(run.run_id)
        assert logs and all(KEY not in str(entry) for entry in logs)
    assert "HTTP 500" in caplog.text and KEY not in caplog.text
