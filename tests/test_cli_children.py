"""What a command leaves behind when it ends (cli._stop_children)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil

_SCRIPT = """
import json, subprocess
import multiprocessing.resource_tracker as resource_tracker
import psutil
from chitty_pipelines.cli import _stop_children

resource_tracker.ensure_running()  # as Dagster's multiprocess executor starts it
tracker = next(c for c in psutil.Process().children() if "resource_tracker" in " ".join(c.cmdline()))
sleeper = subprocess.Popen(["sleep", "60"])  # e.g. a `tail -F` log mirror left behind
_stop_children()
_gone, alive = psutil.wait_procs([tracker], timeout=1)  # a killed tracker would be reaped here
print(json.dumps({"tracker": tracker.pid, "tracker_running": bool(alive),
                  "sleeper_gone": not psutil.pid_exists(sleeper.pid)}))
"""


def test_children_are_stopped_but_the_resource_tracker_ends_by_itself() -> None:
    # The tracker ignores SIGTERM by design: terminating it made every syncall of two or more
    # platforms (multiprocess executor) wait 3 s for it, then kill it before it could clean up.
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["sleeper_gone"]  # terminated
    assert out["tracker_running"]  # left to end by itself...
    deadline = time.monotonic() + 30
    while psutil.pid_exists(out["tracker"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        status = psutil.Process(out["tracker"]).status()
    except psutil.NoSuchProcess:
        status = "gone"
    assert status in ("gone", psutil.STATUS_ZOMBIE)  # ...which it does once its parent has ended
