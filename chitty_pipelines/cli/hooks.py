"""``chitty-sync hooks install|uninstall|run``: Claude Code sessions that register themselves
(issue 12, outcome 6; settings and payloads: session-formats.md, "Claude Code hooks").

* ``install`` merges our handlers into a settings.json (user: ``$CLAUDE_HOME/settings.json``;
  ``--project DIR``: ``DIR/.claude/settings.json``): entries are appended, the user's own hooks and
  keys are kept, and a second install replaces our entries instead of adding more (idempotent).
  Our entries are marked (a command ending in ``# chitty-pipelines hook``, an HTTP handler with
  the ``X-Chitty-Hook`` header), so ``uninstall`` removes exactly those.
  ``uninstall`` puts back the exact text from before install when the file was not edited since;
  both keep the file's style, mode and symlink.
* The command handlers copy the event to a temporary file and detach at once (``nohup ... &``,
  stdout/stderr to /dev/null): Claude Code never waits for Python to start or for the hub to
  answer, and nothing reaches its stdout (for SessionStart and UserPromptSubmit, stdout would
  become model context).
* ``run EVENT`` reads the event's JSON on stdin and acts on the local hub store, or on
  ``CHITTY_SYNC_URL``: SessionStart registers the session, UserPromptSubmit/Stop heartbeat (at
  most every ``CHITTY_HOOK_HEARTBEAT_S``), PostToolUse of TodoWrite (or of TaskCreate/TaskUpdate:
  then the session's tasks/ files) syncs the todo list, SessionEnd ends the session. It always
  exits 0 and prints nothing; failures go to ``$CHITTY_HOME/hooks/hooks.log`` (scrubbed), the
  only place to look when a session is missing.
  Events the hub could not be reached for are spooled and replayed by the next hook that reaches it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from chitty_pipelines import config
from chitty_pipelines.kernel.text import clean_json

MARK = "# chitty-pipelines hook"
HTTP_MARK_HEADER = "X-Chitty-Hook"
HTTP_MARK_VALUE = "chitty-pipelines"
PLATFORM = "claude_code"
HOOK_TIMEOUT_S = 10  # what Claude Code allows the handler (it returns in milliseconds: detached)
CLIENT_TIMEOUT_S = 5.0
# A TodoWrite event holds the list up to three times (tool_input, oldTodos, newTodos): a long
# list passes 1 MB, and it is still worth its first items, so only a runaway event is ignored.
MAX_PAYLOAD_BYTES = 16 * 1_048_576
# event -> matcher (None: the event takes no matcher)
EVENTS: dict[str, str | None] = {
    "SessionStart": None,
    "UserPromptSubmit": None,
    # TodoWrite until Claude Code 2.1.15; from 2.1.16 the Task* tools keep the list instead.
    "PostToolUse": "TodoWrite|TaskCreate|TaskUpdate",
    "Stop": None,
    "SessionEnd": None,
}

hooks_app = typer.Typer(
    help="Claude Code hooks: sessions register, heartbeat, sync todos and end by themselves."
)


def register(app: typer.Typer) -> None:
    """Add ``hooks`` to the ``chitty-sync`` app (cli/__init__.py calls this)."""
    app.add_typer(hooks_app, name="hooks")


# --- settings.json -------------------------------------------------------------------------------
def settings_path(project: Path | None) -> Path:
    if project is not None:
        return project.expanduser().resolve() / ".claude" / "settings.json"
    return config.load_settings().claude_homes[0] / "settings.json"


def command_for(event: str, python: str | None = None) -> str:
    """The shell command Claude Code runs (through a shell: /bin/sh is dash on Debian/Ubuntu).

    The event JSON is first copied to a temporary file, then Python runs detached reading it:
    * POSIX gives an asynchronous command /dev/null as stdin *before* its own redirections, so a
      detached `cmd <&0 &` would read nothing under dash;
    * Claude Code's write of a large event (a long TodoWrite list is hundreds of KB, over the
      64 KB pipe buffer) would otherwise wait until Python had started and read it.
    """
    exe = shlex.quote(python or sys.executable)
    run = f"{exe} -m chitty_pipelines.cli hooks run {event}"
    return (
        f'f=$(mktemp) || exit 0; cat >"$f"; (nohup {run} <"$f" >/dev/null 2>&1; rm -f "$f") '
        f">/dev/null 2>&1 & {MARK}"
    )


def our_handlers(http_url: str | None = None) -> dict[str, dict[str, Any]]:
    """The handler to install for each event: a detached command, or (``http_url``) Claude Code's
    HTTP hook posting the event to the hub with the token from the environment."""
    if http_url:
        return {
            event: {
                "type": "http",
                "url": http_url.rstrip("/") + "/hooks/claude-code",
                "headers": {
                    "Authorization": "Bearer $CHITTY_SYNC_TOKEN",
                    HTTP_MARK_HEADER: HTTP_MARK_VALUE,
                },
                "allowedEnvVars": ["CHITTY_SYNC_TOKEN"],
                "timeout": 5,
            }
            for event in EVENTS
        }
    return {
        event: {"type": "command", "command": command_for(event), "timeout": HOOK_TIMEOUT_S}
        for event in EVENTS
    }


def is_ours(handler: Any) -> bool:
    if not isinstance(handler, dict):
        return False
    if handler.get("type") == "http":
        return (handler.get("headers") or {}).get(HTTP_MARK_HEADER) == HTTP_MARK_VALUE
    return isinstance(handler.get("command"), str) and handler["command"].rstrip().endswith(MARK)


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return {}
    data = json.loads(text)  # ValueError: the caller refuses to touch a file it cannot read
    if not isinstance(data, dict):
        raise ValueError("settings.json is not a JSON object")
    return data


def _render(data: dict[str, Any], like: str | None) -> str:
    """``data`` in the style of the file's text ``like``: its indentation (or one line), its
    characters unescaped (``"bär"`` stays ``"bär"``) and its final newline, so that install and
    uninstall change the lines they are about and nothing else."""
    if like and like.strip() and "\n" not in like.strip():
        return json.dumps(data, ensure_ascii=False) + ("\n" if like.endswith("\n") else "")
    indent: str | int = 2
    for line in (like or "").splitlines()[1:]:
        if line.strip():
            indent = line[: len(line) - len(line.lstrip())] or 2
            break
    return json.dumps(data, indent=indent, ensure_ascii=False) + "\n"


def _write(path: Path, text: str | None) -> None:
    """Replace the file's text atomically (Claude Code never reads a half-written file), through a
    symlink (a dotfiles checkout keeps its link) and with the file's mode (0600 stays 0600: it
    can hold `env` secrets). ``None``: the file did not exist before install, so it goes."""
    target = Path(os.path.realpath(path))
    if text is None:
        target.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".chitty-tmp")
    tmp.write_text(text, encoding="utf-8")
    if target.exists():
        os.chmod(tmp, target.stat().st_mode & 0o7777)
    os.replace(tmp, target)


def _record_path(path: Path) -> Path:
    """Where install keeps the file's text from before (by the settings file's real path)."""
    key = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:32]
    return _state_dir() / "installed" / f"{key}.json"


def remove_ours(settings: dict[str, Any]) -> int:
    """Drop our handlers (and groups/events left empty by that); the count removed."""
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return 0
    removed = 0
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept_groups = []
        for group in groups:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(handlers, list):
                kept_groups.append(group)
                continue
            mine = [h for h in handlers if is_ours(h)]
            removed += len(mine)
            if mine and len(mine) == len(handlers):
                continue  # a group we added: it goes whole
            kept_groups.append({**group, "hooks": [h for h in handlers if not is_ours(h)]} if mine else group)
        if kept_groups:
            hooks[event] = kept_groups
        else:
            del hooks[event]
    if not hooks:
        del settings["hooks"]
    return removed


def merge_ours(settings: dict[str, Any], handlers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    remove_ours(settings)
    hooks = settings.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise ValueError("settings.json: 'hooks' is not an object")
    for event, handler in handlers.items():
        group: dict[str, Any] = {"hooks": [handler]}
        if EVENTS[event] is not None:
            group = {"matcher": EVENTS[event], **group}
        hooks.setdefault(event, []).append(group)
    return settings


@hooks_app.command("install")
def install(
    claude_code: Annotated[
        bool, typer.Option("--claude-code", help="Claude Code (the only AI tool with hooks today).")
    ] = True,
    project: Annotated[
        Path | None,
        typer.Option("--project", help="Install in DIR/.claude/settings.json instead of the user settings."),
    ] = None,
    http: Annotated[
        bool,
        typer.Option(
            "--http",
            help="HTTP hooks posting straight to CHITTY_SYNC_URL/hooks/claude-code (token read from "
            "CHITTY_SYNC_TOKEN in Claude Code's environment) instead of commands.",
        ),
    ] = False,
) -> None:
    """Merge the session hooks into Claude Code's settings.json (idempotent; your hooks stay)."""
    from chitty_pipelines.cli.app import console

    path = settings_path(project)
    url = config.env("CHITTY_SYNC_URL")
    if http and not url:
        console.print("[red]--http needs CHITTY_SYNC_URL (the hub the hooks post to)[/red]")
        raise typer.Exit(2)
    before = path.read_text(encoding="utf-8") if path.exists() else None
    try:
        settings = _load(path)
        fresh = remove_ours(json.loads(json.dumps(settings))) == 0
        merge_ours(settings, our_handlers(url if http else None))
    except ValueError as exc:
        console.print(f"✗ {path}: not valid JSON settings ({exc}); nothing changed", markup=False)
        raise typer.Exit(1) from None
    after = _render(settings, before)
    record = _record_path(path)
    try:
        old = json.loads(record.read_text()) if record.exists() and not fresh else {}
    except ValueError:
        old = {}
    # The text from before the first install, so uninstall can put it back byte for byte (None:
    # there was no file). Unknown when our hooks were there already without a record.
    kept: dict[str, Any] = {"before": before} if fresh else {k: v for k, v in old.items() if k == "before"}
    _write(path, after)
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"path": str(path), **kept, "after": after}))
    except OSError:
        pass  # uninstall then only removes our entries, keeping the file's style
    if project is not None:
        try:
            twice = remove_ours(_load(settings_path(None))) > 0
        except ValueError:
            twice = False
        if twice:  # both files' hooks run: every event would be handled twice
            console.print(
                f"! the user settings ({settings_path(None)}) have these hooks too: each event would "
                "be sent twice; `chitty-sync hooks uninstall` removes them there",
                markup=False,
            )
    # Command hooks read CHITTY_SYNC_URL when they run, in Claude Code's environment, not here.
    where = f"hub {url}" if url else "the local hub store"
    target = where if http else f"{where} (if Claude Code's environment says the same)"
    console.print(
        f"installed {len(EVENTS)} Claude Code hooks ({'http' if http else 'command'}) in {path}; "
        f"sessions go to {target}",
        markup=False,
    )


