"""The ops sensors on a real (temporary) Dagster instance, with Dagster's sensor test helpers:
registration triggered by the services project, one run per materialization (cursor),
health observations, self-healing after the Registry loses a service, failed runs recorded."""

from __future__ import annotations

import json

import dagster as dg

from chitty_pipelines.chittyos.fake import ChittyOSFakes
from chitty_pipelines.chittyos.resource import ChittyServicesResource
from chitty_pipelines.ops import defs as ops_defs
from chitty_pipelines.warehouse import TableSpec, Warehouse, cols

# The columns of unified.projects the sensor reads (the real table has more).
PROJECTS = TableSpec(
    "unified", "projects", cols(("project_key", "VARCHAR"), ("name", "VARCHAR")), ("project_key",)
)


def _materialize_projects(
    instance: dg.DagsterInstance, warehouse: Warehouse, keys: list[str], **meta
) -> None:
    with warehouse.transaction("projects-run") as tx:
        tx.upsert(PROJECTS, [{"project_key": k, "name": k} for k in keys])
    instance.report_runless_asset_event(dg.AssetMaterialization(ops_defs.PROJECTS_KEY, metadata=meta))


def _tick(sensor: dg.SensorDefinition, instance, defs: dg.Definitions, cursor: str | None):
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
    )
    return sensor.evaluate_tick(ctx)


def test_services_project_triggers_one_registration_per_materialization(
    ops_definitions, warehouse: Warehouse
):
    sensor = ops_defs.services_project_sensor
    with dg.instance_for_test() as instance:
        first = _tick(sensor, instance, ops_definitions, None)
        assert first.run_requests == [] and first.skip_message == "no new unified/projects materialization"

        _materialize_projects(instance, warehouse, ["chittychat", "chittyrouter"])
        other = _tick(sensor, instance, ops_definitions, first.cursor)
        assert other.run_requests == []
        assert other.cursor is not None  # moved past it: this materialization is never looked at again

        _materialize_projects(instance, warehouse, ["chittyos-services"])
        hit = _tick(sensor, instance, ops_definitions, other.cursor)
        assert len(hit.run_requests) == 1
        request = hit.run_requests[0]
        assert request.run_key == f"projects-{hit.cursor}"
        assert request.tags["chitty/trigger"] == "services_project"
        assert int(hit.cursor) > int(other.cursor)

        again = _tick(sensor, instance, ops_definitions, hit.cursor)  # same materialization: no new run
        assert again.run_requests == []

        # a name merely containing the key is not the services project (no substring match)
        with warehouse.transaction("x") as tx:
            tx.delete_where(PROJECTS, "project_key", ["chittyos-services"])
        _materialize_projects(instance, warehouse, ["chittyos-services-old"])
        assert _tick(sensor, instance, ops_definitions, again.cursor or hit.cursor).run_requests == []


def test_project_keys_metadata_wins_over_the_table(ops_definitions, warehouse: Warehouse):
    with dg.instance_for_test() as instance:
        _materialize_projects(instance, warehouse, [], project_keys=["chittyos-services", "chittychat"])
        hit = _tick(ops_defs.services_project_sensor, instance, ops_definitions, None)
        assert len(hit.run_requests) == 1
        _materialize_projects(instance, warehouse, ["chittyos-services"], project_keys=["chittychat"])
        miss = _tick(ops_defs.services_project_sensor, instance, ops_definitions, hit.cursor)
        assert miss.run_requests == []


