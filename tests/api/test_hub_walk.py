"""What a walk of the hub as a team uses it found (hub-walk): a forged line in the access log, a
remote ``todos`` that mangled or cut what it printed, a hub that never answers costing three
timeouts, and another server's 404 read as "no todos". Real server processes over HTTP."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Server
from tests.api.test_cli_client import cli, machine


def test_a_request_path_cannot_forge_or_corrupt_access_log_lines(server: Server) -> None:
    forged = "/api/session/a%0a2026-12-06 12:00:00,000 INFO chitty_pipelines.api.access FORGED"
    with server.client("read") as c:
        assert c.get(forged).status_code == 400  # an invalid id: still logged
        assert c.get("/api/session/a%00b%1b[31m").status_code == 400
    # without a token too: the 401 is logged before anything else runs
    assert httpx.get(f"{server.url}/api/todos/x%0dFORGED-CR", timeout=10).status_code == 401
    deadline = time.monotonic() + 10
    while "FORGED-CR" not in server.log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.1)
    raw = server.log.read_bytes()
    assert b"\x00" not in raw and b"\x1b" not in raw and b"\r" not in raw
    lines = raw.decode().splitlines()
    assert not [line for line in lines if line.startswith("2026-12-06 12:00:00")]
    assert any('"GET /api/session/a%0A2026-12-06%2012:00:00' in line for line in lines)
    assert any('"GET /api/todos/x%0DFORGED-CR" 401' in line for line in lines)


def test_remote_todos_print_like_the_local_command(server: Server, tmp_path: Path) -> None:
    """Two machines, one project: the merged list piped from either machine is a markdown table of
    whole lines, in the local command's order, with the todo text exactly as posted."""
    a = machine(tmp_path, "a", server, server.tokens["write"])
    b = machine(tmp_path, "b", server, server.tokens["write"])
    sid_a, sid_b = "walk-a-" + "0" * 40, "walk-b-" + "1" * 40  # long: a box would cut them
    list_a = [
        {"content": "fix list[int] typing", "status": "completed"},
        {"content": "ship [bold]it[/bold]", "status": "pending"},
        {"content": "deploy", "status": "in_progress"},
    ]
    list_b = [
        {"content": "fix list[int] typing", "status": "pending"},  # stale: stays completed
        {"content": "ship [bold]it[/bold]", "status": "in_progress"},  # wins over pending
        {"content": "deploy", "status": "pending"},  # stays in_progress
        {"content": "docs", "status": "pending"},
    ]
    for env, sid, items in ((a, sid_a, list_a), (b, sid_b, list_b)):
        r = cli(env, "sessionsync", "--id", sid, "--project", "walked", "--platform", "claude_code",
                "--todos", "-", stdin=json.dumps(items))  # fmt: skip
        assert r.returncode == 0, r.stderr

    r = cli(a, "todos", "walked", "--all")
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0] == "| status | content | added by | added at | updated by | updated at |"
    table = [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[1:]]
    assert [(t[0], t[1]) for t in table] == [
        ("in_progress", "deploy"),
        ("in_progress", "ship [bold]it[/bold]"),
        ("pending", "docs"),
        ("completed", "fix list[int] typing"),
    ]
    by_content = {t[1]: t for t in table}
    assert by_content["ship [bold]it[/bold]"][2] == sid_a and by_content["ship [bold]it[/bold]"][4] == sid_b
    assert by_content["docs"][2] == sid_b
    assert "(3 open of 4;" in r.stdout
    assert "…" not in r.stdout and "┃" not in r.stdout

    listing = cli(b, "todos")
    assert listing.returncode == 0, listing.stderr
    assert "| project | open | in progress | pending | completed | sessions | last sync |" in listing.stdout
    assert any(line.startswith("| walked | 3 | 2 | 1 | 1 | 2 |") for line in listing.stdout.splitlines())

    st = cli(b, "status", "--no-health")
    assert st.returncode == 0, st.stderr
    assert f"| {sid_a} |" in st.stdout and "┃" not in st.stdout

    # a project the hub knows with no todos: nothing open (exit 0); one it does not know: exit 1
    with server.client("write") as c:
        assert c.post("/api/project", json={"id": "quiet", "name": "Quiet"}).status_code in (200, 201)
    quiet = cli(b, "todos", "quiet")
    assert quiet.returncode == 0 and "nothing open on quiet" in quiet.stdout
    assert json.loads(cli(b, "todos", "quiet", "--json").stdout)["todos"] == []
    unknown = cli(b, "todos", "no-such-project")
    assert unknown.returncode == 1 and "unknown project 'no-such-project'" in unknown.stderr


