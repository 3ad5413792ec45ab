"""Secrets never leave the process (issue 15).

Every platform and the registration run against fakes that fail every request with 400, 401,
403 or 5xx and quote the request's headers (Authorization included) in the error body. Then the
distinctive secret values are searched in everything that is stored or printed: the warehouse
(every column of every table), the op store and every other file under CHITTY_HOME (Dagster's
SQLite event log and compute logs included), Dagster's event log through the instance, and the
commands' stdout and stderr. None may be found.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from chitty_pipelines.chittyos.fake import ChittyOSFakes
from chitty_pipelines.kernel.fake_server import FakeService, Faults
from chitty_pipelines.kernel.secrets import MASK, install_log_scrubbing, scrub, scrubbed_error
from chitty_pipelines.platforms.cloudflare.fake import FakeCloudflare
from chitty_pipelines.platforms.drive.fake import FakeDrive
from chitty_pipelines.platforms.github.fake import GitHubFake
from chitty_pipelines.platforms.notion.fake import FakeNotion
from chitty_pipelines.warehouse import Reject, Warehouse
from tests.local_fixtures import write_local_corpus

CLI = [sys.executable, "-m", "chitty_pipelines.cli"]

# Distinctive, and shaped like no known token: only the configured values can mask them.
SECRETS = {
    "GITHUB_TOKEN": "Gh7TokValue-qzx81",
    "NOTION_TOKEN": "N0tionTokValue-qzx82",
    "CLOUDFLARE_API_TOKEN": "CfApiTokValue-qzx83",
    "CLOUDFLARE_R2_ACCESS_KEY_ID": "R2KeyIdValue-qzx84",
    "CLOUDFLARE_R2_SECRET_ACCESS_KEY": "R2SecretValue-qzx85",
    "DRIVE_REFRESH_TOKEN": "DrRefreshValue-qzx86",
    "DRIVE_CLIENT_SECRET": "DrClientSecretValue-qzx88",
    "CHITTY_REGISTER_TOKEN": "RegisterTokValue-qzx89",
    "CHITTY_REGISTRY_TOKEN": "RegistryTokValue-qzx90",
    "CHITTY_ID_TOKEN": "IdTokValue-qzx91",
    "CHITTY_TOPIC_LLM_API_KEY": "LlmKeyValue-qzx92",
    "OPENAI_API_KEY": "OpenAiKeyValue-qzx93",
}
NEON_PASSWORD = "NeonPwValue-qzx94"
NEEDLES = [*SECRETS.values(), NEON_PASSWORD]
FAILING = (400, 401, 403, 500, 502, 503)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _echoing() -> Faults:
    # Every request fails; the seeded draw mixes client errors (not retried) and server errors
    # (retried, then given up), and every error body quotes the request's headers.
    return Faults(rate=1.0, statuses=FAILING, echo_headers=True, seed=15)


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeService]]:
    servers: dict[str, FakeService] = {
        "github": GitHubFake(tokens={SECRETS["GITHUB_TOKEN"]: "octo"}, faults=_echoing()),
        "notion": FakeNotion(token=SECRETS["NOTION_TOKEN"], faults=_echoing()),
        "cloudflare": FakeCloudflare(
            account_id="acc123", token=SECRETS["CLOUDFLARE_API_TOKEN"], faults=_echoing()
        ),
        "drive": FakeDrive(faults=_echoing()),
    }
    for server in servers.values():
        server.start()
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def chittyos() -> Iterator[ChittyOSFakes]:
    with ChittyOSFakes(
        register_token=SECRETS["CHITTY_REGISTER_TOKEN"],
        registry_token=SECRETS["CHITTY_REGISTRY_TOKEN"],
        id_token=SECRETS["CHITTY_ID_TOKEN"],
        propagate=False,
    ) as services:
        for fake in services.services.values():
            fake.faults = _echoing()
            fake._rng.seed(15)
        # Register's 400 is its validation answer, whose "errors" the stored message quotes:
        # always 400 there, so that path (issue 15's stored token) is taken on every run.
        services.register.faults = Faults(rate=1.0, statuses=(400,), echo_headers=True)
        yield services


def _env(tmp_path: Path, fakes: dict[str, FakeService], chittyos: ChittyOSFakes) -> dict[str, str]:
    paths = write_local_corpus(tmp_path)
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "CHITTY_",
                "CLAUDE_",
                "DAGSTER_",
                "NEON_",
                "NOTION_",
                "GITHUB_",
                "CLOUDFLARE_",
                "DRIVE_",
                "OPENAI_",
            )
        )
    }
    github, notion, cloudflare, drive = (fakes[n] for n in ("github", "notion", "cloudflare", "drive"))
    return {
        **base,
        **chittyos.env(),
        **SECRETS,
        "CHITTY_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "CLAUDE_HOME": str(paths["claude"]),
        "CHITTY_EXPORTS_DIR": str(paths["exports"]),
        "GITHUB_BASE_URL": github.api_url,  # type: ignore[attr-defined]
        "GITHUB_OWNERS": "octo",
        "NOTION_BASE_URL": notion.base_url,
        "NOTION_DATABASES": "0123456789abcdef0123456789abcdef",
        "CLOUDFLARE_ACCOUNT_ID": "acc123",
        "CLOUDFLARE_API_BASE_URL": cloudflare.base_url,
        "CLOUDFLARE_KV_NAMESPACE_IDS": "ns1",
        "CLOUDFLARE_D1_DATABASE_IDS": "db1",
        # S3 requests carry the access key id in their signed Authorization header.
        "CLOUDFLARE_R2_ENDPOINT": cloudflare.base_url,
        "CLOUDFLARE_R2_BUCKETS": "bucket1",
        "DRIVE_CLIENT_ID": "client-1.apps.googleusercontent.com",  # an id, not a secret
        "DRIVE_FOLDER_ID": "folder-1",
        "DRIVE_TOKEN_URI": drive.token_uri,  # type: ignore[attr-defined]
        "DRIVE_BASE_URL": drive.base_url + "/",
        "NEON_DATABASE_URL": f"postgresql://chitty:{NEON_PASSWORD}@127.0.0.1:{_closed_port()}/chitty",
        "CHITTY_OPS_TIMEOUT": "2",
    }


def _hits(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


def _warehouse_hits(path: Path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return _hits_in(con)
    finally:
        con.close()


def _hits_in(con: Any) -> list[str]:  # a DuckDB connection, or the PostgreSQL one
    found = []
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
    ).fetchall()
    for schema, table in tables:
        columns = [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = ? AND table_name = ?",
                [schema, table],
            ).fetchall()
        ]
        for column in columns:
            for needle in NEEDLES:
                n = con.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                    [f"%{needle}%"],
                ).fetchone()[0]
                if n:
                    found.append(f"{schema}.{table}.{column}: {needle}")
    return found


def _file_hits(root: Path) -> list[str]:
    """Raw bytes of every file but the DuckDB warehouse (its strings may be compressed; it is
    searched with SQL): the op store, Dagster's SQLite storage, the compute logs."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.name.endswith((".duckdb", ".duckdb.wal")):
            data = path.read_bytes()
            found += [f"{path}: {n}" for n in NEEDLES if n.encode() in data]
    return found