def test_health_sensor_records_observations_and_heals_a_lost_service(
    ops_definitions, ops_env: ChittyOSFakes, warehouse: Warehouse
):
    fakes = ops_env
    sensor = ops_defs.health_sensor
    with dg.instance_for_test() as instance:
        assert (
            ops_definitions.resolve_job_def("register_core_services")
            .execute_in_process(instance=instance)
            .success
        )

        fakes.unhealthy("canon", "degraded")
        healthy = _tick(sensor, instance, ops_definitions, None)
        assert healthy.run_requests == []
        # The tick history says what the tick did (not "Sensor function returned an empty result").
        assert healthy.skip_message.startswith("recorded health: 7 of 8 probed services healthy; ")
        (event,) = healthy.asset_events
        assert event.asset_key == ops_defs.HEALTH_KEY
        assert event.metadata["services_healthy"].value == 7
        assert event.metadata["services_total"].value == 8
        assert event.metadata["lost_services"].value == "none"
        assert isinstance(event.metadata["latency_ms_identity"].value, float)
        rows = warehouse.query(
            "SELECT name, healthy, status_text FROM ops.service_health WHERE kind = 'service' ORDER BY name"
        )
        assert len(rows) == 8
        assert dict(zip(rows.name, rows.status_text, strict=True))["canon"] == "degraded"
        assert dict(zip(rows.name, rows.healthy, strict=True)) == {
            n: n != "canon"
            for n in ["auth", "canon", "gateway", "identity", "register", "registry", "schema", "sync"]
        }

        fakes.registry.forget("gateway")
        lost = _tick(sensor, instance, ops_definitions, healthy.cursor)
        assert len(lost.run_requests) == 1
        assert lost.run_requests[0].tags["chitty/lost_services"] == "gateway"
        assert lost.asset_events[0].metadata["lost_services"].value == "gateway"
        assert json.loads(lost.cursor)["healed"]["names"] == ["gateway"]

        repeat = _tick(sensor, instance, ops_definitions, lost.cursor)  # same loss within the cool-down
        assert repeat.run_requests == []

        # the requested run re-registers it (directly with the registry: Register already has it)
        writes = fakes.registry.writes
        run = ops_definitions.resolve_job_def("register_core_services").execute_in_process(
            instance=instance, tags=lost.run_requests[0].tags
        )
        assert run.success
        assert fakes.registry.writes == writes + 1
        assert "gateway" in fakes.registry.services
        healed = _tick(sensor, instance, ops_definitions, repeat.cursor)
        assert healed.run_requests == [] and healed.asset_events[0].metadata["lost_services"].value == "none"


def test_health_tick_with_no_service_configured_plots_no_latency(
    warehouse_resource, warehouse: Warehouse, monkeypatch
):
    """Nothing names a core service: nothing is probed, so no latency series (a 0.0 would plot
    as the fastest service), and the tick says so."""
    for name in (
        "CHITTY_SERVICE_URLS",
        "CHITTY_SYNC_URL",
        *(f"CHITTY_{s}_{k}" for s in ("ID", "REGISTER", "REGISTRY") for k in ("URL", "TOKEN")),
    ):
        monkeypatch.delenv(name, raising=False)
    defs = dg.Definitions(
        assets=[ops_defs.HEALTH_SPEC],
        sensors=[ops_defs.health_sensor],
        jobs=[ops_defs.register_core_services],
        resources={
            "chittyos_services": ChittyServicesResource.from_settings(),
            "warehouse": warehouse_resource,
        },
    )
    with dg.instance_for_test() as instance:
        tick = _tick(ops_defs.health_sensor, instance, defs, None)
    assert tick.run_requests == []
    (event,) = tick.asset_events
    assert event.metadata["services_total"].value == 8
    assert not [k for k in event.metadata if k.startswith("latency_ms_")]
    assert tick.skip_message.startswith(
        "recorded health: 0 of 0 probed services healthy (8 not probed: not configured or offline); "
    )


def test_a_service_never_registered_is_not_lost(
    ops_definitions, ops_env: ChittyOSFakes, warehouse: Warehouse
):
    """Self-healing re-registers what the Registry used to list, not everything it never had."""
    with dg.instance_for_test() as instance:
        result = _tick(ops_defs.health_sensor, instance, ops_definitions, None)
        assert result.run_requests == []


def test_run_failure_sensor_records_the_failed_run(warehouse_resource, warehouse: Warehouse):
    @dg.asset(name="boom", group_name="test")
    def boom() -> None:
        raise RuntimeError("upstream exploded")

    job = dg.define_asset_job("broken_sync", selection=[boom])
    defs = dg.Definitions(assets=[boom], jobs=[job])
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("broken_sync").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not result.success
        _record_failure(result, instance, warehouse_resource)
        row = warehouse.query("SELECT * FROM ops.service_health WHERE kind = 'run'").to_dict("records")
        assert len(row) == 1
        assert (row[0]["name"], row[0]["run_id"], row[0]["healthy"]) == ("broken_sync", result.run_id, False)
        # The step's own error, not only Dagster's "Steps failed: ['boom']": what to fix.
        assert row[0]["reason"] == "boom: RuntimeError: upstream exploded"
        events = instance.fetch_materializations(ops_defs.HEALTH_KEY, limit=5).records
        meta = events[0].asset_materialization.metadata
        assert meta["failed_run_id"].value == result.run_id
        assert meta["reason"].value == "boom: RuntimeError: upstream exploded"


