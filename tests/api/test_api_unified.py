"""API writes reach the unified tables: the hub_writes sensor asks for a unified_after_writes run
once per change (its cursor is the hub store's write counter), and that run takes the sessions
and todo lists posted to the API into unified.sessions / unified.todos."""

from __future__ import annotations

import dagster as dg
import pytest

from chitty_pipelines.chittyos.ids import ChittyIdResource
from chitty_pipelines.ops.defs import hub_writes_sensor
from chitty_pipelines.unified.projects import unified_projects
from chitty_pipelines.unified.sessions import unified_sessions
from chitty_pipelines.unified.todos import unified_todos
from tests.api.conftest import Server


def _tick(cursor: str | None) -> dg.SensorResult:
    return hub_writes_sensor(dg.build_sensor_context(cursor=cursor))


def test_api_writes_reach_unified(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHITTY_HOME", str(server.home))
    if server.warehouse_url:  # the sensor opens the hub store the way the server does
        monkeypatch.setenv("CHITTY_WAREHOUSE_URL", server.warehouse_url)
    first = _tick(None)
    cursor = first.cursor
    with server.client("write") as c:
        assert (
            c.post(
                "/api/session", json={"id": "uni-1", "projectId": "uni-proj", "aiPlatform": "gemini"}
            ).status_code
            == 201
        )
        sync = c.put(
            "/api/todos/uni-proj/sync",
            json={
                "sessionId": "uni-1",
                "todos": [
                    {"content": "land the API", "status": "in_progress"},
                    {"content": "bench it", "status": "pending"},
                ],
            },
        )
        assert sync.status_code == 200
    woke = _tick(cursor)
    assert len(woke.run_requests) == 1 and hub_writes_sensor.job_name == "unified_after_writes"
    assert int(woke.cursor) > int(cursor or 0)
    quiet = _tick(woke.cursor)
    assert not quiet.run_requests and "no hub write" in quiet.skip_reason.skip_message
    with server.client("write") as c:  # an idempotent repeat changes nothing: no new run
        assert c.post("/api/session", json={"id": "uni-1", "projectId": "uni-proj"}).status_code == 200
    assert not _tick(woke.cursor).run_requests

    from chitty_pipelines.definitions import defs

    job = defs.resolve_job_def("unified_after_writes")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"unified/projects", "unified/sessions", "unified/todos"} <= keys
    assert not any("topic" in k for k in keys)

    result = dg.materialize(
        [unified_projects, unified_sessions, unified_todos],
        resources={
            "warehouse": server.warehouse_resource(),
            "opstore": server.opstore_resource(),
            "chitty_id": ChittyIdResource(),
        },
    )
    assert result.success
    wh = server.warehouse_resource().get()
    session = wh.query("SELECT * FROM unified.sessions WHERE session_key = 'registered:uni-1'").iloc[0]
    assert session.project_key == "uni-proj" and session.status == "active"
    todos = wh.query(
        "SELECT content, status, project_key, added_by FROM unified.todos "
        "WHERE project_key = 'uni-proj' ORDER BY content"
    ).to_dict("records")
    assert todos == [
        {
            "content": "bench it",
            "status": "pending",
            "project_key": "uni-proj",
            "added_by": "registered:uni-1",
        },
        {
            "content": "land the API",
            "status": "in_progress",
            "project_key": "uni-proj",
            "added_by": "registered:uni-1",
        },
    ]
    with server.client("read") as c:  # the API's project list now includes the unified row
        reply = c.get("/api/project/uni-proj")
        assert reply.status_code == 200, reply.text
        project = reply.json()["project"]
        assert project["registered"] is True and project.get("idSource") == "local"


def test_registration_mints_a_chittyid_and_unified_keeps_it(tmp_path) -> None:
    from chitty_pipelines.chittyos.fake_id import FakeChittyIdService
    from chitty_pipelines.chittyos.identity import is_valid
    from tests.api.conftest import start_server

    with FakeChittyIdService(token="id-token") as fake:
        server = start_server(tmp_path, {"CHITTY_ID_URL": fake.base_url, "CHITTY_ID_TOKEN": "id-token"})
        try:
            with server.client("write") as c:
                session = c.post("/api/session", json={"id": "minted-1", "aiPlatform": "claude_code"}).json()
            chitty_id = session["session"]["chittyId"]
            assert session["session"]["idSource"] == "service" and is_valid(chitty_id)
            assert chitty_id in fake.minted
            result = dg.materialize(
                [unified_projects, unified_sessions],
                resources={"warehouse": server.warehouse_resource(),
                           "opstore": server.opstore_resource(),
                           "chitty_id": ChittyIdResource(base_url=fake.base_url, token="id-token")},
            )  # fmt: skip
            assert result.success
            row = (
                server.warehouse_resource()
                .get()
                .query(
                    "SELECT chitty_id, id_source FROM unified.sessions "
                    "WHERE session_key = 'registered:minted-1'"
                )
                .iloc[0]
            )
            assert (row.chitty_id, row.id_source) == (chitty_id, "service")  # one id, not a second mint
            assert len(fake.minted) == 1
        finally:
            server.stop()
    # the id service down: registration still succeeds, with the local id unified would give
    down = start_server(
        tmp_path / "down", {"CHITTY_ID_URL": "http://127.0.0.1:9", "CHITTY_ID_TOKEN": "id-token"}
    )
    try:
        with down.client("write") as c:
            resp = c.post("/api/session", json={"id": "local-1"})
        assert resp.status_code == 201
        assert resp.json()["session"]["idSource"] == "local"
        assert resp.json()["session"]["chittyId"].startswith("local-session-")
    finally:
        down.stop()
