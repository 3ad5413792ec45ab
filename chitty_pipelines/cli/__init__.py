"""``chitty-sync``: the command-line surface of chitty-pipelines.

Every command that syncs goes through Dagster (so runs, materializations and checks are recorded
exactly as when launched from the UI); nothing here touches a platform directly.
"""

from __future__ import annotations

import contextlib

# Each module adds its commands to the one app when imported; the order is the --help order.
from chitty_pipelines.cli import sql, status, sync, ui  # noqa: F401  (syncall, backfill, status, env, ui, sql)
from chitty_pipelines.cli.app import app, one_line_summaries, quiet_connection_pool_errors
from chitty_pipelines.cli.demo import register as _register_demo
from chitty_pipelines.cli.hooks import register as _register_hooks
from chitty_pipelines.cli.ops import register_commands as _register_ops
from chitty_pipelines.cli.publish import register as _register_publish
from chitty_pipelines.cli.registry import register as _register_registry
from chitty_pipelines.cli.serve import register as _register_serve
from chitty_pipelines.cli.todos import register as _register_todos
from chitty_pipelines.cli.topics import register as _register_topics
from chitty_pipelines.kernel.secrets import install_log_scrubbing

for _register in (
    _register_registry,
    _register_topics,
    _register_todos,
    _register_publish,
    _register_ops,
    _register_demo,
    _register_serve,
    _register_hooks,
):
    _register(app)
one_line_summaries(app)


def main() -> None:
    import gc
    import warnings

    # Single-run backfill policies are "beta" in Dagster 1.13 and say so on every start; the
    # notice is for developers of the code location, not for someone running a sync. Matched by
    # its text (dagster.BetaWarning's): importing Dagster here would cost every command, --help
    # and the Claude Code hooks included, ~0.5-1 s.
    warnings.filterwarnings("ignore", message=r".* is currently in beta, and may have breaking changes")
    # What the imports built stays for the whole command: exempt it from the collector's full
    # passes, which otherwise walk it again while the definitions load (runner.py freezes again
    # once those are loaded).
    gc.freeze()
    # Log lines of this process (SDKs included) are masked before any handler prints them.
    install_log_scrubbing()
    quiet_connection_pool_errors()
    try:
        app()
    except SystemExit as exc:
        if exc.code == 130:  # typer's exit for Ctrl-C (KeyboardInterrupt): said, not silent
            _interrupted()
        raise
    except Exception as exc:  # the one place an unexpected error reaches the user
        _report_error(exc)
        raise SystemExit(1) from None
    finally:
        _stop_children()
        _skip_final_collection()


def _interrupted() -> None:
    """Ctrl-C: say so as the last line, and end at once when a run is still executing.

    The run's worker thread (a daemon, cli/runner.py) may be inside DuckDB's C++ code, e.g.
    waiting for the warehouse lock; the interpreter's shutdown then unwinds it through a C++
    catch-all and the process aborted (SIGABRT, a core dump, exit -6) before any of its output
    was flushed. The run's processes are stopped first, as on every exit."""
    import os
    import sys

    from chitty_pipelines.cli.app import console
    from chitty_pipelines.cli.runner import runs_executing

    console.print(f"{_command()} interrupted", style="bold red", markup=False, highlight=False)
    if runs_executing():
        _stop_children()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(130)


def _skip_final_collection() -> None:
    """Spare the interpreter's exit a garbage collection over everything the command imported.

    Dagster, pyarrow and DuckDB leave ~110k tracked objects behind; the collections that run while
    the interpreter shuts down walk all of them and cost ~0.45 s of every command (measured:
    ``import dagster`` then exit, 1.1 s with them, 0.65 s without). Frozen objects are still freed
    by reference counting as modules are torn down and atexit handlers still run; only cycles
    among them are left to the operating system, which reclaims the memory anyway. Every file and
    connection this command opened was closed explicitly before here.
    """
    import gc
    import sys

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    gc.freeze()


def _command() -> str:
    import sys

    words = [a for a in sys.argv[1:] if not a.startswith("-")]
    return f"chitty-sync {words[0]}" if words else "chitty-sync"


def explain(exc: BaseException) -> str:
    """One line: what failed, naming the variable or file, and what to do about it."""
    import duckdb

    from chitty_pipelines import config

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, config.ConfigError):
        return text
    if isinstance(exc, duckdb.Error):
        path = config.load_settings().warehouse_path
        return (
            f"the warehouse {path} cannot be used ({type(exc).__name__}: {text}); check "
            "CHITTY_WAREHOUSE_PATH / CHITTY_HOME, or wait for the process that holds it"
        )
    if isinstance(exc, OSError) and exc.filename:
        return (
            f"{exc.filename}: {exc.strerror or text}; check the folder variables (CHITTY_HOME, "
            "CHITTY_WAREHOUSE_PATH, CHITTY_OPSTORE_PATH, DAGSTER_HOME, CLAUDE_HOME, CHITTY_EXPORTS_DIR)"
        )
    return f"{type(exc).__name__}: {text}"


def _report_error(exc: BaseException) -> None:
    import traceback

    from chitty_pipelines import config
    from chitty_pipelines.cli.app import console

    if config.debug():
        trace = "".join(traceback.format_exception(exc))
        console.print(trace.rstrip(), markup=False, highlight=False)  # masked by the console's stream
    else:
        hint = " (run with --debug or CHITTY_DEBUG=1 for the traceback)"
        console.print(f"✗ {explain(exc)}{hint}", style="red", markup=False, highlight=False)
    console.print(f"{_command()} failed", style="bold red", markup=False, highlight=False)


def _stop_children() -> None:
    """Nothing this command started outlives it.

    Dagster mirrors a run's captured stdout/stderr through ``tail -F`` helper processes; when one
    is left behind (seen under heavy load) it keeps our stdout open, and a caller waiting for
    the output to end (a pipe, ``subprocess.run(capture_output=True)``) waits forever.
    """
    import psutil

    children = [c for c in psutil.Process().children(recursive=True) if not _resource_tracker(c)]
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _gone, alive = psutil.wait_procs(children, timeout=3)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def _resource_tracker(child) -> bool:
    """multiprocessing's resource tracker (started by the multiprocess executor): it ignores
    SIGTERM by design and exits by itself, after cleaning up, once this process has ended and its
    pipe closes. Terminating it only made every syncall of two or more platforms wait the full
    3 s for it before killing it."""
    import psutil

    try:
        return any("multiprocessing.resource_tracker" in part for part in child.cmdline())
    except psutil.Error:
        return False


__all__ = ["app", "main"]
