"""The CLI as a client of a hub (issue 12, outcome 4): one real ``chitty-sync serve`` on a free
port; two CLI processes with their own CHITTY_HOME play two machines sharing that hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import Server, free_port


def machine(tmp: Path, name: str, server: Server, token: str | None) -> dict[str, str]:
    home = tmp / name
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CHITTY_HOME": str(home / "chitty"),
        "CLAUDE_HOME": str(home / "claude"),
        "CHITTY_SYNC_URL": server.url,
        "CHITTY_SYNC_TIMEOUT_S": "10",
    }
    for var in ("CHITTY_WAREHOUSE_PATH", "DAGSTER_HOME", "CHITTY_OPSTORE_PATH", "CLAUDE_CONFIG_DIR"):
        env.pop(var, None)
    if token:
        env["CHITTY_SYNC_TOKEN"] = token
    else:
        env.pop("CHITTY_SYNC_TOKEN", None)
    return env


def cli(env: dict[str, str], *args: str, cwd: Path | None = None, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "chitty_pipelines.cli", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_two_machines_see_each_others_sessions_and_todos(server: Server, tmp_path: Path) -> None:
    a = machine(tmp_path, "a", server, server.tokens["write"])
    b = machine(tmp_path, "b", server, server.tokens["write"])
    todos_a = tmp_path / "a.json"
    todos_a.write_text(json.dumps([{"content": "write the client", "status": "in_progress"}]))
    todos_b = tmp_path / "b.json"
    todos_b.write_text(
        json.dumps(
            {
                "todos": [
                    {"content": "write the client", "status": "completed", "activeForm": "Writing"},
                    {"content": "bench the hub", "status": "pending"},
                ]
            }
        )
    )
    ra = cli(a, "sessionsync", "--id", "machine-a-1", "--project", "shared", "--platform", "claude_code",
             "--todos", str(todos_a))  # fmt: skip
    assert ra.returncode == 0, ra.stderr
    assert ra.stdout.strip() == "machine-a-1"  # stdout: only the id, as the local command
    rb = cli(b, "sessionsync", "--id", "machine-b-1", "--project", "shared", "--platform", "gemini",
             "--todos", "-", stdin=todos_b.read_text())  # fmt: skip
    assert rb.returncode == 0, rb.stderr
    assert "registered" in rb.stderr and server.url in rb.stderr

    # A sees B's session (and its own), with B's platform; nothing was written on A's machine.
    st = cli(a, "status", "--json", "--no-health")
    assert st.returncode == 0, st.stderr
    doc = json.loads(st.stdout)
    sessions = {s["id"]: s for s in doc["sessions"]["sessions"]}
    assert sessions["machine-b-1"]["aiPlatform"] == "gemini"
    assert sessions["machine-a-1"]["projectId"] == "shared"
    assert set(doc["status"]["platforms"]) >= {"neon", "notion", "github", "drive", "cloudflare"}
    assert not (tmp_path / "a" / "chitty" / "warehouse.duckdb").exists()
    # with the platform probes (GET /<p>/health on the hub; the local tools share /local)
    full = cli(b, "status", "--json")
    assert full.returncode == 0, full.stderr
    probes = json.loads(full.stdout)["health"]
    assert "local" in probes and "claude_code" not in probes
    assert probes["neon"]["status"] == "not_configured"
    text = cli(b, "status")
    assert text.returncode == 0 and "machine-a-1" in text.stdout and server.url in text.stdout

    # B sees the merged list: A's in_progress item completed by B, B's new item pending.
    td = cli(b, "todos", "shared", "--json")
    assert td.returncode == 0, td.stderr
    merged = {t["content"]: t for t in json.loads(td.stdout)["todos"]}
    assert merged["write the client"]["status"] == "completed"
    assert merged["write the client"]["addedBy"] == "machine-a-1"
    assert merged["write the client"]["updatedBy"] == "machine-b-1"
    assert merged["bench the hub"]["status"] == "pending"
    td_a = cli(a, "todos", "--json")
    assert [p["projectId"] for p in json.loads(td_a.stdout)["projects"]] == ["shared"]

    # Heartbeat from A reaches the hub; B ends its session; a heartbeat after the end is refused.
    hb = cli(a, "sessionsync", "--heartbeat", "machine-a-1")
    assert hb.returncode == 0, hb.stderr
    assert server.hub.session("machine-a-1")["heartbeats"] == 1
    end = cli(b, "sessionsync", "--end", "machine-b-1")
    assert end.returncode == 0, end.stderr
    assert server.hub.session("machine-b-1")["ended_at"]
    late = cli(b, "sessionsync", "--heartbeat", "machine-b-1")
    assert late.returncode == 1 and "ended" in late.stderr

    # projectsync registers on the hub (POST /api/project), no local run.
    folder = tmp_path / "My Project"
    folder.mkdir()
    ps = cli(a, "projectsync", str(folder))
    assert ps.returncode == 0, ps.stderr
    assert server.hub.project("my-project")["path"] == str(folder)


def test_errors_name_the_variable_and_never_the_token(server: Server, tmp_path: Path) -> None:
    bad = "chs_" + "x" * 43
    env = machine(tmp_path, "bad", server, bad)
    r = cli(env, "sessionsync", "--id", "nope-1")
    assert r.returncode == 1
    assert "CHITTY_SYNC_TOKEN" in r.stderr and "401" in r.stderr
    assert bad not in r.stdout + r.stderr
    assert server.hub.session("nope-1") is None

    reader = machine(tmp_path, "reader", server, server.tokens["read"])
    r = cli(reader, "sessionsync", "--id", "nope-2")
    assert r.returncode == 1 and "403" in r.stderr and "CHITTY_SYNC_TOKEN" in r.stderr
    assert server.tokens["read"] not in r.stdout + r.stderr

    none = machine(tmp_path, "none", server, None)
    r = cli(none, "status", "--no-health")
    assert r.returncode == 1 and "set CHITTY_SYNC_TOKEN" in r.stderr

    down = {**env, "CHITTY_SYNC_URL": f"http://127.0.0.1:{free_port()}", "CHITTY_SYNC_TIMEOUT_S": "1"}
    r = cli(down, "todos")
    assert r.returncode == 1 and "CHITTY_SYNC_URL" in r.stderr
    assert bad not in r.stdout + r.stderr


@pytest.mark.parametrize("scope", ["read"])
def test_check_probes_the_hub(server: Server, tmp_path: Path, scope: str) -> None:
    """ChittyCheck test 12 probes CHITTY_SYNC_URL's /health; test 13 reads the hub's status."""
    env = machine(tmp_path, "check", server, server.tokens[scope])
    env["CHITTY_OPS_TIMEOUT"] = "2"
    env["CHITTY_SERVICE_URLS"] = ",".join(
        f"{n}=http://127.0.0.1:{free_port()}" for n in ("identity", "canon", "gateway", "auth", "schema")
    )
    env["CHITTY_REGISTER_URL"] = f"http://127.0.0.1:{free_port()}"
    env["CHITTY_REGISTRY_URL"] = f"http://127.0.0.1:{free_port()}"
    r = cli(env, "check", "--json")
    doc = json.loads(r.stdout)
    lines = {(x["test"], x["name"]): x for x in doc["lines"]}
    assert lines[(12, "sync")]["verdict"] == "PASS", lines[(12, "sync")]
    assert lines[(12, "identity")]["verdict"] != "PASS"  # the others are down: the probe is real
    sync13 = lines[(13, "sync status")]
    assert sync13["verdict"] in ("PASS", "WARN") and sync13["reason"].startswith("hub"), sync13


def test_sync_registered_with_public_url_and_probed_at_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    from chitty_pipelines.chittyos.catalogue import core_services
    from chitty_pipelines.chittyos.register import legacy_body, v1_body
    from chitty_pipelines.chittyos.resource import ChittyServicesResource

    monkeypatch.setenv("CHITTY_SYNC_URL", "http://10.0.0.5:8787/")
    sync = next(s for s in core_services() if s.name == "sync")
    assert (sync.url, sync.probe_url) == ("http://10.0.0.5:8787", "http://10.0.0.5:8787/health")
    monkeypatch.setenv("CHITTY_SYNC_PUBLIC_URL", "https://sync.example.com")
    sync = next(s for s in ChittyServicesResource.from_settings().services() if s.name == "sync")
    assert v1_body(sync)["endpoints"] == {
        "api": "https://sync.example.com",
        "health": "https://sync.example.com/health",
    }
    assert legacy_body(sync)["url"] == "https://sync.example.com"
    assert sync.probe_url == "http://10.0.0.5:8787/health"  # ChittyCheck 12 asks the hub this CLI uses
    canon = next(s for s in core_services() if s.name == "canon")
    assert canon.probe_url == canon.health_url


def test_topicsync_files_recent_transcripts_on_the_hub(server: Server, tmp_path: Path) -> None:
    env = machine(tmp_path, "topics", server, server.tokens["write"])
    folder = Path(env["CLAUDE_HOME"]) / "projects" / "-src-app"
    folder.mkdir(parents=True)
    lines = [
        {"type": "summary", "summary": "x"},
        {"type": "user", "isMeta": True, "message": {"role": "user", "content": "<command-name>"}},
        {"type": "user", "message": {"role": "user", "content": [
            {"type": "text", "text": "the postgres migration fails: fix the schema and the SQL index"}]}},
        {"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": "ok"}]}},
    ]  # fmt: skip
    (folder / "c0ffee00-1111-2222-3333-444455556666.jsonl").write_text(
        "\n".join(json.dumps(x) for x in lines) + "\n"
    )
    old = folder / "0ld00000-1111-2222-3333-444455556666.jsonl"
    old.write_text(json.dumps(lines[2]) + "\n")
    os.utime(old, (1_600_000_000, 1_600_000_000))  # older than 7 days: not posted
    r = cli(env, "topicsync")
    assert r.returncode == 0, r.stderr
    assert "1 conversations filed" in r.stderr
    filed = server.hub.conversation("c0ffee00-1111-2222-3333-444455556666")
    assert filed is not None and filed["content_preview"].startswith("the postgres migration")
    assert filed["category"]  # derived by the server (the client sent none)
    assert server.hub.conversation("0ld00000-1111-2222-3333-444455556666") is None