@pytest.mark.slow
def test_no_secret_leaves_the_process(tmp_path: Path, fakes: dict[str, FakeService], chittyos: ChittyOSFakes):
    env = _env(tmp_path, fakes, chittyos)
    runs = [
        subprocess.run([*CLI, cmd], env=env, capture_output=True, text=True, timeout=900)
        for cmd in ("syncall", "register")
    ]
    syncall, register = runs
    # The test is only as good as its faults: every fake answered, every one with echoed headers.
    for name, fake in [*fakes.items(), ("register", chittyos.register), ("registry", chittyos.registry)]:
        assert fake.total_requests > 0, f"{name} was never called:\n{syncall.stderr[-3000:]}"
    statuses = {status for fake in fakes.values() for _m, _p, status in fake.log}
    assert {400, 401, 403} <= statuses and statuses & {500, 502, 503}, statuses
    assert syncall.returncode != 0 and register.returncode != 0  # they did fail
    assert any(status == 400 for _m, _p, status in chittyos.register.log)

    leaks = []
    for run in runs:
        leaks += [f"{run.args[-1]} stdout: {n}" for n in _hits(run.stdout)]
        leaks += [f"{run.args[-1]} stderr: {n}" for n in _hits(run.stderr)]
    leaks += _warehouse_hits(Path(env["CHITTY_HOME"]) / "warehouse.duckdb")
    leaks += _file_hits(Path(env["CHITTY_HOME"]))
    leaks += _file_hits(Path(env["DAGSTER_HOME"]))
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        records = instance.get_run_records()
        assert records, "no run recorded"
        for record in records:
            for entry in instance.all_logs(record.dagster_run.run_id):
                text = f"{entry.user_message}\n{entry.dagster_event!r}"
                leaks += [f"event log {record.dagster_run.run_id}: {n}" for n in _hits(text)]
    assert not leaks, "\n".join(leaks) + f"\n--- syncall stderr tail:\n{syncall.stderr[-2000:]}"
    # The failures still say what failed.
    assert "github" in syncall.stderr and "notion" in syncall.stderr