def test_a_failed_materialization_from_the_ui_is_named_by_its_assets(
    warehouse_resource, warehouse: Warehouse
):
    """The UI's "Materialize" runs Dagster's own __ASSET_JOB: recorded under that name, every
    failed asset run looked alike in ops.service_health and `chitty-sync status`."""

    @dg.asset(name="boom", group_name="test")
    def boom() -> None:
        raise RuntimeError("upstream exploded")

    @dg.asset(name="quiet", group_name="test")
    def quiet() -> None:
        return None

    defs = dg.Definitions(assets=[boom, quiet])
    with dg.instance_for_test() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        assert job.name == "__ASSET_JOB"
        result = job.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("boom")], raise_on_error=False
        )
        assert not result.success
        _record_failure(result, instance, warehouse_resource)
        (name,) = warehouse.rows("SELECT name FROM ops.service_health WHERE kind = 'run'")[0]
        assert name == "assets boom"
        meta = instance.fetch_materializations(ops_defs.HEALTH_KEY, limit=1).records[0]
        assert meta.asset_materialization.metadata["failed_job"].value == "assets boom"


def test_run_failure_reason_names_the_error_and_masks_secrets(
    warehouse_resource, warehouse: Warehouse, monkeypatch
):
    token = "secret_abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"
    monkeypatch.setenv("NOTION_TOKEN", token)

    @dg.asset(name="notion_like", group_name="test")
    def notion_like() -> None:
        raise dg.Failure(f"Notion refused {token}: set NOTION_TOKEN")

    @dg.asset(name="fine", group_name="test")
    def fine() -> None:
        raise ValueError("second step broke too")

    defs = dg.Definitions(
        assets=[notion_like, fine], jobs=[dg.define_asset_job("two", selection=[notion_like, fine])]
    )
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("two").execute_in_process(instance=instance, raise_on_error=False)
        _record_failure(result, instance, warehouse_resource)
        (reason,) = warehouse.rows("SELECT reason FROM ops.service_health WHERE kind = 'run'")[0]
        assert token not in reason
        assert "notion_like: Failure: Notion refused" in reason and "set NOTION_TOKEN" in reason
        assert "fine: ValueError: second step broke too" in reason


def test_syncall_schedule_is_hourly_and_off_by_default():
    from chitty_pipelines.definitions import defs

    schedule = next(s for s in defs.schedules if s.name == "syncall_schedule")
    assert schedule.cron_schedule == "0 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    # It runs the platforms; unified_after_platforms / unified_after_failed_platforms follow.
    assert schedule.job_name == "sync_platforms"
    assert defs.resolve_job_def("sync_platforms").asset_layer is not None
    sensors = {s.name: s for s in defs.sensors}
    assert sensors["core_services_health"].minimum_interval_seconds == 300


def _record_failure(result: dg.ExecuteInProcessResult, instance, warehouse_resource) -> None:
    """Evaluate record_failed_runs on ``result``'s failed run, as the daemon would."""
    ctx = dg.build_run_status_sensor_context(
        sensor_name="record_failed_runs",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"warehouse": warehouse_resource},
    ).for_run_failure()
    ops_defs.run_failure_sensor(ctx)


def test_health_tick_with_the_registry_down_does_not_claim_nothing_is_lost(
    ops_definitions, ops_env: ChittyOSFakes, warehouse: Warehouse
):
    """With Registry answering 503 nothing can be said about lost services: the metadata and the
    tick history say so (they read "lost_services: none", as if all were still listed)."""
    with dg.instance_for_test() as instance:
        job = ops_definitions.resolve_job_def("register_core_services")
        assert job.execute_in_process(instance=instance).success
        ops_env.fail("registry", 503)
        tick = _tick(ops_defs.health_sensor, instance, ops_definitions, None)
        assert tick.run_requests == []
        lost = tick.asset_events[0].metadata["lost_services"].value
        assert lost == "unknown: registry list failed (HTTP 503)"
        assert tick.skip_message.endswith("; self-healing skipped: registry list failed (HTTP 503)")


def test_a_flapping_loss_is_re_requested_at_most_once_per_cool_down(
    ops_definitions, ops_env: ChittyOSFakes, warehouse: Warehouse
):
    """README: a re-registration at most once per 30 min for the same loss. A tick that found
    nothing lost reset the cursor, so a Registry that drops the same service every other tick
    got a run every other tick."""
    sensor = ops_defs.health_sensor
    with dg.instance_for_test() as instance:
        job = ops_definitions.resolve_job_def("register_core_services")
        assert job.execute_in_process(instance=instance).success
        saved = ops_env.registry.services["gateway"]
        ops_env.registry.forget("gateway")
        lost = _tick(sensor, instance, ops_definitions, None)
        assert len(lost.run_requests) == 1
        ops_env.registry.services["gateway"] = saved  # listed again (another edge answered)
        back = _tick(sensor, instance, ops_definitions, lost.cursor)
        assert back.run_requests == []
        ops_env.registry.forget("gateway")  # and lost again, minutes later
        again = _tick(sensor, instance, ops_definitions, back.cursor)
        assert again.run_requests == [], "the same loss within the cool-down"
        assert again.asset_events[0].metadata["lost_services"].value == "gateway"
