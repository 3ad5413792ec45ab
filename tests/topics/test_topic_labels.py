"""Manual topic labels: ``topic set`` / ``topic unset`` (library and CLI), the label wins for its
session across re-runs and --full-refresh, it teaches the default classifier (which then re-labels
every session with the label set in its name), bad input writes nothing, evidence is stored."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from topic_support import materialize, metadata, put_sessions

from chitty_pipelines.topics import load_taxonomy
from chitty_pipelines.unified.topic_labels import LABELS, LabelError, set_label, unset_label
from chitty_pipelines.unified.topic_tables import SESSION_TOPICS
from tests.warehouse_support import WAREHOUSE_URL  # kept for CLI subprocesses (--warehouse=postgres)

SESSIONS = {
    "s-auth": "Add JWT auth to the API and refresh the access token when it expires.",
    "s-odd": "Tidy the flower beds and plan which vegetables go where next spring.",
    "s-db": "Slow SQL query on Postgres. Which index should the events table get?",
}


def _rows(wh, key=None):
    where = "WHERE session_key = ?" if key else ""
    return wh.query(
        f"SELECT session_key, topic_id, rank, confidence, classifier, evidence_terms, subcategories "
        f"FROM {SESSION_TOPICS.sql_name} {where} ORDER BY session_key, rank",
        [key] if key else None,
    ).to_dict("records")


def _plain(rows):
    """Rows comparable with ==: list columns come back as numpy arrays."""
    return [{k: list(v) if hasattr(v, "tolist") else v for k, v in r.items()} for r in rows]


def test_label_wins_survives_full_refresh_and_teaches(warehouse, warehouse_resource):
    put_sessions(warehouse, SESSIONS)
    assert materialize(warehouse_resource).success
    before = _rows(warehouse, "s-auth")
    assert before[0]["classifier"] == "prototype:v2+minilm" and before[0]["topic_id"] == "auth"
    # Evidence is stored with each result: words of the session and the example that decided.
    assert "jwt" in list(before[0]["evidence_terms"])
    assert any(t.startswith("example: ") for t in before[0]["evidence_terms"])

    taxonomy = load_taxonomy()
    set_label(warehouse, taxonomy, "s-odd", "music")
    # It wins at once, as the session's only topic.
    assert [(r["topic_id"], r["classifier"], r["confidence"]) for r in _rows(warehouse, "s-odd")] == [
        ("music", "manual", 1.0)
    ]

    for full_refresh in (False, True):
        result = materialize(warehouse_resource, full_refresh=full_refresh)
        assert result.success
        odd = _rows(warehouse, "s-odd")
        assert [(r["topic_id"], r["classifier"], r["rank"]) for r in odd] == [("music", "manual", 1)]
        # The other sessions were classified by the classifier the label taught.
        auth = _rows(warehouse, "s-auth")[0]
        assert auth["topic_id"] == "auth" and auth["classifier"].startswith("prototype:v2+minilm+1labels:")
    assert warehouse.row_count(LABELS) == 1  # the ops table is not touched by a full refresh

    # A subcategory label is reported under its parent, as classified rows are.
    set_label(warehouse, taxonomy, "s-db", "cache")
    assert [(r["topic_id"], list(r["subcategories"])) for r in _rows(warehouse, "s-db")] == [
        ("performance", ["cache"])
    ]

    assert unset_label(warehouse, "s-odd") is True
    assert unset_label(warehouse, "s-odd") is False
    assert materialize(warehouse_resource).success
    odd = _rows(warehouse, "s-odd")
    assert odd and all(r["classifier"] != "manual" for r in odd)


# Our own small corpus (written for this test, nothing from shared/data): CI jobs that fail on one
# runner read as deployment to the prototypes; this user files them under testing.
CI = {
    "ci-1": "The nightly GitHub Actions job on the ubuntu runner times out after 40 minutes since we "
    "bumped the runner image; it passes on my laptop.",
    "ci-2": "Our Jenkins pipeline goes red about once a day on the same stage, a retry makes it green. "
    "Runner logs show nothing useful.",
    "ci-3": "GitLab CI job hangs on the Windows runner while the macOS and Linux ones finish in five "
    "minutes. Same commit, same container image.",
    "ci-4": "Buildkite agents: the stage that spins up docker compose fails on two of the six agents "
    "only, with exit code 137 halfway through.",
    "ci-5": "CircleCI: the job that runs against a throwaway Postgres container fails on the cloud "
    "runner with connection refused, but is green locally.",
    "auth-1": "Users get a 401 after the OAuth access token expires; the refresh token flow never runs "
    "in the mobile app.",
    "db-1": "Which index should the orders table get? The query filtering on customer and created_at "
    "scans the whole table in Postgres.",
    "music-1": "Build a playlist shuffle that never plays two songs by the same artist back to back.",
}


def _topics(wh, key):
    return [r["topic_id"] for r in _rows(wh, key)]


def test_labels_teach_the_other_sessions_on_the_next_materialization(warehouse, warehouse_resource):
    put_sessions(warehouse, CI)
    assert materialize(warehouse_resource).success
    assert _topics(warehouse, "ci-4")[0] == "deployment"  # misread zero-shot
    assert _topics(warehouse, "ci-5")[0] != "testing"
    taxonomy = load_taxonomy()
    for key in ("ci-1", "ci-2", "ci-3"):
        set_label(warehouse, taxonomy, key, "testing")

    result = materialize(warehouse_resource)
    assert result.success
    md = metadata(result, ["unified", "session_topics"])
    assert md["manual_labels"] == 3 and md["classified"] == len(CI) - 3
    assert "every session was classified again" in md["reclassified_all"]
    assert md["classifier"].startswith("prototype:v2+minilm+3labels:")
    for key in ("ci-4",):
        taught = _rows(warehouse, key)[0]
        assert taught["topic_id"] == "testing", key
        assert any(t.startswith("label ci-") for t in taught["evidence_terms"])  # which label decided
    # What the labels did not speak about keeps its topic, without "testing" dragged in beside it.
    for key, topic in (("auth-1", "auth"), ("db-1", "database"), ("music-1", "music")):
        assert _topics(warehouse, key) == [topic], key

    # Labels unchanged: a new session is classified on its own, by what the labels taught.
    new = "Azure Pipelines: the build stage fails on the hosted agent with no space left on device."
    put_sessions(warehouse, {"ci-6": new + " Our self-hosted agent is fine."})
    result = materialize(warehouse_resource)
    md = metadata(result, ["unified", "session_topics"])
    assert md["classified"] == 1 and "reclassified_all" not in md
    assert _topics(warehouse, "ci-6")[0] == "testing"

    # Unlabelled again, the sessions fall back to the zero-shot reading.
    for key in ("ci-1", "ci-2", "ci-3"):
        assert unset_label(warehouse, key)
    result = materialize(warehouse_resource)
    assert metadata(result, ["unified", "session_topics"])["classified"] == len(CI) + 1
    assert _topics(warehouse, "ci-4")[0] == "deployment"


@pytest.mark.parametrize(
    ("session_key", "topic", "message"),
    [
        ("s-auth", "astrology", "unknown topic 'astrology'"),
        ("s-nope", "auth", "unknown session 's-nope'"),
        # the bare id a user sees in the transcript's name: the key it stands for is named
        (
            "abc-123",
            "auth",
            "unknown session 'abc-123': not in unified.sessions; did you mean 'claude:abc-123'",
        ),
        ("bc-123", "auth", r"unknown session 'bc-123': not in unified.sessions \(run a sync"),
    ],
)
def test_unknown_topic_or_session_writes_nothing(warehouse, warehouse_resource, session_key, topic, message):
    put_sessions(warehouse, {**SESSIONS, "claude:abc-123": "Fix the flaky login test."})
    assert materialize(warehouse_resource).success
    before = _plain(_rows(warehouse))
    with pytest.raises(LabelError, match=message):
        set_label(warehouse, load_taxonomy(), session_key, topic)
    assert _plain(_rows(warehouse)) == before
    assert not warehouse.table_exists(LABELS.schema, LABELS.name) or warehouse.row_count(LABELS) == 0


def test_cli_topic_set_and_unset(warehouse, chitty_home):
    put_sessions(warehouse, SESSIONS)
    env = {
        k: v for k, v in os.environ.items() if k == WAREHOUSE_URL or not k.startswith(("CHITTY_", "DAGSTER_"))
    }
    env.update({"CHITTY_HOME": str(chitty_home), "COLUMNS": "200"})

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "chitty_pipelines.cli", "topic", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    bad = cli("set", "s-auth", "astrology")
    assert bad.returncode == 2 and "unknown topic 'astrology'" in bad.stderr
    bad = cli("set", "s-missing", "auth")
    assert bad.returncode == 2 and "unknown session 's-missing'" in bad.stderr
    assert not warehouse.table_exists(LABELS.schema, LABELS.name)

    ok = cli("set", "s-odd", "music")
    assert ok.returncode == 0, ok.stderr
    assert warehouse.query(f"SELECT session_key, topic_id FROM {LABELS.sql_name}").values.tolist() == [
        ["s-odd", "music"]
    ]
    assert cli("unset", "s-odd").returncode == 0
    assert warehouse.row_count(LABELS) == 0
    again = cli("unset", "s-odd")
    assert again.returncode == 2 and "no manual topic label" in again.stderr
    # A topic's name or another case was "unknown topic" with no hint, and the list of topics
    # left out the subcategories a label takes; a subcategory's label said only "topic oauth".
    named = cli("set", "s-auth", "Authentication")
    assert named.returncode == 2 and "did you mean 'auth'?" in named.stderr, named.stderr
    assert "subcategories: oauth (auth)" in " ".join(named.stderr.split())
    assert cli("set", "s-auth", "TESTING").stderr.count("did you mean 'testing'?") == 1
    assert not warehouse.table_exists(LABELS.schema, LABELS.name) or warehouse.row_count(LABELS) == 0
    sub = cli("set", "s-auth", "oauth")
    assert sub.returncode == 0 and "s-auth: topic auth, subcategory oauth (manual)" in sub.stderr, sub.stderr


def test_unknown_topic_hint():
    taxonomy = load_taxonomy()
    assert taxonomy.suggest("Testing") == "testing" and taxonomy.suggest(" bug  FIX ") == "bugfix"
    assert taxonomy.suggest("Documentation") == "docs" and taxonomy.suggest("astrology") is None