# --- the scrubber and its exits, in process -------------------------------------------------------


@pytest.fixture
def configured_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NEON_DATABASE_URL", f"postgresql://chitty:{NEON_PASSWORD}@db.example/chitty")


def test_scrub_masks_configured_values_and_credential_patterns(configured_secrets):
    text = (
        f"401 {{'authorization': 'token {SECRETS['GITHUB_TOKEN']}'}} then {SECRETS['NOTION_TOKEN']} "
        f"postgresql://chitty:{NEON_PASSWORD}@db.example/chitty?sslmode=require"
    )
    clean = scrub(text)
    assert not _hits(clean), clean
    assert clean.startswith("401 {'authorization': '***'} then *** ")
    # a URL that is not the configured one: only its password goes
    other = "dial postgres://app:hunter2hunter@10.0.0.1/x failed"
    assert scrub(other) == "dial postgres://app:***@10.0.0.1/x failed"
    patterns = {
        "Authorization: Bearer abcdef123456": "Authorization: ***",
        "sent Bearer abcdef123456 twice": "sent Bearer *** twice",
        "x-chittyid-token: abcdef123456": "x-chittyid-token: ***",
        "GET /x?token=abcdef123456&page=2": "GET /x?token=***&page=2",
        "key ghp_abcdefghijklmnopqrstuv": "key ***",
        "key ntn_abcdefghijklmnopqrstuvwxyz": "key ***",
        "the token expired": "the token expired",  # words stay words
    }
    for raw, masked in patterns.items():
        assert scrub(raw) == masked, raw


def test_log_records_of_any_logger_are_masked(configured_secrets, caplog: pytest.LogCaptureFixture):
    install_log_scrubbing()
    with caplog.at_level(logging.INFO):
        logging.getLogger("notion_client").warning("response: %s", {"authorization": SECRETS["NOTION_TOKEN"]})
        try:
            raise RuntimeError(SECRETS["GITHUB_TOKEN"])
        except RuntimeError:
            logging.getLogger("some.sdk").exception("failed")
    assert not _hits(caplog.text), caplog.text
    assert MASK in caplog.text


