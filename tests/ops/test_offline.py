"""CHITTY_OFFLINE=1 and local-only use (issue 15): no connection to a real host, no red FAIL for a
ChittyOS service nobody configured, and ``check`` still fails on a configured failure."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import dagster as dg
import pytest
from typer.testing import CliRunner

from chitty_pipelines import config
from chitty_pipelines.chittyos.resource import ChittyServicesResource
from chitty_pipelines.cli import app
from chitty_pipelines.ops import defs as ops_defs
from chitty_pipelines.ops.health import platform_health, service_health
from chitty_pipelines.ops.registration import register_all
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource

runner = CliRunner()
CHITTY_VARS = (
    "CHITTY_ID_URL",
    "CHITTY_ID_TOKEN",
    "CHITTY_REGISTER_URL",
    "CHITTY_REGISTER_TOKEN",
    "CHITTY_REGISTRY_URL",
    "CHITTY_REGISTRY_TOKEN",
    "CHITTY_SERVICE_URLS",
    "CHITTY_OFFLINE",
)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every outbound TCP/UDP connection attempted (and refused) while the test runs."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        if self.family == socket.AF_UNIX:  # local IPC, not the network
            return real_connect(self, address)
        attempts.append(address)
        raise OSError("test: outbound connection attempted")

    def create_connection(address: object, *args: object, **kwargs: object) -> socket.socket:
        attempts.append(address)
        raise OSError("test: outbound connection attempted")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield attempts


@pytest.fixture
def local_only(chitty_home, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "claude" / "projects").mkdir(parents=True)  # a Claude Code user with no session yet
    for spec in config.ENV_VARS:  # the machine may have real tokens
        if spec.platform and spec.platform not in ("claude_code", "chatgpt", "gemini"):
            monkeypatch.delenv(spec.name, raising=False)
    for name in CHITTY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def offline_real(local_only, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything configured against the real hosts, and CHITTY_OFFLINE=1."""
    monkeypatch.setenv("CHITTY_OFFLINE", "1")
    monkeypatch.setenv("CHITTY_SERVICE_URLS", "canon=https://canon.chitty.cc,schema=https://schema.chitty.cc")
    monkeypatch.setenv("CHITTY_ID_TOKEN", "id-token-offline")
    monkeypatch.setenv("CHITTY_REGISTER_TOKEN", "register-token-offline")
    monkeypatch.setenv("CHITTY_REGISTRY_TOKEN", "registry-token-offline")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_offlinetokenoffline1234")
    monkeypatch.setenv("GITHUB_OWNERS", "octo")
    monkeypatch.setenv("NOTION_TOKEN", "secret_offlinetokenoffline12345")


def test_offline_status_check_health_and_sensors_make_no_connection(
    offline_real, connections: list[object], warehouse: Warehouse, warehouse_resource: WarehouseResource
):
    result = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "offline" in result.stdout
    assert "FAIL" not in result.stdout

    code_result = runner.invoke(app, ["check", "--json"])
    report = json.loads(code_result.stdout)
    verdicts = {(ln["test"], ln["name"]): ln for ln in report["lines"]}
    assert verdicts[(11, "github")]["verdict"] == "SKIP" and "offline" in verdicts[(11, "github")]["reason"]
    assert verdicts[(12, "canon")]["verdict"] == "SKIP" and "offline" in verdicts[(12, "canon")]["reason"]
    assert verdicts[(13, "id mint")]["verdict"] == "SKIP"
    assert verdicts[(13, "registry list")]["verdict"] == "SKIP"
    assert verdicts[(14, "canon")]["verdict"] == "SKIP"
    assert report["counts"]["FAIL"] == 0

    resource = ChittyServicesResource.from_settings()
    assert {h.skipped for h in service_health(resource) if resource.configured(_svc(resource, h.name))} == {
        "offline"
    }
    assert {p.ok for p in platform_health(["github", "notion"])} == {None}
    outcomes = register_all(resource)
    assert {o.status for o in outcomes} == {"offline"}

    # The sensors of the UI: health (probe + registry list) and the registration sensor's job.
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(
            instance=instance,
            resources={"chittyos_services": resource, "warehouse": warehouse_resource},
        )
        result_sensor = ops_defs.health_sensor(ctx)
        assert isinstance(result_sensor, dg.SensorResult) and not result_sensor.run_requests
    assert connections == []