@hooks_app.command("uninstall")
def uninstall(
    project: Annotated[
        Path | None, typer.Option("--project", help="Uninstall from DIR/.claude/settings.json.")
    ] = None,
) -> None:
    """Remove exactly the hooks `install` added (marked); everything else stays."""
    from chitty_pipelines.cli.app import console

    path = settings_path(project)
    try:
        settings = _load(path)
    except ValueError as exc:
        console.print(f"✗ {path}: not valid JSON settings ({exc}); nothing changed", markup=False)
        raise typer.Exit(1) from None
    removed = remove_ours(settings)
    record = _record_path(path)
    try:
        saved = json.loads(record.read_text()) if record.exists() else None
    except ValueError:
        saved = None
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if removed and saved and "before" in saved and saved.get("after") == current:
        _write(path, saved["before"])  # untouched since install: exactly the text from before
    elif removed:
        _write(path, _render(settings, current))
    if removed or saved:
        record.unlink(missing_ok=True)
    console.print(f"removed {removed} chitty-pipelines hooks from {path}", markup=False)


# --- the hook itself -----------------------------------------------------------------------------
def _state_dir() -> Path:
    return config.load_settings().chitty_home / "hooks"


def _log(message: str) -> None:
    try:
        d = _state_dir()
        d.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        log = d / "hooks.log"
        if log.exists() and log.stat().st_size > LOG_MAX_BYTES:  # one line per event, for ever
            os.replace(log, d / "hooks.log.1")  # the previous one is kept, the one before goes
        with log.open("a") as fh:
            fh.write(f"{stamp} {config.scrub(message)}\n")
    except OSError:
        pass