def test_raised_errors_keep_their_type_and_chain_and_lose_the_secret(configured_secrets):
    class ApiError(Exception):
        def __init__(self, status: int, body: str):
            super().__init__(status, body)
            self.status = status

    try:
        try:
            raise ApiError(401, f"echo Authorization: token {SECRETS['GITHUB_TOKEN']}")
        except ApiError as inner:
            raise RuntimeError("github refused the token: check GITHUB_TOKEN") from inner
    except RuntimeError as exc:
        clean = scrubbed_error(exc)
    assert isinstance(clean, RuntimeError) and str(clean) == "github refused the token: check GITHUB_TOKEN"
    cause = clean.__cause__
    assert isinstance(cause, ApiError) and type(cause).__name__ == "ApiError"
    assert "401" in str(cause) and not _hits(str(cause) + repr(cause)), str(cause)
    assert clean.__traceback__ is not None  # where it failed is kept

    plain = ValueError("nothing secret here")
    assert scrubbed_error(plain) is plain  # untouched when nothing needs masking
    failure = scrubbed_error(dg.Failure(description=f"bad {SECRETS['NOTION_TOKEN']}", allow_retries=False))
    assert isinstance(failure, dg.Failure) and not _hits(failure.description or "")
    assert failure.allow_retries is False


def test_stored_text_is_masked_on_either_warehouse(configured_secrets, warehouse: Warehouse):
    """Rejects and the sync log are scrubbed when written, on DuckDB and on PostgreSQL (the test
    below adds the migration of a DuckDB file written before the scrubber)."""
    with warehouse.transaction("r1") as tx:
        tx.add_rejects(
            [Reject("github", "issues", "u", "1", f"bad {SECRETS['GITHUB_TOKEN']}", SECRETS["GITHUB_TOKEN"])]
        )
        tx.log_sync(
            platform="github", asset="a", started_at=tx.now, status="failed", message=SECRETS["GITHUB_TOKEN"]
        )
    with warehouse.connect() as con:
        assert not _hits_in(con)
    assert warehouse.scalar("SELECT count(*) FROM ops.rejects WHERE reason = 'bad ***'") == 1
    assert warehouse.scalar("SELECT message FROM ops.sync_log") == "***"


@pytest.mark.duckdb_only("migrates a DuckDB file written before the scrubber existed")
def test_stored_text_is_masked_and_old_messages_are_migrated(configured_secrets, tmp_path: Path):
    path = tmp_path / "wh.duckdb"
    # A warehouse from before the scrubber: a secret already stored in a message.
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA ops")
    con.execute("CREATE TABLE ops.service_registrations (service VARCHAR, message VARCHAR)")
    con.execute(
        "INSERT INTO ops.service_registrations VALUES ('canon', ?)",
        [f"401 {SECRETS['CHITTY_REGISTER_TOKEN']}"],
    )
    con.close()

    wh = Warehouse(path)
    with wh.transaction("r1") as tx:
        tx.add_rejects(
            [Reject("github", "issues", "u", "1", f"bad {SECRETS['GITHUB_TOKEN']}", SECRETS["GITHUB_TOKEN"])]
        )
        tx.log_sync(
            platform="github", asset="a", started_at=tx.now, status="failed", message=SECRETS["GITHUB_TOKEN"]
        )
    assert not _warehouse_hits(path)
    assert wh.scalar("SELECT message FROM ops.service_registrations") == "401 ***"
    assert wh.scalar("SELECT count(*) FROM ops.migrations WHERE name = '0001_scrub_stored_secrets'") == 1

    # Once: a later open does not scan again (the marker), and a new warehouse gets the marker too.
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO ops.service_registrations VALUES ('x', ?)", [SECRETS["CHITTY_REGISTER_TOKEN"]])
    con.close()
    assert (
        Warehouse(path).scalar("SELECT count(*) FROM ops.migrations WHERE name = '0001_scrub_stored_secrets'")
        == 1
    )
    assert Warehouse(path).scalar("SELECT count(*) FROM ops.service_registrations WHERE message = '***'") == 0
