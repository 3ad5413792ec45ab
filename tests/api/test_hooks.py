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
    assert mine["PostToolUse"][0]["_matcher"] == "TodoWrite|TaskCreate|TaskUpdate"
    assert "hooks run SessionEnd" in mine["SessionEnd"][0]["command"]
    # the user's keys and hooks are all still there, in front of ours
    assert merged["model"] == "opus" and merged["permissions"] == original["permissions"]
    assert merged["hooks"]["PostToolUse"][0] == original["hooks"]["PostToolUse"][0]
    assert merged["hooks"]["SessionStart"][0] == original["hooks"]["SessionStart"][0]

    r = cli(env, "hooks", "uninstall")
    assert r.returncode == 0, r.stderr
    assert json.loads(settings_file.read_text()) == original

    # a project's .claude/settings.json, created when missing, removed again by uninstall
    project = tmp_path / "proj"
    project.mkdir()
    r = cli(env, "hooks", "install", "--project", str(project))
    assert r.returncode == 0, r.stderr
    proj_settings = project / ".claude" / "settings.json"
    assert sorted(ours(json.loads(proj_settings.read_text()))) == sorted(EVENTS)
    assert json.loads(settings_file.read_text()) == original  # the user file untouched
    assert cli(env, "hooks", "uninstall", "--project", str(project)).returncode == 0
    assert not proj_settings.exists()  # it did not exist before install: no `{}` left in the repo

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
        # What Claude Code does: the command through /bin/sh (dash here, as on Debian/Ubuntu; a
        # detached `cmd <&0 &` reads /dev/null there, where bash would have kept stdin), the
        # event JSON on stdin.
        t0 = time.monotonic()
        r = subprocess.run(
            ["/bin/sh", "-c", commands[event]], input=payload(fixture, cwd), env=env,
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


def test_a_resumed_session_is_active_again_after_its_end(server: Server, tmp_path: Path) -> None:
    """SessionEnd, then SessionStart `resume` with the same id (Claude Code's --resume): the
    session is active again, through the HTTP route and through the command hooks."""
    cwd = tmp_path / "resumed"
    cwd.mkdir()
    http_sid = "resume-http-" + SID[12:]
    with server.client("write") as c:
        for fixture in ("session_start", "session_end", "session_start_resume"):
            r = c.post("/hooks/claude-code", json=json.loads(payload(fixture, cwd).replace(SID, http_sid)))
            assert r.status_code == 204, r.text
        after_end = c.get(f"/api/session/{http_sid}").json()["session"]
        assert after_end["endedAt"] is None and after_end["active"] is True
        # a plain heartbeat still refuses an ended session; only a resume re-opens it
        assert c.delete(f"/api/session/{http_sid}").status_code == 200
        assert c.put(f"/api/session/{http_sid}", json={}).status_code == 409
        assert c.put(f"/api/session/{http_sid}", json={"reopen": True}).status_code == 200

    env = env_for(tmp_path, CHITTY_SYNC_URL=server.url, CHITTY_SYNC_TOKEN=server.tokens["write"])
    sid = "resume-" + SID[7:]
    hub = server.hub
    for fixture in ("session_start", "session_end", "session_start_resume"):
        r = cli(env, "hooks", "run", "SessionStart", stdin=payload(fixture, cwd).replace(SID, sid))
        assert r.returncode == 0 and r.stdout == ""
    s = hub.session(sid)
    assert s["ended_at"] is None and json.loads(s["metadata"])["source"] == "resume"
    assert "reopened" in (tmp_path / "chitty" / "hooks" / "hooks.log").read_text()


def test_events_are_spooled_while_the_hub_is_down_and_replayed_in_order(
    server: Server, tmp_path: Path
) -> None:
    """The hub unreachable: SessionStart, a TodoWrite list and SessionEnd are kept under
    $CHITTY_HOME/hooks/spool and sent, oldest first, by the next hook that reaches the hub."""
    token = server.tokens["write"]
    down = env_for(tmp_path, CHITTY_SYNC_URL=f"http://127.0.0.1:{free_port()}", CHITTY_SYNC_TOKEN=token)
    cwd = tmp_path / "offline-proj"
    cwd.mkdir()
    sid = "offline-" + SID[8:]
    for event, fixture in (
        ("SessionStart", "session_start"),
        ("PostToolUse", "post_tool_use_todowrite"),
        ("UserPromptSubmit", "user_prompt_submit"),  # a heartbeat: not kept, the next one says it
        ("SessionEnd", "session_end"),
    ):
        r = cli(down, "hooks", "run", event, stdin=payload(fixture, cwd).replace(SID, sid))
        assert r.returncode == 0 and r.stdout == ""
    spool = tmp_path / "chitty" / "hooks" / "spool"
    assert len(list(spool.glob("*.json"))) == 3
    assert all((f.stat().st_mode & 0o777) == 0o600 for f in spool.glob("*.json"))  # todos, paths
    log_path = tmp_path / "chitty" / "hooks" / "hooks.log"
    assert "kept in the spool" in log_path.read_text() and token not in log_path.read_text()
    assert server.hub.session(sid) is None
    # a hook that died while replaying left its claim: an old claim is taken back in line
    first = sorted(spool.glob("*.json"))[0]
    stale = first.with_name(first.name + ".99999.claim")
    first.rename(stale)
    os.utime(stale, (time.time() - 3600, time.time() - 3600))

    up = env_for(tmp_path, CHITTY_SYNC_URL=server.url, CHITTY_SYNC_TOKEN=token)
    other = "other-" + SID[6:]  # the next event, of another session, replays the spool first
    r = cli(up, "hooks", "run", "SessionStart", stdin=payload("session_start", cwd).replace(SID, other))
    assert r.returncode == 0 and r.stdout == ""
    s = server.hub.session(sid)
    assert s is not None and s["ended_at"] and s["project_key"] == "offline-proj"
    assert {t["content"]: t["status"] for t in server.hub.todo_rows("offline-proj")} == {
        "Write the sync client": "completed",
        "Install the hooks": "in_progress",
        "Bench the API": "pending",
    }
    assert list(spool.glob("*")) == []
    log = log_path.read_text()
    assert (
        log.index("spooled SessionStart") < log.index("spooled PostToolUse") < log.index("spooled SessionEnd")
    )
    assert "after replaying 3 spooled events" in log


def _todowrite(sid: str, cwd: Path, todos: list[dict]) -> dict:
    body = json.loads(payload("post_tool_use_todowrite", cwd).replace(SID, sid))
    body["tool_input"]["todos"] = todos
    return body


def test_odd_characters_and_long_lists_cost_no_todo(server: Server, tmp_path: Path) -> None:
    """A lone surrogate (JSON.stringify writes one as \\udc80), a non-UTF-8 byte, a blank item, 600
    items: the event is kept (the bad character becomes U+FFFD, the first 500 items are synced), never
    dropped whole or answered with a 500."""
    env = env_for(tmp_path, CHITTY_SYNC_URL=server.url, CHITTY_SYNC_TOKEN=server.tokens["write"])
    cwd = tmp_path / "odd-proj"
    cwd.mkdir()
    sid = "odd-" + SID[4:]
    todos = [
        {"content": "lone SURROGATE here", "status": "pending", "activeForm": "x"},
        {"content": "emoji \U0001f680 fine", "status": "in_progress", "activeForm": "y"},
        {"content": "latin1 BYTE here", "status": "pending", "activeForm": "z"},
        {"content": " \t ", "status": "pending", "activeForm": "blank"},  # the hub refuses blank: left out
    ]
    text = json.dumps(_todowrite(sid, cwd, todos)).replace("SURROGATE", "\\udc80")
    data = text.encode().replace(b"BYTE", b"caf\xe9")
    r = subprocess.run(
        [sys.executable, "-m", "chitty_pipelines.cli", "hooks", "run", "PostToolUse"],
        input=data, env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0 and r.stdout == b""
    assert sorted(t["content"] for t in server.hub.todo_rows("odd-proj")) == [
        "emoji \U0001f680 fine",
        "latin1 caf\ufffd here",
        "lone \ufffd here",
    ]

    many = [{"content": f"item {i:03d}", "status": "pending", "activeForm": "w"} for i in range(600)]
    r = cli(env, "hooks", "run", "PostToolUse", stdin=json.dumps(_todowrite(sid, cwd, many)))
    assert r.returncode == 0
    contents = {t["content"] for t in server.hub.todo_rows("odd-proj")}
    assert "item 499" in contents and "item 500" not in contents
    assert (
        "100 items over the 500-item limit dropped"
        in (tmp_path / "chitty" / "hooks" / "hooks.log").read_text()
    )
    # 3,000 items, each list three times in the event (tool_input, oldTodos, newTodos): over 1 MB
    huge = [
        {"content": f"huge {i:04d} " + "x" * 100, "status": "pending", "activeForm": "v"} for i in range(3000)
    ]
    event = _todowrite(sid, cwd, huge)
    event["tool_response"] = {"oldTodos": huge, "newTodos": huge}
    assert len(json.dumps(event)) > 1_048_576
    assert cli(env, "hooks", "run", "PostToolUse", stdin=json.dumps(event)).returncode == 0
    huge_synced = [t for t in server.hub.todo_rows("odd-proj") if t["content"].startswith("huge ")]
    assert len(huge_synced) == 500

    http_cwd = tmp_path / "odd-http"
    with server.client("write") as c:
        body = (
            json.dumps(_todowrite(sid, http_cwd, todos))
            .replace("SURROGATE", "\\udc80")
            .replace("BYTE", "\\u0000")
        )
        r = c.post("/hooks/claude-code", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 204, r.text
        r = c.post("/hooks/claude-code", json=_todowrite(sid, http_cwd, many))
        assert r.status_code == 204, r.text
    contents = {t["content"] for t in server.hub.todo_rows("odd-http")}
    assert {"lone \ufffd here", "latin1 \ufffd here"} <= contents
    assert "item 499" in contents and "item 500" not in contents


def test_uninstall_gives_back_the_exact_bytes_mode_and_symlink(tmp_path: Path) -> None:
    """The user's file as they wrote it (4-space indent, non-ASCII, mode 0600, a symlink into a
    dotfiles folder; a one-line project file): install twice, uninstall, same bytes, same mode,
    still a link. Edited in between: the edit stays, only our entries go."""
    env = env_for(tmp_path)
    dotfiles = tmp_path / "dotfiles" / "claude-settings.json"
    dotfiles.parent.mkdir()
    user = {"env": {"GREETING": "grüß dich"}, **json.loads((FIXTURES / "settings_user.json").read_text())}
    original = json.dumps(user, indent=4, ensure_ascii=False) + "\n"
    dotfiles.write_text(original, encoding="utf-8")
    dotfiles.chmod(0o600)
    link = tmp_path / "claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(dotfiles)
    project = tmp_path / "repo"
    (project / ".claude").mkdir(parents=True)
    proj_file = project / ".claude" / "settings.json"
    proj_file.write_text('{"permissions": {"deny": ["Read(.env)"]}}')

    for _ in range(2):
        assert cli(env, "hooks", "install").returncode == 0
        warned = cli(env, "hooks", "install", "--project", str(project))
        assert warned.returncode == 0
    assert link.is_symlink() and (dotfiles.stat().st_mode & 0o777) == 0o600
    installed = dotfiles.read_text(encoding="utf-8")
    assert '"GREETING": "grüß dich"' in installed and '\n    "hooks": {' in installed  # its style
    assert sorted(ours(json.loads(installed))) == sorted(EVENTS)
    assert cli(env, "hooks", "uninstall").returncode == 0
    assert cli(env, "hooks", "uninstall", "--project", str(project)).returncode == 0
    assert link.is_symlink() and dotfiles.read_text(encoding="utf-8") == original
    assert (dotfiles.stat().st_mode & 0o777) == 0o600
    assert proj_file.read_text() == '{"permissions": {"deny": ["Read(.env)"]}}'

    assert cli(env, "hooks", "install").returncode == 0
    edited = json.loads(dotfiles.read_text(encoding="utf-8"))
    edited["theme"] = "dark"  # the user (or Claude Code's /config) changes the file meanwhile
    dotfiles.write_text(json.dumps(edited, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")
    assert cli(env, "hooks", "uninstall").returncode == 0
    assert json.loads(dotfiles.read_text(encoding="utf-8")) == {**user, "theme": "dark"}
    assert "grüß dich" in dotfiles.read_text(encoding="utf-8")
    assert "sent twice" in warned.stderr  # user and project hooks would both run


def test_hooks_log_is_rotated(tmp_path: Path) -> None:
    """hooks.log gets one line per event for ever: past about 1 MB it becomes hooks.log.1."""
    env = env_for(tmp_path)
    log_dir = tmp_path / "chitty" / "hooks"
    log_dir.mkdir(parents=True)
    (log_dir / "hooks.log").write_text("old line\n" * 150_000)  # 1.35 MB
    r = cli(env, "hooks", "run", "Stop", stdin="[1]")
    assert r.returncode == 0 and r.stdout == ""
    assert (log_dir / "hooks.log.1").read_text().startswith("old line\n")
    assert "not a JSON object" in (log_dir / "hooks.log").read_text()
    assert (log_dir / "hooks.log").stat().st_size < 1000


def test_task_tools_sync_the_sessions_task_list(server: Server, tmp_path: Path) -> None:
    """Claude Code 2.1.16+ keeps the list with TaskCreate/TaskUpdate (one task or one change per
    call) in tasks/<session>/<n>.json: the hook syncs the whole list from those files, as it does
    a TodoWrite list; another tool still changes nothing."""
    env = env_for(tmp_path, CHITTY_SYNC_URL=server.url, CHITTY_SYNC_TOKEN=server.tokens["write"])
    cwd = tmp_path / "task-proj"
    cwd.mkdir()
    sid = "task-" + SID[5:]
    folder = tmp_path / "claude" / "tasks" / sid
    folder.mkdir(parents=True)
    tasks = [
        {"id": "1", "subject": "Write the parser", "description": "", "activeForm": "Writing",
         "status": "completed", "blockedBy": [], "owner": None, "metadata": {}},
        {"id": "2", "subject": "Test the parser", "activeForm": "Testing", "status": "in_progress"},
    ]  # fmt: skip
    for task in tasks:
        (folder / f"{task['id']}.json").write_text(json.dumps(task))
    (folder / ".lock").write_text("")
    (folder / "10.json").write_text('{"id": "10", "subject": "Ship it", "status": "pending"}')
    (folder / "11.json").write_text('{"id": "11", "subj')  # being written: skipped this time

    event = _todowrite(sid, cwd, [])
    event["tool_name"] = "TaskCreate"
    event["tool_input"] = {"subject": "Ship it", "description": "", "activeForm": "Shipping"}
    assert cli(env, "hooks", "run", "PostToolUse", stdin=json.dumps(event)).returncode == 0
    rows = {t["content"]: t["status"] for t in server.hub.todo_rows("task-proj")}
    assert rows == {"Write the parser": "completed", "Test the parser": "in_progress", "Ship it": "pending"}

    (folder / "2.json").write_text(json.dumps({**tasks[1], "status": "completed"}))
    event["tool_name"], event["tool_input"] = "TaskUpdate", {"taskId": "2", "status": "completed"}
    assert cli(env, "hooks", "run", "PostToolUse", stdin=json.dumps(event)).returncode == 0
    rows = {t["content"]: t["status"] for t in server.hub.todo_rows("task-proj")}
    assert rows["Test the parser"] == "completed"

    event["tool_name"] = "TaskList"  # reads, changes nothing
    assert cli(env, "hooks", "run", "PostToolUse", stdin=json.dumps(event)).returncode == 0
    assert "ignored: tool TaskList" in (tmp_path / "chitty" / "hooks" / "hooks.log").read_text()

    # A list shared by sessions (CLAUDE_CODE_TASK_LIST_ID in Claude Code's environment) lives
    # under its own name, not the session's.
    shared = tmp_path / "claude" / "tasks" / "team-list"
    shared.mkdir()
    (shared / "1.json").write_text('{"id": "1", "subject": "Shared step", "status": "in_progress"}')
    event["tool_name"] = "TaskCreate"
    env_shared = {**env, "CLAUDE_CODE_TASK_LIST_ID": "team-list"}
    assert cli(env_shared, "hooks", "run", "PostToolUse", stdin=json.dumps(event)).returncode == 0
    rows = {t["content"]: t["status"] for t in server.hub.todo_rows("task-proj")}
    assert rows["Shared step"] == "in_progress"
