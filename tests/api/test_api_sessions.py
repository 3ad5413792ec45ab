"""Sessions, projects and todos through a real server: 201 only for a new record, 200 for an
update or an idempotent repeat; heartbeats really write; two clients heartbeating one session at
once lose no update and make no duplicate; todo lists merge with the original's rules."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.api.conftest import Server


def test_session_201_then_200_and_heartbeat_writes(server: Server) -> None:
    with server.client("write") as c:
        body = {
            "id": "sess-a",
            "projectId": "proj-a",
            "aiPlatform": "claude_code",
            "machineId": "m1",
            "metadata": {"pwd": "/work/proj-a"},
        }
        first = c.post("/api/session", json=body)
        assert first.status_code == 201 and first.json()["success"] is True
        s = first.json()["session"]
        assert first.json()["created"] is True
        assert s["status"] == "active" and s["projectId"] == "proj-a" and s["idSource"] == "local"
        assert s["chittyId"].startswith("local-session-")
        again = c.post("/api/session", json=body)
        assert again.status_code == 200 and again.json()["created"] is False
        assert again.json()["session"]["chittyId"] == s["chittyId"]

        hb = c.put("/api/session/sess-a", json={"metadata": {"model": "opus"}})
        assert hb.status_code == 200
        after = hb.json()["session"]
        assert after["lastActiveAt"] > s["lastActiveAt"]
        assert after["heartbeats"] == 1
        assert after["metadata"] == {"pwd": "/work/proj-a", "model": "opus"}
        # heartbeat with no body at all
        assert c.put("/api/session/sess-a").json()["session"]["heartbeats"] == 2

        ended = c.delete("/api/session/sess-a")
        assert ended.status_code == 200
        assert ended.json()["session"]["status"] == "inactive" and ended.json()["session"]["endedAt"]
        assert c.delete("/api/session/sess-a").status_code == 200  # idempotent
        late = c.put("/api/session/sess-a", json={})
        assert late.status_code == 409 and late.json()["success"] is False

    stored = server.hub.session("sess-a")
    assert stored["project_key"] == "proj-a" and stored["ended_at"] and stored["heartbeats"] == 2
    with server.client("read") as c:
        listed = c.get("/api/session", params={"projectId": "proj-a"}).json()
        assert [x["id"] for x in listed["sessions"]] == ["sess-a"] and listed["total"] == 1
        assert c.get("/session/sess-a").json()["session"]["status"] == "inactive"  # the /session alias


def test_concurrent_heartbeats_lose_nothing(server: Server) -> None:
    with server.client("write") as c:
        assert c.post("/api/session", json={"id": "sess-conc", "aiPlatform": "gemini"}).status_code == 201
    per_client, clients = 25, 2
    barrier = threading.Barrier(clients)

    def beat(n: int) -> list[int]:
        codes = []
        with server.client("write") as c:
            barrier.wait()
            for i in range(per_client):
                r = c.put("/api/session/sess-conc", json={"metadata": {f"client{n}": i}})
                codes.append(r.status_code)
        return codes

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(beat, range(clients)))
    assert all(code == 200 for codes in results for code in codes)
    rows = [r for r in server.hub.sessions() if r["session_id"] == "sess-conc"]
    assert len(rows) == 1  # no duplicate row
    row = rows[0]
    assert row["heartbeats"] == per_client * clients  # no lost update
    import json

    assert json.loads(row["metadata"]) == {"client0": per_client - 1, "client1": per_client - 1}


def test_concurrent_registration_of_one_id_creates_one(server: Server) -> None:
    barrier = threading.Barrier(4)

    def register(_n: int) -> int:
        with server.client("write") as c:
            barrier.wait()
            return c.post("/api/session", json={"id": "sess-race", "aiPlatform": "chatgpt"}).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(register, range(4)))
    assert codes == [200, 200, 200, 201]
    assert sum(1 for r in server.hub.sessions() if r["session_id"] == "sess-race") == 1


def test_project_201_200_get_delete(server: Server) -> None:
    with server.client("admin") as c:
        r = c.post("/api/project", json={"id": "proj-b", "name": "Project B"})
        assert r.status_code == 201 and r.json()["project"]["registered"] is True
        assert c.post("/api/project", json={"id": "proj-b", "name": "Project B"}).status_code == 200
        put = c.put("/api/project/proj-b", json={"path": "/src/b"})
        assert put.status_code == 200 and put.json()["project"]["path"] == "/src/b"
        assert put.json()["project"]["name"] == "Project B"
        assert c.put("/api/project/proj-new", json={}).status_code == 201
        by_name = c.post("/api/project", json={"name": "My Cool Project"})
        assert by_name.status_code == 201 and by_name.json()["project"]["id"] == "my-cool-project"
        got = c.get("/api/project/proj-b").json()
        assert got["project"]["id"] == "proj-b" and got["totalSessions"] == 0
        ids = [p["id"] for p in c.get("/project").json()["projects"]]
        assert {"proj-b", "proj-new", "my-cool-project"} <= set(ids)
        assert c.delete("/api/project/proj-b").status_code == 200
        assert c.get("/api/project/proj-b").status_code == 404
        assert c.delete("/api/project/proj-b").status_code == 404


def test_todo_merge_through_the_api(server: Server) -> None:
    with server.client("write") as c:
        first = c.put(
            "/api/todos/proj-t/sync",
            json={
                "sessionId": "sess-1",
                "todos": [
                    {"content": "write tests", "status": "in_progress", "activeForm": "Writing tests"},
                    {"content": "ship it", "status": "pending"},
                ],
            },
        )
        assert first.status_code == 200, first.text
        assert first.json()["added"] == 2 and first.json()["updated"] == 0 and first.json()["totalTodos"] == 2
        # another session: an old list must not re-open finished work; a new item is added by it
        second = c.put(
            "/api/todos/proj-t/sync",
            json={
                "sessionId": "sess-2",
                "todos": [
                    {"content": "write tests", "status": "completed"},
                    {"content": "ship it", "status": "pending"},
                    {"content": "write docs", "status": "pending"},
                ],
            },
        )
        body = second.json()
        assert body["added"] == 1 and body["updated"] == 1
        third = c.put(
            "/api/todos/proj-t/sync",
            json={
                "sessionId": "sess-1",
                "todos": [
                    {"content": "write tests", "status": "in_progress"},
                ],
            },
        )
        assert third.json()["added"] == 0 and third.json()["updated"] == 0
        todos = {t["content"]: t for t in third.json()["todos"]}
        assert todos["write tests"]["status"] == "completed"
        assert todos["write tests"]["addedBy"] == "sess-1" and todos["write tests"]["updatedBy"] == "sess-2"
        assert todos["write tests"]["activeForm"] == "Writing tests"
        assert todos["write docs"]["addedBy"] == "sess-2" and todos["write docs"]["updatedBy"] is None
        assert todos["ship it"]["status"] == "pending"
        v1 = c.post(
            "/api/v1/todos/sync",
            json={
                "projectId": "proj-t",
                "sessionId": "sess-3",
                "todos": [{"content": "ship it", "status": "completed"}],
            },
        )
        assert v1.status_code == 200 and v1.json()["updated"] == 1

    with server.client("read") as c:
        got = c.get("/api/todos/proj-t").json()
        assert got["sessions"] == ["sess-1", "sess-2", "sess-3"] and got["totalUpdates"] == 4
        summary = {p["projectId"]: p for p in c.get("/api/todos").json()["projects"]}["proj-t"]
        assert (summary["todoCount"], summary["completedTodos"], summary["pendingTodos"]) == (3, 2, 1)
    with server.client("write") as c:
        assert c.delete("/api/todos/proj-t").json()["removed"] == 7  # items of the 4 lists
        assert c.get("/api/todos/proj-t").status_code == 404


def test_topics_with_and_without_category(server: Server) -> None:
    with server.client("write") as c:
        r = c.post("/api/topic", json={"id": "conv-1", "category": "testing", "content": "pytest fixtures"})
        assert r.status_code == 201 and r.json()["conversation"]["category"] == "testing"
        assert c.post("/api/topic", json={"id": "conv-1", "category": "testing"}).status_code == 200
        derived = c.post(
            "/api/topic", json={"id": "conv-2", "content": "fix the failing database migration in postgres"}
        )
        assert derived.status_code == 201
        conv = derived.json()["conversation"]
        assert conv["categorizedBy"] == "server:tfidf" and conv["category"]
        assert c.post("/api/topic", json={"id": "conv-3"}).status_code == 400
        # exact keys (fix 4): "conv" is not a substring match of conv-1
        assert c.put("/api/topic/conv", json={"category": "docs"}).status_code == 404
        assert (
            c.put("/api/topic/conv-1", json={"category": "docs"}).json()["conversation"]["category"] == "docs"
        )
        assert c.get("/api/topic/docs").json()["count"] == 1
        assert c.delete("/api/topic/conv-1").status_code == 200
        assert c.delete("/api/topic/conv-1").status_code == 404


def test_session_page_and_status_match_their_models(server: Server) -> None:
    """The two hot reads skip FastAPI's response validation (models.fast_reply/model_reply): their
    bodies must still be exactly what their reply models accept and would produce."""
    from chitty_pipelines.api import models as m

    with server.client("write") as c:
        for i in range(3):
            body = {
                "id": f"page-{i}",
                "projectId": "proj-p",
                "aiPlatform": "claude_code",
                "metadata": {"n": i},
            }
            assert c.post("/api/session", json=body).status_code == 201
        c.delete("/api/session/page-2")
    with server.client("read") as c:
        page = c.get("/api/session", params={"limit": 2, "projectId": "proj-p"}).json()
        status = c.get("/api/status").json()
    reply = m.SessionListReply.model_validate(page)
    assert reply.model_dump(mode="json") == page  # no field the model would drop or change
    assert len(page["sessions"]) == 2 and page["total"] == 3 and page["limit"] == 2
    assert {s["status"] for s in page["sessions"]} <= {"active", "inactive"}
    assert m.StatusReply.model_validate(status).model_dump(mode="json") == status


def test_a_lone_surrogate_in_metadata_never_makes_sessions_unreadable(server: Server) -> None:
    """JSON may carry a lone surrogate ("\\udc80", as JavaScript's JSON.stringify writes one).
    It was stored, then every response holding the session failed: the registration itself, its
    GET and the whole listing (500). Now it becomes U+FFFD; a row stored before reads so too."""
    with server.client("write") as c:
        body = '{"id": "surrogate-meta", "aiPlatform": "claude_code", "metadata": {"cwd": "/a/\\udc80"}}'
        r = c.post("/api/session", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 201, r.text
        assert r.json()["session"]["metadata"] == {"cwd": "/a/\ufffd"}
        beat = '{"metadata": {"note": "x\\ud800y"}}'
        r = c.put("/api/session/surrogate-meta", content=beat, headers={"content-type": "application/json"})
        assert r.status_code == 200 and r.json()["session"]["metadata"]["note"] == "x\ufffdy", r.text
    server.hub.register_session("surrogate-old", "claude_code", metadata={"cwd": "/b/\udc80"})
    with server.client("read") as c:
        assert c.get("/api/session/surrogate-old").json()["session"]["metadata"] == {"cwd": "/b/\ufffd"}
        r = c.get("/api/session", params={"limit": 500})
        assert r.status_code == 200, r.text
        assert {"surrogate-meta", "surrogate-old"} <= {s["id"] for s in r.json()["sessions"]}
