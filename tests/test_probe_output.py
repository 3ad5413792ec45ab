"""`chitty-sync check` and `status` say what is wrong with a platform in one line: the probe's
retry warnings ("notion users/me failed (ConnectError), attempt 1/6; retrying in 0.04s", five of
them) no longer come before it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "chitty_pipelines.cli"]
PREFIXES = ("CHITTY_", "CLAUDE_", "DAGSTER_", "NEON_", "NOTION_", "GITHUB_", "CLOUDFLARE_", "DRIVE_")


def test_check_names_the_unreachable_base_url_in_one_line_without_retry_chatter(tmp_path: Path) -> None:
    with socket.socket() as s:  # bound then released: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env |= {
        "CHITTY_HOME": str(tmp_path / "home"),
        "HOME": str(tmp_path),
        "NOTION_TOKEN": "secret_probe_output_0123456789",
        "NOTION_BASE_URL": f"http://127.0.0.1:{port}",
    }
    check = subprocess.run([*CLI, "check"], env=env, capture_output=True, text=True, timeout=600)
    assert check.returncode == 1
    (line,) = [line for line in check.stdout.splitlines() if " notion " in line]
    assert line.startswith("FAIL 11") and f"reaching http://127.0.0.1:{port} (check NOTION_BASE_URL" in line
    assert "attempt 1/" not in check.stdout + check.stderr
