"""The register_core_services job against the fakes: every service registered with Register and
discoverable in Registry, idempotent on a second run, each failure reported as its own state."""

from __future__ import annotations

import re

import dagster as dg

from chitty_pipelines.chittyos.catalogue import bundled_catalogue
from chitty_pipelines.chittyos.fake import ChittyOSFakes
from chitty_pipelines.chittyos.resource import ChittyServicesResource
from chitty_pipelines.ops import defs as ops_defs
from chitty_pipelines.ops.registration import latest_registrations, register_all
from chitty_pipelines.warehouse import Warehouse

NAMES = [s.name for s in bundled_catalogue()]


def _run(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("register_core_services").execute_in_process(instance=instance)


def _statuses(warehouse: Warehouse, run_id: str) -> dict[tuple[str, str], str]:
    df = warehouse.query(
        "SELECT service, target, status FROM ops.service_registrations WHERE run_id = ?", [run_id]
    )
    return {(r.service, r.target): r.status for r in df.itertuples()}


def test_catalogue_has_the_eight_services_in_order():
    assert NAMES == ["identity", "sync", "register", "registry", "auth", "gateway", "canon", "schema"]
    schema = bundled_catalogue()[-1]
    assert (schema.type, schema.category, schema.health_url) == (
        "data",
        "Data",
        "https://schema.chitty.cc/health",
    )


def test_register_job_then_idempotent_rerun(ops_definitions, ops_env: ChittyOSFakes, warehouse: Warehouse):
    fakes = ops_env
    with dg.instance_for_test() as instance:
        first = _run(ops_definitions, instance)
        assert first.success
        statuses = _statuses(warehouse, first.run_id)
        assert {statuses[(n, "register")] for n in NAMES} == {"pending"}
        assert {statuses[(n, "registry")] for n in NAMES} == {"discoverable"}
        assert fakes.register.registrations == 8
        assert set(fakes.register.services) == set(NAMES)
        # v1 body mapping (§2.3): version from the service's /health, category from the catalogue
        identity = fakes.register.services["identity"]
        assert (identity["version"], identity["type"], identity["category"]) == (
            "2.1.0",
            "worker",
            "Foundation",
        )
        assert fakes.register.services["auth"]["version"] == "1.0.0"  # its /health has no version
        assert fakes.registry.writes == 0  # Register propagated them; nothing to write

        second = _run(ops_definitions, instance)
        assert second.success
        statuses = _statuses(warehouse, second.run_id)
        assert {statuses[(n, "register")] for n in NAMES} == {"already_registered"}
        assert {statuses[(n, "registry")] for n in NAMES} == {"discoverable"}
        assert fakes.register.registrations == 8  # no duplicate registration
        assert warehouse.scalar("SELECT count(*) FROM ops.service_registrations") == 32
        checks = {e.check_name: e.passed for e in second.get_asset_check_evaluations()}
        assert checks == {"registered_with_register": True, "discoverable_in_registry": True}
        events = [*instance.all_logs(first.run_id), *instance.all_logs(second.run_id)]
        text = " ".join(f"{e.user_message} {e.dagster_event}" for e in events)
        assert "already registered" in text  # the per-service log lines are in there
        for token in ("register-token", "registry-token", "id-token"):
            assert token not in text
        mat = second.asset_materializations_for_node("ops__service_registrations")[0]
        assert mat.metadata["register_already_registered"].value == 8
        assert mat.metadata["failed"].value == 0


def test_registry_without_propagation_is_written_with_the_token(chitty_home, monkeypatch):
    with ChittyOSFakes(propagate=False) as fakes:
        for k, v in fakes.env().items():
            monkeypatch.setenv(k, v)
        resource = ChittyServicesResource.from_settings(confirm_s=0.5)
        outcomes = {(o.service, o.target): o for o in register_all(resource)}
        assert all(outcomes[(n, "registry")].status == "discoverable" for n in NAMES)
        assert fakes.registry.writes == 8
        again = {(o.service, o.target): o for o in register_all(resource)}
        assert all(again[(n, "registry")].status == "discoverable" for n in NAMES)
        assert fakes.registry.writes == 8  # listed now, so not written again


def test_wrong_tokens_and_outages_are_states_not_crashes(chitty_home, monkeypatch):
    with ChittyOSFakes(propagate=False) as fakes:
        for k, v in fakes.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("CHITTY_REGISTER_TOKEN", "wrong-register-secret")
        monkeypatch.setenv("CHITTY_REGISTRY_TOKEN", "wrong-registry-secret")
        resource = ChittyServicesResource.from_settings(confirm_s=0.3)
        outcomes = register_all(resource)
        register = {o.service: o for o in outcomes if o.target == "register"}
        registry = {o.service: o for o in outcomes if o.target == "registry"}
        assert {o.status for o in register.values()} == {"auth_failed"}
        assert register["sync"].http_status == 401
        assert "CHITTY_REGISTER_TOKEN" in register["sync"].message
        assert {o.status for o in registry.values()} == {"auth_failed"}
        assert "CHITTY_REGISTRY_TOKEN" in registry["canon"].message
        text = repr([o.to_json() for o in outcomes])
        assert "wrong-register-secret" not in text and "wrong-registry-secret" not in text
        assert fakes.register.registrations == 0

        fakes.fail("register", 503)
        fakes.down("registry")
        outcomes = register_all(resource)
        assert {o.status for o in outcomes} == {"unavailable"}
        register = [o for o in outcomes if o.target == "register"]
        assert register[0].http_status == 503
        assert register[1].message.startswith("not attempted")
        # every skipped service says it once, with the answer of the one that was tried
        assert {o.message for o in register[1:]} == {f"not attempted: {register[0].message}"}
        assert fakes.register.requests["POST /api/v1/register"] == 8 + 3  # 8 refused, then 3 attempts


def test_legacy_register_form(chitty_home, monkeypatch):
    with ChittyOSFakes(register_token=None) as fakes:
        for k, v in fakes.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("CHITTY_REGISTER_API", "legacy")
        resource = ChittyServicesResource.from_settings(confirm_s=0.3)
        outcomes = [o for o in register_all(resource) if o.target == "register"]
        assert {o.status for o in outcomes} == {"registered"}
        assert fakes.register.requests["POST /api/register"] == 8
        assert fakes.register.services["schema"]["type"] == "data"  # the original's flat body


def test_results_are_kept_per_attempt(ops_env, services_resource, warehouse: Warehouse):
    from chitty_pipelines.ops.registration import record

    record(warehouse, "r1", register_all(services_resource))
    ops_env.registry.forget("canon")
    ops_env.registry.token = "changed"  # and the registry no longer accepts our token
    record(warehouse, "r2", register_all(services_resource))
    latest = latest_registrations(warehouse)
    assert latest[("canon", "registry")]["status"] == "auth_failed"
    assert latest[("sync", "registry")]["status"] == "discoverable"
    assert warehouse.scalar("SELECT count(DISTINCT run_id) FROM ops.service_registrations") == 2
    assert ops_defs.REGISTRATIONS_KEY.path == ["ops", "service_registrations"]


def test_registry_confirmation_polls_until_propagation_arrives(chitty_home, monkeypatch):
    """Register -> Registry propagation is asynchronous: poll with backoff up to a deadline."""
    import threading
    import time

    with ChittyOSFakes(propagate=False, registry_token=None) as fakes:
        for k, v in fakes.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("CHITTY_REGISTRY_AUTH", "bearer")  # no token: the registry is only read
        resource = ChittyServicesResource.from_settings(confirm_s=0.3)
        late = register_all(resource)
        missing = [o for o in late if o.target == "registry"]
        assert {o.status for o in missing} == {"missing"}
        assert "CHITTY_REGISTRY_TOKEN" in missing[0].message

        fakes.register.services.clear()  # start over, and let the registry learn of them late

        def propagate_late() -> None:
            while len(fakes.register.services) < 8 and not stop.is_set():
                time.sleep(0.02)
            time.sleep(0.8)  # after the first listing has come back without them
            for entry in list(fakes.register.services.values()):
                fakes.registry.publish(entry)

        stop = threading.Event()
        worker = threading.Thread(target=propagate_late)
        worker.start()
        try:
            outcomes = register_all(ChittyServicesResource.from_settings(confirm_s=5.0))
        finally:
            stop.set()
            worker.join()
        assert {o.status for o in outcomes if o.target == "registry"} == {"discoverable"}
        assert fakes.registry.writes == 0
        assert fakes.registry.requests["GET /api/v1/services"] >= 2  # it had to ask again


def test_latest_registrations_are_plain_values(ops_env, services_resource, warehouse: Warehouse):
    """The latest attempts as plain Python values on either warehouse: no reply is an
    http_status of None (not NaN), a reply an int (not a float beside a NULL), times datetimes."""
    from datetime import datetime

    from chitty_pipelines.ops.registration import record

    record(warehouse, "r1", register_all(services_resource))
    ops_env.down("registry")  # connection refused: no HTTP status to record
    record(warehouse, "r2", [o for o in register_all(services_resource) if o.target == "registry"])
    latest = latest_registrations(warehouse)
    assert len(latest) == 2 * len(NAMES)
    for name in NAMES:
        reg, rgy = latest[(name, "register")], latest[(name, "registry")]
        assert (reg["run_id"], rgy["run_id"]) == ("r1", "r2")
        assert (rgy["status"], rgy["http_status"], rgy["ok"]) == ("unavailable", None, False)
        assert type(reg["http_status"]) is int and 200 <= reg["http_status"] < 300
        assert reg["ok"] is True
        assert type(reg["attempted_at"]) is datetime and reg["attempted_at"] < rgy["attempted_at"]


def test_the_run_log_of_an_unattempted_registration_names_no_none(
    ops_definitions, ops_env: ChittyOSFakes, warehouse: Warehouse
):
    """With Register down the services after the first are not attempted: their log lines read
    "register sync: unavailable (None) not attempted: ..." (a Python None where a code goes)."""
    ops_env.down("register")
    with dg.instance_for_test() as instance:
        result = _run(ops_definitions, instance)
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
        lines = [m for m in messages if "register sync:" in m]
        assert lines == [
            "register sync: unavailable, not attempted: connection refused or host unknown (ConnectError)"
        ]
        assert not [m for m in messages if "(None)" in m]
        assert "register identity: unavailable, connection refused or host unknown (ConnectError)" in messages
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks == {"registered_with_register": False, "discoverable_in_registry": True}


def _documented_states() -> tuple[set[str], set[str]]:
    from pathlib import Path

    from chitty_pipelines.ops.tables import SERVICE_REGISTRATIONS

    column = next(c for c in SERVICE_REGISTRATIONS.columns if c.name == "status")
    in_column = {s.strip() for s in column.description.split(",")}
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    sentence = readme[readme.index("Every attempt is a row of `ops.service_registrations`") :]
    sentence = sentence[: sentence.index(" Checks `registered_with_register`")]
    return in_column, set(re.findall(r"`([a-z_]+)`", sentence))


def test_every_state_a_registration_records_is_documented(ops_env: ChittyOSFakes, monkeypatch):
    """'failed' (a 4xx other than 400/401/403/404/405), 'not_configured' and 'offline' were
    written to ops.service_registrations but named neither in the column's description (the
    UI's column schema) nor in the README's list of states."""
    seen = set()
    ops_env.fail("register", 418)
    seen |= {o.status for o in register_all(ChittyServicesResource.from_settings(confirm_s=0.3))}
    monkeypatch.setenv("CHITTY_OFFLINE", "1")
    monkeypatch.setenv("CHITTY_REGISTER_URL", "https://register.chitty.cc")
    seen |= {o.status for o in register_all(ChittyServicesResource.from_settings(confirm_s=0.3))}
    for name in ("CHITTY_REGISTER_URL", "CHITTY_REGISTER_TOKEN", "CHITTY_SERVICE_URLS"):
        monkeypatch.delenv(name)
    monkeypatch.delenv("CHITTY_OFFLINE")
    seen |= {o.status for o in register_all(ChittyServicesResource.from_settings(confirm_s=0.3))}
    assert {"failed", "offline", "not_configured"} <= seen
    in_column, in_readme = _documented_states()
    assert seen <= in_column, seen - in_column
    assert seen <= in_readme, seen - in_readme
