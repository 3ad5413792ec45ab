"""``PUT /api/topic/<session key>`` records a manual topic label exactly like ``chitty-sync topic
set`` (ops.session_topic_labels, the session's manual row), against a real server process and its
own warehouse (DuckDB, or its own PostgreSQL database on the --warehouse=postgres pass): it wins
for its session across a re-sync and --full-refresh and teaches the classifier; bad input
(unknown topic or session, extra fields, read scope) writes nothing; a sync holding the DuckDB
warehouse gives 503; ``DELETE /api/topic/<session key>/label`` unsets it."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from chitty_pipelines.unified.topic_labels import LABELS
from chitty_pipelines.unified.topic_tables import SESSION_TOPICS
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.api.conftest import Server, start_server
from tests.topics.topic_support import materialize, put_sessions

Labelled = tuple[Server, WarehouseResource]

SESSIONS = {
    "claude_code:s-auth": "Add JWT auth to the API and refresh the access token when it expires.",
    "claude_code:s-odd": "Tidy the flower beds and plan which vegetables go where next spring.",
    "claude_code:s-db": "Slow SQL query on Postgres. Which index should the events table get?",
}
ODD = "claude_code:s-odd"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labelled]:
    # The server's own warehouse, whichever backend the suite runs on.
    server = start_server(tmp_path_factory.mktemp("api-labels"))
    resource = server.warehouse_resource()
    resource = WarehouseResource(path=resource.path, lock_timeout_s=120, url=resource.url)
    put_sessions(resource.get(), SESSIONS)
    assert materialize(resource).success
    yield server, resource
    server.stop()


def _state(resource: WarehouseResource) -> tuple[list[tuple], list[tuple]]:
    """(labels, session_topics rows), comparable with ==."""
    wh = resource.get()
    labels = wh.query(f"SELECT session_key, topic_id FROM {LABELS.sql_name} ORDER BY 1").values.tolist()
    rows = wh.query(
        f"SELECT session_key, topic_id, rank, classifier FROM {SESSION_TOPICS.sql_name} ORDER BY 1, 3"
    ).values.tolist()
    return [tuple(r) for r in labels] if wh.table_exists(LABELS.schema, LABELS.name) else [], [
        tuple(r) for r in rows
    ]


def test_put_records_a_label_that_wins_survives_and_teaches(
    labelled: Labelled,
) -> None:
    server, resource = labelled
    with server.client("write") as c:
        r = c.put(f"/api/topic/{ODD}", json={"category": "music"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert body["label"] == {"sessionKey": ODD, "topic": "music", "category": "music", "classifier": "manual"}
    labels, rows = _state(resource)
    assert labels == [(ODD, "music")]
    assert [row for row in rows if row[0] == ODD] == [(ODD, "music", 1, "manual")]

    for full_refresh in (False, True):
        assert materialize(resource, full_refresh=full_refresh).success
        labels, rows = _state(resource)
        assert labels == [(ODD, "music")]
        assert [row for row in rows if row[0] == ODD] == [(ODD, "music", 1, "manual")]
        # The others were classified by the classifier this label taught (its name says so).
        auth = [row for row in rows if row[0] == "claude_code:s-auth"]
        assert auth[0][1] == "auth" and auth[0][3].startswith("prototype:v2+minilm+1labels:")

    # A subcategory is kept as given and reported under its parent, as with the CLI.
    with server.client("write") as c:
        r = c.put("/api/topic/claude_code:s-db", json={"category": "cache"})
    assert r.status_code == 200, r.text
    assert r.json()["label"]["category"] == "performance"
    assert ("claude_code:s-db", "cache") in _state(resource)[0]

    # Unset through the API: the label and the session's manual row go; a second unset is a 404.
    with server.client("write") as c:
        assert c.delete(f"/api/topic/{ODD}/label").json() == {
            "success": True,
            "sessionKey": ODD,
            "removed": True,
            "note": "manual label removed; the next topicsync classifies it",
        }
        again = c.delete(f"/api/topic/{ODD}/label")
        assert again.status_code == 404 and "no manual topic label" in again.json()["error"]
        assert c.delete("/api/topic/claude_code:s-db/label").status_code == 200
    labels, rows = _state(resource)
    assert labels == [] and not [row for row in rows if row[0] == ODD]
    assert materialize(resource).success
    assert all(row[3] != "manual" for row in _state(resource)[1])


@pytest.mark.parametrize(
    ("key", "body", "status", "message"),
    [
        (ODD, {"category": "gardening"}, 400, "unknown topic 'gardening'"),
        (ODD, {"category": "documentation"}, 400, "did you mean 'docs'?"),  # a topic's name
        ("claude_code:nope", {"category": "music"}, 404, "no hub conversation or unified session"),
        ("s-odd", {"category": "music"}, 404, "did you mean 'claude_code:s-odd'?"),  # the bare id
        (ODD, {"category": "music", "confidence": 0.9}, 400, "takes only"),
        (ODD, {"content": "flowers"}, 400, "takes only"),
        (ODD, {"category": "Music!"}, 400, ""),  # the body's own validation
    ],
)
def test_bad_label_writes_nothing(labelled: Labelled, key, body, status, message) -> None:
    server, resource = labelled
    before = _state(resource)
    with server.client("write") as c:
        r = c.put(f"/api/topic/{key}", json=body)
    assert r.status_code == status, r.text
    assert r.json()["success"] is False and message in r.json()["error"]
    assert _state(resource) == before


def test_label_needs_write_scope(labelled: Labelled) -> None:
    server, resource = labelled
    before = _state(resource)
    with server.client("read") as c:
        assert c.put(f"/api/topic/{ODD}", json={"category": "music"}).status_code == 403
        assert c.delete(f"/api/topic/{ODD}/label").status_code == 403
    with server.client(None) as c:
        assert c.put(f"/api/topic/{ODD}", json={"category": "music"}).status_code == 401
    assert _state(resource) == before


@pytest.mark.duckdb_only("DuckDB's file lock; PostgreSQL writers do not lock readers out")
def test_a_sync_holding_the_warehouse_gives_503_and_writes_nothing(
    labelled: Labelled,
) -> None:
    server, resource = labelled
    before = _state(resource)
    held = duckdb.connect(resource.path)  # another process holding the write lock, as a sync does
    try:
        with server.client("write") as c:
            r = c.put(f"/api/topic/{ODD}", json={"category": "music"})
    finally:
        held.close()
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "5" and "nothing was written" in r.json()["error"]
    assert _state(resource) == before
    with server.client("write") as c:  # and once the lock is gone the same request goes through
        assert c.put(f"/api/topic/{ODD}", json={"category": "music"}).status_code == 200
        assert c.delete(f"/api/topic/{ODD}/label").status_code == 200


def test_a_hub_conversation_keeps_the_original_put(labelled: Labelled) -> None:
    server, resource = labelled
    before = _state(resource)
    with server.client("write") as c:
        assert c.post("/api/topic", json={"id": "conv-1", "category": "music"}).status_code == 201
        r = c.put("/api/topic/conv-1", json={"category": "gardening", "confidence": 0.7})
    assert r.status_code == 200, r.text
    assert r.json()["conversation"]["category"] == "gardening"
    assert _state(resource) == before


def test_a_subagent_session_key_with_a_hash_can_be_labelled(labelled: Labelled) -> None:
    """A Claude Code subagent's part is its own session, ``claude:<session>#agent-<id>``:
    ``chitty-sync topic set`` labelled it, but the API's path pattern refused the '#' (400
    "String should match pattern"), so it could neither be labelled nor unset over HTTP."""
    server, resource = labelled
    part = "claude_code:s-auth#agent-a1b2c3"
    put_sessions(resource.get(), {part: "Survey the web module and list its routes."})
    with server.client("write") as c:
        r = c.put("/api/topic/claude_code:s-auth%23agent-a1b2c3", json={"category": "routing"})
        assert r.status_code == 200, r.text
        assert r.json()["label"]["sessionKey"] == part
        assert (part, "routing") in _state(resource)[0]
        assert (part, "routing", 1, "manual") in _state(resource)[1]
        unknown = c.put("/api/topic/claude_code:s-auth%23agent-nope", json={"category": "routing"})
        assert unknown.status_code == 404, unknown.text
        assert c.delete("/api/topic/claude_code:s-auth%23agent-a1b2c3/label").status_code == 200
        assert part not in [k for k, _ in _state(resource)[0]]
        # conversations keep the hub's id rule: a '#' is never one
        assert c.put("/api/topic/a%23b", json={"category": "x", "confidence": 0.5}).status_code == 400
