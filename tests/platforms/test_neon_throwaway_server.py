"""The throwaway PostgreSQL that `chitty-sync demo` and the tests start (platforms/neon/fake.py)."""

from __future__ import annotations

import psycopg
import pytest

from chitty_pipelines.platforms.neon import fake


def test_starts_from_a_shell_without_sbin_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # `env -i`, cron and some containers give root PATH=/usr/bin:/bin: runuser (/usr/sbin) was
    # not found, so the demo left Neon out ("no PostgreSQL") although the binaries were there.
    if fake._bin_dir() is None:
        pytest.skip("no PostgreSQL binaries on this machine")
    monkeypatch.delenv(fake.ENV_DSN, raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with fake.postgres_server() as dsn, psycopg.connect(dsn) as con:
        assert con.execute("SELECT 1").fetchone() == (1,)
