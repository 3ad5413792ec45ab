"""Claude Code hooks (issue 12, outcome 6): settings merged and removed exactly; the installed
commands, run the way Claude Code runs them (a shell, the event JSON on stdin), register, heartbeat,
sync todos and end a session on a real hub, or in the local hub store; a failing hook exits 0
with nothing on stdout. Payloads: tests/fixtures/claude_code_hooks (written from the spec)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.api.conftest import Server, free_port, hub_of

FIXTURES = Path(__file__).parent.parent / "fixtures" / "claude_code_hooks"
SID = "5f0c6a1e-2b7d-4c1a-9e55-0b7f3c2d9a10"
EVENTS = ("SessionStart", "UserPromptSubmit", "PostToolUse", "Stop", "SessionEnd")


def payload(name: str, cwd: Path) -> str:
    return (FIXTURES / f"{name}.json").read_text().replace("CWD", str(cwd))


def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CHITTY_HOME": str(tmp / "chitty"), "CLAUDE_HOME": str(tmp / "claude"), **extra}
    for var in ("CHITTY_WAREHOUSE_PATH", "DAGSTER_HOME", "CHITTY_OPSTORE_PATH", "CLAUDE_CONFIG_DIR"):
        env.pop(var, None)
    if "CHITTY_SYNC_URL" not in extra:
        env.pop("CHITTY_SYNC_URL", None)
        env.pop("CHITTY_SYNC_TOKEN", None)
    return env


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chitty_pipelines.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ours(settings: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for event, groups in settings.get("hooks", {}).items():
        for group in groups:
            for h in group["hooks"]:
                if "chitty-pipelines" in json.dumps(h):
                    found.setdefault(event, []).append({**h, "_matcher": group.get("matcher")})
    return found


def test_install_merges_idempotently_and_uninstall_restores(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    settings_file = tmp_path / "claude" / "settings.json"
    settings_file.parent.mkdir(parents=True)
    original = json.loads((FIXTURES / "settings_user.json").read_text())
    settings_file.write_text(json.dumps(original))

    for _ in range(2):  # twice: the second install replaces, never duplicates
        r = cli(env, "hooks", "install", "--claude-code")
        assert r.returncode == 0, r.stderr
        assert r.stdout == ""
    merged = json.loads(settings_file.read_text())
    mine = ours(merged)
    assert sorted(mine) == sorted(EVENTS)
    assert all(len(v) == 1 for v in mine.values())
    assert mine["PostToolUse"][0]["_matcher"] == "TodoWrite"
    assert "hooks run SessionEnd" in mine["SessionEnd"][0]["command"]
    # the user's keys and hooks are all still there, in front of ours
    assert merged["model"] == "opus" and merged["permissions"] == original["permissions"]
    assert merged["hooks"]["PostToolUse"][0] == original["hooks"]["PostToolUse"][0]
    assert merged["hooks"]["SessionStart"][0] == original["hooks"]["SessionStart"][0]

    r = cli(env, "hooks", "uninstall")
    assert r.returncode == 0, r.stderr
    assert json.loads(settings_file.read_text()) == original

    # a project's .claude/settings.json, created when missing, removed back to {} of hooks
    project = tmp_path / "proj"
    project.mkdir()
    r = cli(env, "hooks", "install", "--project", str(project))
    assert r.returncode == 0, r.stderr
    proj_settings = project / ".claude" / "settings.json"
    assert sorted(ours(json.loads(proj_settings.read_text()))) == sorted(EVENTS)
    assert json.loads(settings_file.read_text()) == original  # the user file untouched
    assert cli(env, "hooks", "uninstall", "--project", str(project)).returncode == 0
    assert json.loads(proj_settings.read_text()) == {}

    # a broken settings file is refused, never overwritten
    settings_file.write_text("{not json")
    r = cli(env, "hooks", "install")
    assert r.returncode == 1 and "nothing changed" in r.stderr
    assert "[red]" not in r.stderr  # rich markup printed as text, not as colour
    assert settings_file.read_text() == "{not json"
    r = cli(env, "hooks", "uninstall")
    assert r.returncode == 1 and "nothing changed" in r.stderr and "[red]" not in r.stderr


def test_remove_ours_keeps_user_handlers_sharing_our_group() -> None:
    from chitty_pipelines.cli.hooks import merge_ours, our_handlers, remove_ours

    user = json.loads((FIXTURES / "settings_user.json").read_text())
    settings = merge_ours(copy.deepcopy(user), our_handlers())
    settings["hooks"]["SessionEnd"][0]["hooks"].append({"type": "command", "command": "say bye"})
    assert remove_ours(settings) == len(EVENTS)
    assert settings["hooks"]["SessionEnd"] == [{"hooks": [{"type": "command", "command": "say bye"}]}]
    del settings["hooks"]["SessionEnd"]
    assert settings == user


def _wait(cond, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError("condition not reached")


def test_installed_commands_drive_a_session_on_the_hub(server: Server, tmp_path: Path) -> None:
    env = env_for(
        tmp_path,
        CHITTY_SYNC_URL=server.url,
        CHITTY_SYNC_TOKEN=server.tokens["write"],
        CHITTY_HOOK_HEARTBEAT_S="0",
    )
    assert cli(env, "hooks", "install").returncode == 0
    settings = json.loads((tmp_path / "claude" / "settings.json").read_text())
    commands = {event: hs[0]["command"] for event, hs in ours(settings).items()}
    cwd = tmp_path / "My Repo"
    cwd.mkdir()

    def fire(event: str, fixture: str) -> None:
        # What Claude Code does: the command through a shell, the event JSON on stdin.
        t0 = time.monotonic()
        r = subprocess.run(
            ["bash", "-c", commands[event]], input=payload(fixture, cwd), env=env,
            capture_output=True, text=True, timeout=30, cwd=cwd,
        )  # fmt: skip
        assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
        assert time.monotonic() - t0 < 5  # detached: Claude Code never waits for Python or the hub

    hub = server.hub
    fire("SessionStart", "session_start")
    s = _wait(lambda: hub.session(SID))
    assert s["ai_platform"] == "claude_code" and s["project_key"] == "my-repo"
    assert json.loads(s["metadata"])["source"] == "startup"

    fire("PostToolUse", "post_tool_use_todowrite")
    rows = _wait(lambda: hub.todo_rows("my-repo"))
    assert {r["content"]: r["status"] for r in rows} == {
        "Write the sync client": "completed",
        "Install the hooks": "in_progress",
        "Bench the API": "pending",
    }
    fire("UserPromptSubmit", "user_prompt_submit")
    _wait(lambda: hub.session(SID)["heartbeats"] >= 1)
    fire("SessionEnd", "session_end")
    assert _wait(lambda: hub.session(SID)["ended_at"])
    # The detached hook writes its log line after the hub answers, so wait for it too.
    log_path = tmp_path / "chitty" / "hooks" / "hooks.log"
    log = _wait(lambda: "ended" in log_path.read_text() and log_path.read_text())
    assert server.tokens["write"] not in log


def test_hooks_run_against_the_local_hub_store(tmp_path: Path) -> None:
    env = env_for(tmp_path, CHITTY_HOOK_HEARTBEAT_S="3600")
    cwd = tmp_path / "local-proj"
    cwd.mkdir()
    for event, fixture in (
        ("SessionStart", "session_start"),
        ("PostToolUse", "post_tool_use_bash"),  # not TodoWrite: ignored
        ("PostToolUse", "post_tool_use_todowrite"),
        ("UserPromptSubmit", "user_prompt_submit"),  # throttled: registered a moment ago
        ("Stop", "stop"),
    ):
        r = cli(env, "hooks", "run", event, stdin=payload(fixture, cwd))
        assert r.returncode == 0 and r.stdout == "", r.stderr
    store = hub_of(tmp_path / "chitty", env.get("CHITTY_WAREHOUSE_URL"))  # where the CLI writes
    s = store.session(SID)
    assert s["project_key"] == "local-proj" and s["heartbeats"] == 0 and s["ended_at"] is None
    assert len(store.todo_rows("local-proj")) == 3
    log = (tmp_path / "chitty" / "hooks" / "hooks.log").read_text()
    assert "ignored: tool Bash" in log and "heartbeat throttled" in log
    r = cli(env, "hooks", "run", "SessionEnd", stdin=payload("session_end", cwd))
    assert r.returncode == 0 and store.session(SID)["ended_at"]


def test_a_failing_hook_exits_0_silently_and_logs_why(tmp_path: Path) -> None:
    token = "chs_" + "y" * 43
    env = env_for(tmp_path, CHITTY_SYNC_URL=f"http://127.0.0.1:{free_port()}", CHITTY_SYNC_TOKEN=token)
    for stdin in (payload("session_start", tmp_path), "{broken json", "[1, 2]"):
        r = cli(env, "hooks", "run", "SessionStart", stdin=stdin)
        assert r.returncode == 0 and r.stdout == ""
    log = (tmp_path / "chitty" / "hooks" / "hooks.log").read_text()
    assert "CHITTY_SYNC_URL" in log and "failed" in log and "not a JSON object" in log
    assert token not in log


def test_http_hooks_post_to_the_hub(server: Server, tmp_path: Path) -> None:
    """`hooks install --http`: Claude Code's HTTP handlers post the events to /hooks/claude-code."""
    env = env_for(tmp_path, CHITTY_SYNC_URL=server.url, CHITTY_SYNC_TOKEN=server.tokens["write"])
    assert cli(env, "hooks", "install", "--http").returncode == 0
    settings = json.loads((tmp_path / "claude" / "settings.json").read_text())
    handler = ours(settings)["SessionStart"][0]
    assert handler["type"] == "http" and handler["url"] == server.url + "/hooks/claude-code"
    assert handler["headers"]["Authorization"] == "Bearer $CHITTY_SYNC_TOKEN"  # never the token itself
    assert server.tokens["write"] not in json.dumps(settings)
    assert handler["allowedEnvVars"] == ["CHITTY_SYNC_TOKEN"]

    sid = "http-" + SID[5:]
    cwd = tmp_path / "http-proj"
    with server.client("write") as c:
        for fixture in (
            "session_start",
            "post_tool_use_todowrite",
            "post_tool_use_bash",
            "stop",
            "session_end",
        ):
            body = json.loads(payload(fixture, cwd).replace(SID, sid))
            r = c.post("/hooks/claude-code", json=body, headers={"X-Chitty-Hook": "chitty-pipelines"})
            assert r.status_code == 204 and r.content == b"", (fixture, r.text)
        assert c.post("/hooks/claude-code", json={"hook_event_name": "Stop"}).status_code == 400
        bad = json.loads(payload("stop", cwd).replace(SID, "../../etc/passwd"))
        assert c.post("/hooks/claude-code", json=bad).status_code == 400
    s = server.hub.session(sid)
    assert s["project_key"] == "http-proj" and s["ended_at"] and s["heartbeats"] >= 1
    assert len(server.hub.todo_rows("http-proj")) == 3
    with server.client("read") as c:
        assert c.post("/hooks/claude-code", json=json.loads(payload("stop", cwd))).status_code == 403
    with server.client(None) as c:
        assert c.post("/hooks/claude-code", json=json.loads(payload("stop", cwd))).status_code == 401