def _svc(resource: ChittyServicesResource, name: str):
    return next(s for s in resource.services() if s.name == name)


def test_offline_still_reaches_fakes(local_only, monkeypatch: pytest.MonkeyPatch):
    """The demo sets CHITTY_OFFLINE=1 and points at fakes on 127.0.0.1: those are contacted."""
    from chitty_pipelines.chittyos.fake import ChittyOSFakes

    monkeypatch.setenv("CHITTY_OFFLINE", "1")
    with ChittyOSFakes() as fakes:
        for name, value in fakes.env().items():
            monkeypatch.setenv(name, value)
        health = {h.name: h for h in service_health(ChittyServicesResource.from_settings())}
    assert all(h.healthy and h.skipped is None for h in health.values())


def test_local_only_shows_not_configured_and_check_passes(
    local_only, connections: list[object], warehouse: Warehouse
):
    from datetime import UTC, datetime

    with warehouse.transaction("sync-run") as tx:  # a local sync happened
        tx.log_sync(
            platform="claude_code",
            asset="raw_local.claude_sessions",
            started_at=datetime.now(UTC),
            status="success",
        )
    result = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = [ln for ln in result.stdout.splitlines() if ln.startswith("| ")]  # piped: markdown
    services = {c[1].strip(): c[2].strip() for c in (ln.split("|") for ln in rows) if len(c) > 4}
    for name in ("identity", "register", "registry", "canon", "schema", "sync", "auth", "gateway"):
        assert services[name] == "not configured", result.stdout
    assert "FAIL" not in result.stdout

    check = runner.invoke(app, ["check"])
    assert check.exit_code == 0, check.stdout
    assert not [ln for ln in check.stdout.splitlines() if ln.startswith(("FAIL", "WARN"))]
    assert "0 FAIL" in check.stdout.splitlines()[-1]
    assert "skipped (not configured or offline, not counted): 11 " in check.output
    assert "12 identity" in check.output and "12 canon" in check.output
    assert connections == []  # nothing configured: nothing contacted


def test_check_exits_1_when_one_configured_service_fails(local_only, warehouse: Warehouse, monkeypatch):
    """Only canon is configured (on a port nobody listens on): it is scored and it fails."""
    from datetime import UTC, datetime

    with warehouse.transaction("sync-run") as tx:
        tx.log_sync(
            platform="claude_code",
            asset="raw_local.claude_sessions",
            started_at=datetime.now(UTC),
            status="success",
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CHITTY_SERVICE_URLS", f"identity=http://127.0.0.1:{port}")
    result = runner.invoke(app, ["check", "--json"])
    report = json.loads(result.stdout)
    lines = {(ln["test"], ln["name"]): ln["verdict"] for ln in report["lines"]}
    assert lines[(12, "identity")] == "FAIL" and lines[(12, "canon")] == "SKIP"
    assert result.exit_code == 1


def test_which_hosts_count_as_local():
    assert config.is_local_url("http://127.0.0.1:8080/health") and config.is_local_url("http://localhost/x")
    assert config.is_local_url("postgresql://u:p@127.0.0.1:5432/db") and config.is_local_url(
        "host=/tmp dbname=x"
    )
    assert not config.is_local_url("https://id.chitty.cc") and not config.is_local_url("host=ep-x.neon.tech")


def test_a_platform_part_that_is_not_set_up_does_not_make_it_offline(local_only, monkeypatch):
    """Cloudflare KV/D1 on a fake without R2 keys: the default R2 host is never contacted."""
    monkeypatch.setenv("CHITTY_OFFLINE", "1")
    monkeypatch.setenv("CLOUDFLARE_API_BASE_URL", "http://127.0.0.1:9/client/v4")
    from chitty_pipelines.platforms import registry

    assert not registry.get("cloudflare").offline()
    monkeypatch.setenv("CLOUDFLARE_R2_ACCESS_KEY_ID", "AKIAEXAMPLE")
    assert registry.get("cloudflare").offline()  # now R2's real endpoint would be used
    assert registry.get("github").offline()  # GITHUB_BASE_URL unset: api.github.com
    assert not registry.get("claude_code").offline()  # files only
