"""unified/session_topics and unified/topics through the real Dagster runtime, on a unified.sessions
table written directly (the contract's columns), with the default (prototype) classifier."""

from __future__ import annotations

import dagster as dg
from topic_support import SESSIONS, checks, materialize, metadata, put_sessions

from chitty_pipelines.topics import load_taxonomy
from chitty_pipelines.unified.topic_classifier import TopicClassifierResource
from chitty_pipelines.unified.topic_tables import SESSION_TOPICS, STATE, TOPICS

SESSIONS_V1 = {
    "s-auth": "Add JWT auth to the API. Verify the bearer token on every request and refresh the "
    "access token when it expires.",
    "s-test": "Write pytest tests for the parser with fixtures and mocks; assert the exact counts.",
    "s-db": "Slow SQL query on Postgres. Which index should the events table get?",
    "s-empty": "",
}


def _topics(wh, key):
    df = wh.query(
        f"SELECT topic_id, rank, confidence, subcategories, evidence_terms, classifier "
        f"FROM {SESSION_TOPICS.sql_name} WHERE session_key = ? ORDER BY rank",
        [key],
    )
    return df.to_dict("records")


def test_classifies_sessions_and_builds_topics(warehouse, warehouse_resource):
    put_sessions(warehouse, SESSIONS_V1)
    result = materialize(warehouse_resource)
    assert result.success
    assert all(checks(result).values()), checks(result)
    assert set(checks(result)) == {
        "session_topics:unique_key",
        "session_topics:topics_in_taxonomy",
        "session_topics:confidence_in_range",
        "session_topics:sessions_exist",
        "session_topics:fresh",
        "topics:unique_key",
        "topics:topics_in_taxonomy",
    }

    auth = _topics(warehouse, "s-auth")
    assert auth[0]["topic_id"] == "auth" and auth[0]["rank"] == 1
    assert "oauth" in list(auth[0]["subcategories"])  # "access token" is oauth's own keyword
    assert {"jwt", "token"} <= set(auth[0]["evidence_terms"])
    assert auth[0]["classifier"] == "prototype:v2+minilm"
    assert 0.5 < auth[0]["confidence"] <= 1.0
    assert _topics(warehouse, "s-test")[0]["topic_id"] == "testing"
    assert _topics(warehouse, "s-db")[0]["topic_id"] == "database"
    assert _topics(warehouse, "s-empty") == []  # nothing to tell: no row, but classified

    meta = metadata(result, ["unified", "session_topics"])
    assert meta["sessions"] == 4 and meta["classified"] == 4 and meta["no_topic"] == 1
    assert meta["classifier"] == "prototype:v2+minilm"
    assert meta["dagster/row_count"] == warehouse.row_count(SESSION_TOPICS) == meta["rows_written"]

    taxonomy = load_taxonomy()
    rows = warehouse.query(f"SELECT * FROM {TOPICS.sql_name}").set_index("topic_id")
    assert sorted(rows.index) == sorted(taxonomy.ids)
    expected = warehouse.query(
        f"SELECT topic_id, count(*) AS n, avg(confidence) AS c FROM {SESSION_TOPICS.sql_name} GROUP BY ALL"
    ).set_index("topic_id")
    for topic_id, row in expected.iterrows():
        assert rows.loc[topic_id, "session_count"] == row["n"]
        assert abs(rows.loc[topic_id, "avg_confidence"] - round(row["c"], 4)) < 1e-9
    assert rows.loc["auth", "primary_session_count"] == 1
    assert rows.loc["oauth", "level"] == "subcategory" and rows.loc["oauth", "parent_topic_id"] == "auth"
    assert rows.loc["oauth", "session_count"] == 1
    assert rows.loc["music", "session_count"] == 0
    topics_meta = metadata(result, ["unified", "topics"])
    assert topics_meta["dagster/row_count"] == 37 and topics_meta["categories"] == 27
    assert topics_meta["classifiers"] == "prototype:v2+minilm"


def test_reruns_classify_only_changed_sessions(warehouse, warehouse_resource):
    put_sessions(warehouse, SESSIONS_V1)
    materialize(warehouse_resource)
    first = warehouse.query(f"SELECT session_key, classified_at FROM {STATE.sql_name}").set_index(
        "session_key"
    )

    again = materialize(warehouse_resource)
    meta = metadata(again, ["unified", "session_topics"])
    assert (meta["classified"], meta["unchanged"], meta["removed"]) == (0, 4, 0)

    # One summary changes (now about deployment), one session disappears.
    put_sessions(warehouse, {"s-db": "Deploy the worker to production with wrangler and a staging release."})
    with warehouse.transaction() as tx:
        tx.delete_where(SESSIONS, "session_key", ["s-test"])
    third = materialize(warehouse_resource)
    meta = metadata(third, ["unified", "session_topics"])
    assert (meta["classified"], meta["unchanged"], meta["removed"]) == (1, 2, 1)
    assert _topics(warehouse, "s-db")[0]["topic_id"] == "deployment"
    assert _topics(warehouse, "s-test") == []
    assert all(checks(third).values())
    state = warehouse.query(f"SELECT session_key, classified_at FROM {STATE.sql_name}").set_index(
        "session_key"
    )
    assert sorted(state.index) == ["s-auth", "s-db", "s-empty"]
    assert state.loc["s-auth", "classified_at"] == first.loc["s-auth", "classified_at"]
    assert state.loc["s-db", "classified_at"] > first.loc["s-db", "classified_at"]

    full = materialize(warehouse_resource, full_refresh=True)
    meta = metadata(full, ["unified", "session_topics"])
    assert (meta["classified"], meta["unchanged"], meta["full_refresh"]) == (3, 0, True)