def _project_of(cwd: str | None, hub: Any) -> str | None:
    from chitty_pipelines.cli.hub import LocalHub
    from chitty_pipelines.unified.resolution import slugify

    if not cwd:
        return None
    if isinstance(hub, LocalHub):
        from chitty_pipelines.cli.registry import _project_for

        return _project_for(Path(cwd), hub.store)
    return slugify(Path(cwd).name) or None  # the original client's rule: the cwd's basename


class _Stamps:
    """Per session: registered yet, last heartbeat (throttling without asking the hub)."""

    def __init__(self, session_id: str):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in session_id)[:128]
        self.path = _state_dir() / "sessions" / f"{safe}.json"
        try:
            self.data: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def save(self, **changes: Any) -> None:
        self.data.update(changes)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.data))
        except OSError:
            pass


def handle(event: str, payload: dict[str, Any], now: float | None = None) -> str:
    """Do what ``event`` asks; a short description of what was done (for the log and tests)."""
    from chitty_pipelines.cli.hub import open_hub

    now = time.time() if now is None else now
    sid = payload.get("session_id")
    if not isinstance(sid, str) or not sid:
        return "ignored: no session_id"
    if event == "PostToolUse" and payload.get("tool_name") not in ("TodoWrite", *TASK_TOOLS):
        return f"ignored: tool {payload.get('tool_name')}"
    stamps = _Stamps(sid)
    throttle = float(config.env("CHITTY_HOOK_HEARTBEAT_S") or 60)
    recent = now - float(stamps.data.get("heartbeat_at") or 0) < throttle
    if event in ("UserPromptSubmit", "Stop") and stamps.data.get("registered") and recent:
        return "heartbeat throttled"
    hub = open_hub(timeout_s=CLIENT_TIMEOUT_S, attempts=2)
    try:
        cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
        project = _project_of(cwd, hub)
        meta = {
            k: payload[k]
            for k in ("cwd", "source", "model", "permission_mode")
            if isinstance(payload.get(k), str)
        }

        def register_now() -> str:
            r = hub.register_session(sid, project, PLATFORM, socket.gethostname(), meta)
            stamps.save(registered=True, heartbeat_at=now, project=project)
            return "registered" if r.created else "already registered"

        if event == "SessionStart":
            done = register_now()
            if done == "already registered":  # a resumed session: active again, even after its end
                r = hub.heartbeat(sid, meta)
                if not r.ok:  # ended: re-open it (asked only then, so an older hub still heartbeats)
                    r = hub.heartbeat(sid, meta, reopen=True)
                done = r.message if r.ok else f"{done}, not re-activated: {r.message}"
            return f"session {sid} {done}"
        if event == "SessionEnd":
            r = hub.end_session(sid)
            if not r.ok:  # never registered here (hooks installed mid-session): record it, ended
                register_now()
                r = hub.end_session(sid)
            stamps.save(ended=True)
            return f"session {sid} ended" if r.ok else f"end failed: {r.message}"
        if event in ("UserPromptSubmit", "Stop"):
            r = hub.heartbeat(sid)
            if not r.ok:
                return f"session {sid} {register_now()} (heartbeat: {r.message})"
            stamps.save(heartbeat_at=now)
            return f"session {sid} heartbeat"
        if event == "PostToolUse":
            from chitty_pipelines.api.models import TODOS_MAX  # here: fastapi is slow to import

            if payload.get("tool_name") in TASK_TOOLS:
                todos, dropped = _todos({"todos": _task_list(sid)}, TODOS_MAX)
            else:
                todos, dropped = _todos(payload.get("tool_input"), TODOS_MAX)
            if project is None:
                return "ignored: no cwd, so no project"
            if not stamps.data.get("registered"):
                register_now()
            r = hub.sync_todos(project, sid, todos, PLATFORM)
            over = f" ({dropped} items over the {TODOS_MAX}-item limit dropped)" if dropped else ""
            return f"todos of {project}: {r.data.get('totalTodos')} after merge{over}"
        return f"ignored: event {event}"
    finally:
        hub.close()


