"""The ChittyOS clients never hang (issue 15): with every core service accepting requests and
never answering, health, registration and `check` finish within CHITTY_OPS_TIMEOUT per request
(pytest-timeout turns a hang into a failure) and report timeouts."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from chitty_pipelines.chittyos.fake import ChittyOSFakes
from chitty_pipelines.chittyos.ids import ChittyIdResource
from chitty_pipelines.chittyos.resource import ChittyServicesResource
from chitty_pipelines.cli import app
from chitty_pipelines.ops.health import service_health
from chitty_pipelines.ops.registration import register_all


@pytest.mark.timeout(120)
def test_services_that_never_answer_time_out(ops_env: ChittyOSFakes, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CHITTY_OPS_TIMEOUT", "1")
    for fake in ops_env.services.values():
        fake.faults.timeout_rate = 1.0  # every request accepted, never answered...
        fake.faults.timeout_hold_s = 4.0  # ...until long after the client gave up
    resource = ChittyServicesResource.from_settings(confirm_s=1.0, attempts=2)
    assert resource.timeout_s == 1.0
    assert ChittyIdResource.from_settings().timeout_s == 1.0

    health = service_health(resource)
    assert all(not h.reachable and "timed out" in h.reason for h in health), [h.reason for h in health]

    outcomes = register_all(resource)
    assert {o.status for o in outcomes if o.target == "register"} == {"unavailable"}
    assert {o.status for o in outcomes if o.target == "registry"} == {"unavailable"}

    result = CliRunner().invoke(app, ["check", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["counts"]["FAIL"] >= 2
    identity = next(ln for ln in report["lines"] if (ln["test"], ln["name"]) == (12, "identity"))
    assert "timed out" in identity["reason"]


@pytest.mark.timeout(120)
def test_check_asks_a_service_that_timed_out_once(ops_env: ChittyOSFakes, monkeypatch: pytest.MonkeyPatch):
    """`check` is a probe: a request that timed out is not sent again (README: each probe has its
    own timeout, at most CHITTY_OPS_TIMEOUT). It retried each timeout 2-3 times, so with Register,
    Registry and the id service slow, `check` stayed silent for 94 s at the default 10 s."""
    monkeypatch.setenv("CHITTY_OPS_TIMEOUT", "1")
    for name in ("identity", "register", "registry"):
        ops_env.services[name].faults.timeout_rate = 1.0
        ops_env.services[name].faults.timeout_hold_s = 2.0
    result = CliRunner().invoke(app, ["check", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    lines = {(ln["test"], ln["name"]): ln for ln in report["lines"]}
    assert "timed out" in lines[(13, "registry list")]["reason"]
    assert lines[(13, "id mint")]["verdict"] == "FAIL" and "timed out" in lines[(13, "id mint")]["reason"]
    assert ops_env.identity.requests["POST /v1/mint"] == 1
    assert ops_env.registry.requests["GET /api/v1/services"] == 1
    lookups = [n for key, n in ops_env.register.requests.items() if key.startswith("GET /api/v1/services/")]
    assert sum(lookups) == 1