def test_no_sessions_table_means_zero_rows_and_says_so(warehouse_resource, warehouse):
    result = materialize(warehouse_resource)
    assert result.success and all(checks(result).values())
    meta = metadata(result, ["unified", "session_topics"])
    assert meta["dagster/row_count"] == 0 and meta["sessions_table"] == "missing"
    assert "unified.sessions does not exist" in meta["reason"]
    topics_meta = metadata(result, ["unified", "topics"])
    assert topics_meta["sessions_table"] == "missing" and topics_meta["topics_with_sessions"] == 0
    assert warehouse.row_count(TOPICS) == 37


def test_blocking_check_fails_on_a_topic_outside_the_taxonomy(warehouse, warehouse_resource):
    put_sessions(warehouse, {"s1": "Write the README and a tutorial for new contributors."})
    materialize(warehouse_resource)
    # A row written by something else (an older taxonomy, a bad classifier), plus an orphan.
    with warehouse.transaction() as tx:
        tx.con.execute(
            f"INSERT INTO {SESSION_TOPICS.sql_name} VALUES ('s1', 'astrology', 1.5, 2, [], [], 'x', now()), "
            "('ghost', 'docs', 0.5, 1, ['oauth'], [], 'x', now())"
        )
    from chitty_pipelines.unified.topic_classifier import TopicClassifierResource
    from chitty_pipelines.unified.topics import session_topics, topics

    result = dg.materialize(
        [session_topics, topics],  # their checks run in their own steps
        selection=dg.AssetSelection.checks_for_assets(session_topics),
        resources={"warehouse": warehouse_resource, "topic_classifier": TopicClassifierResource()},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    by_name = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not by_name["topics_in_taxonomy"].passed
    assert by_name["topics_in_taxonomy"].metadata["unknown_topics"].value == "astrology"
    assert by_name["topics_in_taxonomy"].metadata["misplaced_subcategories"].value == "docs/oauth"
    assert not by_name["confidence_in_range"].passed
    assert by_name["confidence_in_range"].metadata["out_of_range"].value == 1
    assert not by_name["sessions_exist"].passed
    assert by_name["sessions_exist"].metadata["orphan_sessions"].value == 1
    assert by_name["unique_key"].passed and by_name["fresh"].passed


def test_freshness_check_sees_changed_sessions(warehouse, warehouse_resource):
    from chitty_pipelines.unified.topic_classifier import TopicClassifierResource
    from chitty_pipelines.unified.topics import session_topics, topics

    put_sessions(warehouse, {"s1": "Spotify playlist export to CSV."})
    materialize(warehouse_resource)
    put_sessions(warehouse, {"s1": "Transcode the video to HLS.", "s2": "Sentry alerts for errors."})
    result = dg.materialize(
        [session_topics, topics],  # their checks run in their own steps
        selection=dg.AssetSelection.checks_for_assets(session_topics),
        resources={"warehouse": warehouse_resource, "topic_classifier": TopicClassifierResource()},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    fresh = next(e for e in result.get_asset_check_evaluations() if e.check_name == "fresh")
    assert not fresh.passed and fresh.metadata["stale_sessions"].value == 2
    assert fresh.severity == dg.AssetCheckSeverity.WARN


class _NeverBuilt(TopicClassifierResource):
    def build(self, taxonomy=None):
        raise AssertionError("the classifier was built although no session needed it")


def test_no_session_to_classify_builds_no_classifier(warehouse, warehouse_resource):
    # A first sync of Neon or Notion alone: unified.sessions exists but is empty. Building the
    # default classifier fits it (1-2 s), for nothing; the step and its freshness check skip it.
    put_sessions(warehouse, {"s-gone": "Deploy the worker."})
    with warehouse.transaction() as tx:
        tx.delete_where(SESSIONS, "session_key", ["s-gone"])
    result = materialize(warehouse_resource, _NeverBuilt(), raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert all(checks(result).values()), checks(result)
    meta = metadata(result, ["unified", "session_topics"])
    assert (meta["sessions"], meta["classified"], meta["classifier"]) == (0, 0, "prototype")


def test_a_new_prototypes_version_classifies_every_session_again(
    warehouse, warehouse_resource, monkeypatch, tmp_path
):
    # An upgrade that changes the prototypes must not leave the old version's topics standing
    # beside the new one's: the label carries the version, and a new label re-classifies all.
    from chitty_pipelines.topics import prototypes

    current = prototypes.default_prototypes_path()
    older = tmp_path / "prototypes.yaml"
    older.write_text(current.read_text().replace("\nversion: 2\n", "\nversion: 1\n"))
    monkeypatch.setattr(prototypes, "default_prototypes_path", lambda: older)
    put_sessions(warehouse, SESSIONS_V1)
    assert materialize(warehouse_resource).success
    rows = warehouse.query(f"SELECT DISTINCT classifier FROM {SESSION_TOPICS.sql_name}")
    assert list(rows["classifier"]) == ["prototype:v1+minilm"]

    monkeypatch.setattr(prototypes, "default_prototypes_path", lambda: current)
    upgraded = materialize(warehouse_resource)
    meta = metadata(upgraded, ["unified", "session_topics"])
    assert (meta["classified"], meta["unchanged"]) == (4, 0)
    assert "the classifier changed (prototype:v1+minilm -> prototype:v2+minilm)" in meta["reclassified_all"]
    rows = warehouse.query(f"SELECT DISTINCT classifier FROM {SESSION_TOPICS.sql_name}")
    assert list(rows["classifier"]) == ["prototype:v2+minilm"]
    assert all(checks(upgraded).values()), checks(upgraded)