TASK_TOOLS = ("TaskCreate", "TaskUpdate")


def _task_list(session_id: str) -> list[dict[str, Any]]:
    """The session's whole task list as todo items, from Claude Code's own state files
    (``tasks/<CLAUDE_CODE_TASK_LIST_ID or session id>/<n>.json``, session-formats.md §1.12): a
    TaskCreate or TaskUpdate input holds one task or only a change, the files hold the list, as
    a TodoWrite input does. Read in numeric order, the order Claude Code created them."""
    list_id = config.env("CLAUDE_CODE_TASK_LIST_ID") or session_id
    if not list_id or "/" in list_id or list_id in (".", ".."):
        return []
    for home in config.load_settings().claude_homes:
        folder = home / "tasks" / list_id
        if folder.is_dir():
            break
    else:
        return []

    def order(path: Path) -> tuple[int, str]:
        return (int(path.stem), "") if path.stem.isdigit() else (1 << 62, path.stem)

    items = []
    for path in sorted(folder.glob("*.json"), key=order):
        try:
            task = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError):
            continue  # being rewritten, or not a task: the next event reads it again
        if isinstance(task, dict) and task.get("status") != "deleted":
            items.append({**task, "content": task.get("content") or task.get("subject")})
    return items


def _todos(tool_input: Any, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The list to sync and how many items were dropped: the hub takes at most ``limit`` items
    per list and refuses a longer one whole, so the first ``limit`` are kept (Claude Code's
    order: what it is working on comes first), never none of them."""
    items = tool_input.get("todos") if isinstance(tool_input, dict) else None
    out: list[dict[str, Any]] = []
    for t in items if isinstance(items, list) else []:
        # Blank items are left out here: the hub refuses a list holding one, whole.
        if isinstance(t, dict) and isinstance(t.get("content"), str) and t["content"].strip():
            status = (
                t.get("status") if t.get("status") in ("pending", "in_progress", "completed") else "pending"
            )
            item = {"content": t["content"][:2000], "status": status}
            if isinstance(t.get("activeForm"), str):
                item["activeForm"] = t["activeForm"][:2000]
            out.append(item)
    return out[:limit], max(0, len(out) - limit)


@hooks_app.command("run")
def run(
    event: Annotated[str, typer.Argument(help="The hook event (SessionStart, UserPromptSubmit, ...).")],
) -> None:
    """The hook entry point: the event's JSON on stdin. Always exits 0 and prints nothing."""
    arrived_ns = time.time_ns()  # the spool's order: when the event came, not when it failed
    try:
        data = sys.stdin.buffer.read(MAX_PAYLOAD_BYTES + 1)
        if len(data) > MAX_PAYLOAD_BYTES:
            _log(f"{event}: payload over {MAX_PAYLOAD_BYTES} bytes, ignored")
            return
        # One undecodable byte or lone surrogate must not cost the whole event: both become U+FFFD.
        raw = data.decode("utf-8", errors="replace")
        payload = clean_json(json.loads(raw)) if raw.strip() else {}
        if not isinstance(payload, dict):
            _log(f"{event}: payload is not a JSON object, ignored")
            return
    except Exception as exc:  # a hook must never fail the AI tool: log and exit 0
        _log(f"{event}: failed: {type(exc).__name__}: {exc}")
        return
    name = payload.get("hook_event_name") if isinstance(payload.get("hook_event_name"), str) else event
    try:
        replayed = _replay_spool()
    except Exception as exc:  # the spool must never cost the current event
        replayed = f" (spool not replayed: {type(exc).__name__}: {exc})"
    try:
        _log(f"{event}: {handle(name, payload)}{replayed}")
    except Exception as exc:
        if _transport_failure(exc) and name in SPOOLED_EVENTS:
            _log(f"{event}: failed: {type(exc).__name__}: {exc}; {_spool(name, payload, arrived_ns)}")
        else:
            _log(f"{event}: failed: {type(exc).__name__}: {exc}")


# --- the spool: events the hub could not be reached for ------------------------------------------
# Heartbeats are not kept (the next one says the same, and a replayed one would date activity
# wrongly); a start, a todo list and an end are, so an outage loses none of them.
SPOOLED_EVENTS = ("SessionStart", "PostToolUse", "SessionEnd")
SPOOL_MAX = 1000
CLAIM_STALE_S = 600  # a replay takes seconds; a claim this old belongs to a hook that died
LOG_MAX_BYTES = 1_000_000


def _spool_dir() -> Path:
    return _state_dir() / "spool"


def _transport_failure(exc: BaseException) -> bool:
    """The hub was not reached or failed (connection error, timeout, 5xx): worth retrying later.
    A 4xx (bad token, refused input) would fail again the same way."""
    from chitty_pipelines.chittyos.sync_client import SyncServiceError

    return isinstance(exc, SyncServiceError) and (exc.status is None or exc.status >= 500)


def _spool(event: str, payload: dict[str, Any], arrived_ns: int) -> str:
    d = _spool_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        if sum(1 for _ in d.glob("*.json")) >= SPOOL_MAX:
            return f"spool full ({SPOOL_MAX} events), dropped"
        # arrival time first: the names sort in the order the events came (a retry that took
        # longer must not put an end before the todo list written ahead of it)
        name = f"{arrived_ns:020d}-{os.getpid()}.json"
        tmp = d / (name + ".tmp")
        tmp.write_text(json.dumps({"event": event, "payload": payload}))
        tmp.chmod(0o600)  # the user's todo lists and paths: theirs only, like the mktemp copy
        os.replace(tmp, d / name)
    except OSError as exc:
        return f"not spooled ({exc})"
    return "kept in the spool, replayed when the hub answers again"


def _replay_spool() -> str:
    """Send the spooled events, oldest first, before the current one; stop at the first that
    still cannot reach the hub (it stays, as do the later ones). Each file is claimed by a rename,
    so two hooks running at once never send one event twice."""
    d = _spool_dir()
    if not d.is_dir():
        return ""
    for stale in d.glob("*.claim"):  # claimed by a hook that died before sending it: back in line
        try:
            if time.time() - stale.stat().st_mtime > CLAIM_STALE_S:
                os.replace(stale, d / (stale.name.split(".json.", 1)[0] + ".json"))
        except OSError:
            pass
    files = sorted(d.glob("*.json"))
    sent = 0
    for f in files:
        claimed = f.with_name(f.name + f".{os.getpid()}.claim")
        try:
            os.replace(f, claimed)
            os.utime(claimed)  # the claim's age, for the stale check above
        except OSError:
            continue  # another hook took it
        try:
            item = json.loads(claimed.read_text())
            result = handle(item["event"], item["payload"])
        except Exception as exc:
            if _transport_failure(exc):
                os.replace(claimed, f)  # still unreachable: keep it, and the rest, for later
                break
            claimed.unlink(missing_ok=True)
            _log(f"spooled {f.name}: failed: {type(exc).__name__}: {exc}; dropped")
            continue
        claimed.unlink(missing_ok=True)
        _log(f"spooled {item['event']}: {result}")
        sent += 1
    return f" (after replaying {sent} spooled events)" if sent else ""


__all__ = ["handle", "install", "merge_ours", "our_handlers", "remove_ours", "run", "uninstall"]
