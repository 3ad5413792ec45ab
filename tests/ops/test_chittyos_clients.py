"""The Register / Registry / health clients against the fakes: contract variants and faults."""

from __future__ import annotations

import pytest

from chitty_pipelines.chittyos.catalogue import core_services
from chitty_pipelines.chittyos.fake import ChittyOSFakes
from chitty_pipelines.chittyos.health import judge_health, probe_health
from chitty_pipelines.chittyos.registry import RegistryClient, RegistryContractError


@pytest.mark.parametrize(
    ("status", "body", "healthy", "reason"),
    [
        (200, {"status": "HEALTHY"}, True, "status 'HEALTHY'"),
        (200, {"status": "Operational"}, True, "status 'Operational'"),
        (200, {"status": "unhealthy"}, False, "status 'unhealthy'"),  # contains "healthy": no substring match
        (200, {"success": False, "message": "ok"}, False, "200 but the JSON has no status field"),
        (200, "<html>ok</html>", False, "200 but the body is not a JSON object"),
        (503, {"status": "healthy"}, False, "HTTP 503"),
    ],
)
def test_health_is_judged_on_parsed_fields(status, body, healthy, reason):
    result = judge_health("x", "http://x/health", status, body, 1.0)
    assert (result.reachable, result.healthy, result.reason) == (True, healthy, reason)


def test_slow_service_times_out_and_is_unreachable():
    with ChittyOSFakes() as fakes:
        fakes.slow("canon", 1.0)
        result = probe_health("canon", fakes.url("canon") + "/health", timeout_s=0.2)
        assert (result.reachable, result.healthy) == (False, False)
        assert result.reason.startswith("timed out")
        assert 150 <= result.latency_ms < 900


def test_registry_v1_routes_with_chittyid_token():
    with ChittyOSFakes(propagate=False) as fakes:
        service = next(s for s in core_services({}) if s.name == "canon")
        with RegistryClient(
            fakes.registry.base_url, routes="v1", auth="chittyid-token", token="registry-token", timeout_s=2
        ) as registry:
            assert registry.discover("canon") is None
            outcome = registry.register(service)
            assert (outcome.status, outcome.http_status) == ("registered", 200)
            assert fakes.registry.requests["POST /api/v1/register"] == 1
            assert registry.discover("canon")["name"] == "canon"
            assert fakes.registry.requests["GET /api/v1/discover/canon"] == 2


def test_registry_read_only_and_broken_total():
    with ChittyOSFakes(propagate=False) as fakes:
        fakes.registry.read_only = True
        service = next(s for s in core_services({}) if s.name == "sync")
        with RegistryClient(fakes.registry.base_url, token="registry-token", timeout_s=2) as registry:
            assert registry.register(service).status == "read_only"
            fakes.registry.total_override = "35"
            with pytest.raises(RegistryContractError, match="total '35' is not an integer"):
                registry.list()


def test_catalogue_overrides_from_the_environment(monkeypatch):
    monkeypatch.setenv("CHITTY_SERVICE_URLS", "canon=http://canon.local:8080/, schema = http://s.local")
    monkeypatch.setenv("CHITTY_REGISTER_URL", "http://reg.local")
    urls = {s.name: s.url for s in core_services()}
    assert urls["canon"] == "http://canon.local:8080"
    assert urls["schema"] == "http://s.local"
    assert urls["register"] == "http://reg.local"
    assert urls["sync"] == "https://sync.chitty.cc"