@pytest.fixture
def silent_hub() -> Iterator[tuple[str, list[socket.socket]]]:
    """A port that accepts connections and never answers (a stopped or wedged hub)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    stop.set()
    thread.join(5)
    for s in accepted:
        s.close()
    listener.close()


def test_a_hub_that_never_answers_costs_one_timeout_not_three(
    server: Server, tmp_path: Path, silent_hub: tuple[str, list[socket.socket]]
) -> None:
    url, accepted = silent_hub
    env = {**machine(tmp_path, "m", server, server.tokens["read"]), "CHITTY_SYNC_URL": url}
    env["CHITTY_SYNC_TIMEOUT_S"] = "1"
    r = cli(env, "todos")
    assert r.returncode == 1
    assert "no answer within 1 s (1 attempt)" in r.stderr and "CHITTY_SYNC_TIMEOUT_S" in r.stderr
    assert "CHITTY_SYNC_URL" in r.stderr and server.tokens["read"] not in r.stdout + r.stderr
    assert len(accepted) == 1  # the request was sent once: a read timeout is not retried

    bad = cli({**env, "CHITTY_SYNC_TIMEOUT_S": "0"}, "todos")
    assert bad.returncode == 1 and "CHITTY_SYNC_TIMEOUT_S='0' is out of range" in bad.stderr


class _NotAHub(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_another_servers_404_is_a_wrong_url_not_missing_todos(server: Server, tmp_path: Path) -> None:
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotAHub)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        env = {**machine(tmp_path, "m", server, server.tokens["read"])}
        env["CHITTY_SYNC_URL"] = f"http://127.0.0.1:{other.server_address[1]}"
        for args in (("todos",), ("todos", "walked")):
            r = cli(env, *args)
            assert r.returncode == 1, r.stdout
            assert "is CHITTY_SYNC_URL a chitty-sync hub?" in r.stderr, r.stderr
            assert "no todos" not in r.stdout + r.stderr and "None" not in r.stdout + r.stderr
    finally:
        other.shutdown()
        other.server_close()


def test_the_hubs_own_cli_answers_what_its_api_holds(server: Server, tmp_path: Path) -> None:
    """Before any sync the hub machine's ``chitty-sync todos`` said "no todos yet" while its API
    answered the lists machines had posted: now both print the same merged table."""
    items = [
        {"content": "review [the] plan", "status": "in_progress"},
        {"content": "merge", "status": "pending"},
    ]
    with server.client("write") as c:
        for sid, status in (("hub-own-1", "pending"), ("hub-own-2", "completed")):
            body = {"sessionId": sid, "todos": [*items, {"content": "tag", "status": status}]}
            assert c.put("/api/todos/hubown/sync", json=body).status_code == 200
    on_hub = {k: v for k, v in server.env.items() if k not in ("CHITTY_SYNC_URL", "CHITTY_SYNC_TOKEN")}
    remote = machine(tmp_path, "r", server, server.tokens["read"])

    def rows(out: str) -> list[str]:
        return [line for line in out.splitlines() if line.startswith("| ")]

    local, far = cli(on_hub, "todos", "hubown", "--all"), cli(remote, "todos", "hubown", "--all")
    assert local.returncode == 0 and far.returncode == 0, local.stderr + far.stderr
    assert "from the hub store" in local.stderr
    assert rows(local.stdout) == rows(far.stdout)
    assert rows(local.stdout)[1].startswith("| in_progress | review [the] plan | hub-own-1 |")
    assert "| completed | tag | hub-own-1 |" in local.stdout
    assert json.loads(cli(on_hub, "todos", "hubown", "--json").stdout)["todos"] == [
        *json.loads(cli(remote, "todos", "hubown", "--json").stdout)["todos"]
    ]
    listing = cli(on_hub, "todos")
    assert listing.returncode == 0 and any(
        line.startswith("| hubown | 2 | 1 | 1 | 1 | 2 |") for line in rows(listing.stdout)
    )


def test_topics_lists_the_same_categories_on_the_hub_and_from_a_machine(
    server: Server, tmp_path: Path
) -> None:
    """There was no way to read topics from the CLI (README listed a `topics` table): `chitty-sync
    topics [CATEGORY]` answers GET /api/topic[/CATEGORY], remotely or on the hub itself."""
    with server.client("write") as c:
        for cid, body in (
            ("walk-c1", {"content": "fix the postgres migration and the index"}),
            ("walk-c2", {"category": "walkdocs", "content": "notes [draft] for the README"}),
            ("walk-c3", {"category": "walkdocs", "confidence": 0.25}),
        ):
            assert c.post("/api/topic", json={"id": cid, **body}).status_code == 201
        derived = c.get("/api/topic").json()
    on_hub = {k: v for k, v in server.env.items() if k not in ("CHITTY_SYNC_URL", "CHITTY_SYNC_TOKEN")}
    remote = machine(tmp_path, "t", server, server.tokens["read"])

    def rows(out: str) -> list[str]:
        return [line for line in out.splitlines() if line.startswith("| ")]

    for args in (("topics",), ("topics", "walkdocs")):
        local, far = cli(on_hub, *args), cli(remote, *args)
        assert local.returncode == 0 and far.returncode == 0, local.stderr + far.stderr
        assert rows(local.stdout) == rows(far.stdout) and len(rows(far.stdout)) > 1
    listing = rows(cli(remote, "topics").stdout)
    assert any(line.startswith("| walkdocs | 2 | 0.38 |") for line in listing)  # (0.5 + 0.25) / 2
    assert {t["category"] for t in derived["topics"]} <= {line.split(" | ")[0][2:] for line in listing}
    convs = rows(cli(on_hub, "topics", "walkdocs").stdout)
    assert any(
        line.startswith("| walk-c2 | 0.50 | client |") and "notes [draft] for the README" in line
        for line in convs
    )
    as_json = json.loads(cli(remote, "topics", "walkdocs", "--json").stdout)
    assert as_json == {**json.loads(cli(on_hub, "topics", "walkdocs", "--json").stdout), "success": True}
    for env in (on_hub, remote):
        assert cli(env, "topics", "no-such-topic").returncode == 1
        bad = cli(env, "topics", "../etc")
        assert bad.returncode == 1 and "invalid category" in bad.stderr


def test_an_id_cannot_walk_the_client_to_another_route(server: Server, tmp_path: Path) -> None:
    """`sessionsync --end ../todos/P` was sent as DELETE /api/todos/P (the URL's dot segments
    resolved) and cleared every machine's lists on P, answering "Todos cleared"; `--heartbeat
    ../project/X` registered a project X. Ids are checked against the hub's rule before sending."""
    with server.client("write") as c:
        body = {"sessionId": "keeper", "todos": [{"content": "keep me", "status": "pending"}]}
        assert c.put("/api/todos/kept/sync", json=body).status_code == 200
    env = machine(tmp_path, "w", server, server.tokens["admin"])
    for args in (
        ("sessionsync", "--end", "../todos/kept"),
        ("sessionsync", "--heartbeat", "../project/walked-in"),
        ("sessionsync", "--heartbeat", ".."),
        ("todos", "../session"),
    ):
        r = cli(env, *args)
        assert r.returncode == 1 and "as the hub requires" in r.stderr, (args, r.stdout, r.stderr)
    with server.client("read") as c:
        assert [t["content"] for t in c.get("/api/todos/kept").json()["todos"]] == ["keep me"]
        assert c.get("/api/project/walked-in").status_code == 404
    # a hook event with such an id is logged and dropped, never spooled (it would block the spool)
    event = {"hook_event_name": "SessionEnd", "session_id": "../todos/kept", "cwd": str(tmp_path)}
    hook = cli(env, "hooks", "run", "SessionEnd", stdin=json.dumps(event))
    assert hook.returncode == 0
    home = Path(env["CHITTY_HOME"])
    assert "invalid session id" in (home / "hooks" / "hooks.log").read_text()
    assert (
        not list((home / "hooks" / "spool").glob("*.json")) if (home / "hooks" / "spool").exists() else True
    )


def test_twenty_writers_on_one_projects_todos_lose_nothing(server: Server) -> None:
    """20 machines posting lists to one project at once: every answer 200 (no 5xx, no "database
    is locked"), every item kept, the merge rule holding for the item they all report."""
    from concurrent.futures import ThreadPoolExecutor

    statuses = ("pending", "in_progress", "completed")

    def writer(i: int) -> list[int]:
        codes = []
        with server.client("write") as c:
            for k in range(5):
                todos = [
                    {"content": f"w{i}-k{k}", "status": "pending"},
                    {"content": "shared item", "status": statuses[(i + k) % 3]},
                ]
                codes.append(
                    c.put(
                        "/api/todos/crowd/sync", json={"sessionId": f"crowd-{i}", "todos": todos}
                    ).status_code
                )
        return codes

    with ThreadPoolExecutor(20) as pool:
        codes = [code for batch in pool.map(writer, range(20)) for code in batch]
    assert codes == [200] * 100
    with server.client("read") as c:
        body = c.get("/api/todos/crowd").json()
    items = {t["content"]: t["status"] for t in body["todos"]}
    assert len(items) == 101 and items["shared item"] == "completed"
    assert body["totalUpdates"] == 100 and len(body["sessions"]) == 20
    assert "locked" not in server.log.read_text()


def test_who_categorised_a_conversation_is_kept(server: Server) -> None:
    """POST /api/topic answered categorizedBy "server:tfidf" and every later read said "client"
    (it was never stored); an update without a category kept nothing either."""
    with server.client("write") as c:
        posted = c.post("/api/topic", json={"id": "by-1", "content": "fix the flaky pytest fixtures"})
        assert posted.status_code == 201
        assert posted.json()["conversation"]["categorizedBy"] == "server:tfidf"
        category = posted.json()["conversation"]["category"]
        read = {x["id"]: x for x in c.get(f"/api/topic/{category}").json()["conversations"]}
        assert read["by-1"]["categorizedBy"] == "server:tfidf"
        kept = c.put("/api/topic/by-1", json={"file": "notes.md"}).json()["conversation"]
        assert kept["categorizedBy"] == "server:tfidf" and kept["category"] == category
        again = c.post("/api/topic", json={"id": "by-1", "content": "more words"})
        assert again.status_code == 200 and again.json()["conversation"]["categorizedBy"] == "server:tfidf"
        moved = c.put("/api/topic/by-1", json={"category": "walkdocs"}).json()["conversation"]
        assert moved["categorizedBy"] == "client"
        listed = {x["id"]: x for x in c.get("/api/topic/walkdocs").json()["conversations"]}
        assert listed["by-1"]["categorizedBy"] == "client"


def test_a_hub_store_from_before_gets_the_column(tmp_path: Path) -> None:
    """A SQLite hub store written before categorized_by existed opens, and keeps who chose."""
    import sqlite3

    from chitty_pipelines.warehouse.hubstore import HubStore

    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE topic_conversations (conversation_id TEXT PRIMARY KEY, category TEXT NOT NULL, "
        "subcategories TEXT NOT NULL DEFAULT '[]', confidence REAL NOT NULL, file TEXT, "
        "content_preview TEXT, categorized_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    con.execute("INSERT INTO topic_conversations VALUES ('old-1', 'docs', '[]', 0.5, NULL, NULL, 't', 't')")
    con.commit()
    con.close()
    hub = HubStore(path)
    assert hub.conversation("old-1")["categorized_by"] is None  # read as "client", as before
    record = {"conversation_id": "new-1", "category": "testing", "subcategories": [], "confidence": 0.9}
    hub.upsert_conversation({**record, "categorized_by": "server:tfidf"})
    assert hub.conversation("new-1")["categorized_by"] == "server:tfidf"


def test_the_hubs_own_status_counts_what_its_api_counts(server: Server, tmp_path: Path) -> None:
    """Before a sync the hub's `chitty-sync status` said "0 sessions" while GET /api/status said
    how many machines had registered: it now has a hub store line with the API's counts."""
    with server.client("write") as c:
        assert (
            c.post("/api/session", json={"id": "status-walk-1", "projectId": "statuswalk"}).status_code == 201
        )
        api = c.get("/api/status").json()
    on_hub = {k: v for k, v in server.env.items() if k not in ("CHITTY_SYNC_URL", "CHITTY_SYNC_TOKEN")}
    r = cli(on_hub, "status", "--no-health")
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("hub store: "))
    sessions = api["sessions"]
    assert f"{sessions['total']} sessions ({sessions['active']} active)" in line
    assert f"{api['projects']['registered']} projects" in line
    assert f"{api['topics']['total_conversations']} filed conversations" in line
    fresh = {**on_hub, "CHITTY_HOME": str(tmp_path / "fresh")}
    if "CHITTY_WAREHOUSE_URL" not in fresh:  # a machine with nothing registered: no line
        assert "hub store:" not in cli(fresh, "status", "--no-health").stdout


def test_a_nul_character_is_named_by_its_field(server: Server) -> None:
    """The NUL check ran on the whole body: details said {"field": "body"} for any field."""
    with server.client("write") as c:
        for path, body, field in (
            ("/api/session", {"id": "nul-f", "machineId": "m\x00"}, "machineId"),
            ("/api/project", {"id": "nul-p", "gitRemote": "g\x00"}, "gitRemote"),
            ("/api/topic", {"id": "nul-t", "content": "x\x00"}, "content"),
            ("/api/todos/nul/sync", {"sessionId": "s", "todos": [{"content": "a\x00", "status": "pending"}]},
             "todos.0.content"),
        ):  # fmt: skip
            r = c.request("PUT" if path.endswith("/sync") else "POST", path, json=body)
            assert r.status_code == 400, r.text
            reply = r.json()
            assert reply["details"][0]["field"] == field and "U+0000" in reply["details"][0]["problem"]
            assert reply["error"].startswith(f"invalid input: {field}: ")
