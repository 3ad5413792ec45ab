"""Dagster wiring of operations (group ``ops``, key prefix ``ops``): the registration asset and
its job, the sensors (services project -> registration, health with self-healing, run
failures) and the syncall schedule."""

import json
import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import httpx

from chitty_pipelines import config
from chitty_pipelines.chittyos.registry import RegistryContractError
from chitty_pipelines.chittyos.resource import ChittyServicesResource
from chitty_pipelines.config import scrub
from chitty_pipelines.kernel.assets import (
    Check,
    StreamStats,
    bundled_checks,
    table_asset_spec,
    table_definition_metadata,
    table_metadata,
)
from chitty_pipelines.ops.health import (
    health_rows,
    lost_services,
    observation_metadata,
    platform_health,
    record_health,
    service_health,
    tick_summary,
)
from chitty_pipelines.ops.jobs import SYNC_PLATFORMS, run_label, sync_unified_job, unified_after_writes_job
from chitty_pipelines.ops.registration import latest_registrations, record, register_all, short_reason
from chitty_pipelines.ops.tables import SERVICE_HEALTH, SERVICE_REGISTRATIONS
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource

GROUP = "ops"
REGISTRATIONS_KEY = dg.AssetKey(["ops", "service_registrations"])
HEALTH_KEY = dg.AssetKey(["ops", "service_health"])
PROJECTS_KEY = dg.AssetKey(["unified", "projects"])
PROJECT_KEYS_METADATA = "project_keys"  # optional list on the projects materialization
HEAL_COOLDOWN_S = 1800.0  # the same lost set is re-requested at most this often


@dg.asset(
    key=REGISTRATIONS_KEY,
    group_name=GROUP,
    kinds={"duckdb"},
    description=SERVICE_REGISTRATIONS.description
    + " Registers the 8 core services with Register, then confirms each is discoverable in Registry.",
    metadata=table_definition_metadata(SERVICE_REGISTRATIONS),
)
def service_registrations(
    context: dg.AssetExecutionContext, chittyos_services: ChittyServicesResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    wh = warehouse.get()
    outcomes = register_all(chittyos_services)
    record(wh, context.run.run_id, outcomes)
    for o in outcomes:
        log = context.log.info if o.ok else context.log.warning
        code = f" ({o.http_status})" if o.http_status is not None else ","  # no answer: no code
        log(f"{o.target} {o.service}: {o.status}{code} {o.message}")
    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[f"{o.target}_{o.status}"] = by_status.get(f"{o.target}_{o.status}", 0) + 1
    stats = StreamStats(
        rows_written=len(outcomes), extra={"failed": sum(not o.ok for o in outcomes), **by_status}
    )
    return dg.MaterializeResult(metadata=table_metadata(wh, SERVICE_REGISTRATIONS, stats))


def _target_check(target: str, severity: dg.AssetCheckSeverity):
    def fn(context: Any) -> dg.AssetCheckResult:
        wh: Warehouse = context.resources.warehouse.get()
        services = [s.name for s in context.resources.chittyos_services.services()]
        latest = latest_registrations(wh)
        failing = {}
        for name in services:
            row = latest.get((name, target))
            if row is None or not row["ok"]:
                failing[name] = row["status"] if row is not None else "never attempted"
        return dg.AssetCheckResult(
            passed=not failing,
            severity=severity,
            metadata={"failing": len(failing), "detail": json.dumps(failing) if failing else "none"},
        )

    return fn


CHECKS = bundled_checks(
    "ops_checks",
    [
        Check(
            REGISTRATIONS_KEY,
            "registered_with_register",
            _target_check("register", dg.AssetCheckSeverity.ERROR),
            "Every core service is registered (pending or active) with register.chitty.cc.",
        ),
        Check(
            REGISTRATIONS_KEY,
            "discoverable_in_registry",
            _target_check("registry", dg.AssetCheckSeverity.WARN),
            "Every core service is listed by registry.chitty.cc.",
        ),
    ],
    {"warehouse", "chittyos_services"},
)

HEALTH_SPEC = table_asset_spec(
    HEALTH_KEY,
    SERVICE_HEALTH,
    group=GROUP,
    deps=[],
    kinds={"duckdb"},
    description=SERVICE_HEALTH.description
    + " Written by the core_services_health and record_failed_runs sensors; plot latency_ms_* in the UI.",
)

register_core_services = dg.define_asset_job(
    "register_core_services",
    selection=dg.AssetSelection.assets(REGISTRATIONS_KEY),
    description="Register the core services with Register and confirm them in Registry (idempotent).",
)


def _services_project_in(record: Any, project: str, wh: Warehouse) -> bool:
    """The materialization's own list of project keys when it carries one, else the table."""
    mat = record.asset_materialization
    listed = mat.metadata.get(PROJECT_KEYS_METADATA) if mat is not None else None
    if listed is not None:
        value = listed.value
        keys = json.loads(value) if isinstance(value, str) else value
        return project in (keys or [])
    if not wh.table_exists("unified", "projects"):
        return False
    count = wh.scalar('SELECT count(*) FROM "unified"."projects" WHERE project_key = ?', [project])
    return bool(count)


@dg.sensor(
    name="register_on_services_project",
    job=register_core_services,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When unified/projects is materialized with the services project in it, register "
    "the core services. The cursor (last storage id seen) means one run per materialization.",
)
def services_project_sensor(
    context: dg.SensorEvaluationContext,
    chittyos_services: ChittyServicesResource,
    warehouse: WarehouseResource,
) -> dg.SensorResult | dg.SkipReason:
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=PROJECTS_KEY, after_storage_id=after), limit=1
    ).records  # newest first: only the latest materialization matters
    if not records:
        return dg.SkipReason("no new unified/projects materialization")
    latest = records[0]
    project = chittyos_services.services_project
    cursor = str(latest.storage_id)
    if not _services_project_in(latest, project, warehouse.get()):
        return dg.SensorResult(skip_reason=f"{project} not in materialization {cursor}", cursor=cursor)
    request = dg.RunRequest(
        run_key=f"projects-{latest.storage_id}",
        tags={"chitty/trigger": "services_project", "chitty/projects_storage_id": cursor},
    )
    return dg.SensorResult(run_requests=[request], cursor=cursor)


def _heal_request(context: dg.SensorEvaluationContext, lost: list[str]) -> tuple[list[dg.RunRequest], dict]:
    state = json.loads(context.cursor) if context.cursor else {}
    last = state.get("healed") or {}
    now = time.time()
    if not lost:
        # Kept: a loss that comes back within the cool-down (a flapping Registry) is the same loss.
        return [], last
    if sorted(lost) == last.get("names") and now - float(last.get("at", 0)) < HEAL_COOLDOWN_S:
        return [], last
    request = dg.RunRequest(
        run_key=f"heal-{'-'.join(sorted(lost))}-{int(now)}",
        tags={"chitty/trigger": "self_healing", "chitty/lost_services": ",".join(sorted(lost))},
    )
    return [request], {"names": sorted(lost), "at": now}


@dg.sensor(
    name="core_services_health",
    job=register_core_services,
    minimum_interval_seconds=config.number("CHITTY_HEALTH_INTERVAL", 300, int, minimum=1),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Probe each core service and configured platform, record ops/service_health, and "
    "re-register when Registry has lost a service it used to list.",
)
def health_sensor(
    context: dg.SensorEvaluationContext,
    chittyos_services: ChittyServicesResource,
    warehouse: WarehouseResource,
) -> dg.SensorResult:
    wh = warehouse.get()
    services = service_health(chittyos_services)
    platforms = platform_health()
    record_health(wh, health_rows(services, platforms, "health_sensor"))
    listed: set[str] | None = None
    unknown: str | None = None  # why nothing can be said about lost services
    skipped = chittyos_services.usable("registry")
    if skipped is not None:  # not configured or CHITTY_OFFLINE=1: no request to the registry
        context.log.info(f"registry {skipped.reason}; self-healing skipped")
    else:
        try:
            with chittyos_services.registry_client(retry_timeouts=False) as registry:
                listed = registry.names()
        except (httpx.HTTPError, RegistryContractError) as exc:
            unknown = f"registry list failed ({short_reason(exc)})"
            context.log.warning(f"{unknown}; self-healing skipped")
    lost = (
        lost_services(wh, listed, [s.name for s in chittyos_services.services()])
        if listed is not None
        else []
    )
    requests, healed = _heal_request(context, lost)
    meta = observation_metadata(services, platforms)
    # "none" only when the Registry answered: unreachable, it may have lost them all.
    meta["lost_services"] = f"unknown: {unknown}" if unknown else ", ".join(lost) or "none"
    summary = tick_summary(services, platforms)
    if unknown:
        summary += f"; self-healing skipped: {unknown}"
    return dg.SensorResult(
        run_requests=requests,
        asset_events=[dg.AssetMaterialization(HEALTH_KEY, metadata=meta)],
        cursor=json.dumps({"healed": healed}),
        # Dagster allows a skip reason only without run requests: a re-registration is its own.
        skip_reason=None if requests else summary,
    )


def _error_text(error: Any) -> str:
    """``Class: message`` of the error a step raised, below Dagster's own wrapper."""
    while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    text = (error.message or "").strip()
    head, sep, rest = text.partition(": ")
    if sep and error.cls_name and head.endswith(error.cls_name):
        text = f"{error.cls_name}: {rest}"  # no module path
    return text.splitlines()[0] if text else error.cls_name or "error"


def failure_reason(context: dg.RunFailureSensorContext) -> str:
    """What failed and why, per failed step: the run-failure event alone only names the steps
    ("Steps failed: [...]"), never what to fix. Masked: a client's error can quote a token."""
    steps = [
        f"{event.step_key}: {_error_text(event.step_failure_data.error)}"
        for event in context.get_step_failure_events()
        if event.step_failure_data.error is not None
    ]
    text = "; ".join(steps) or context.failure_event.message or "run failed"
    return scrub(text)[:1000]


@dg.run_failure_sensor(
    name="record_failed_runs",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Record every failed run (syncs included) in ops.service_health.",
)
def run_failure_sensor(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    run = context.dagster_run
    message = failure_reason(context)
    row = {
        "checked_at": datetime.now(UTC),
        "kind": "run",
        "name": run_label(run),
        "reachable": None,
        "healthy": False,
        "http_status": None,
        "latency_ms": None,
        "status_text": "failure",
        "reason": message,
        "source": "run_failure_sensor",
        "run_id": run.run_id,
    }
    record_health(warehouse.get(), [row], run.run_id)
    context.instance.report_runless_asset_event(
        dg.AssetMaterialization(
            HEALTH_KEY,
            metadata={"failed_job": run_label(run), "failed_run_id": run.run_id, "reason": message},
        )
    )


syncall_schedule = dg.ScheduleDefinition(
    name="syncall_schedule",
    cron_schedule=config.syncall_cron(),
    job_name=SYNC_PLATFORMS,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every configured platform on CHITTY_SYNCALL_CRON (hourly by default), then "
    "unified_after_platforms runs sync_unified; off until turned on in the UI.",
)


def _unified_request(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    # One unified run per platforms run, whatever its outcome: a platform that failed fails its
    # own step, and the unified tables still take in what every other platform landed. (The
    # sensor watches this code location's runs; the job name is filtered here because the jobs
    # are built when the definitions load, from what is configured.)
    run = context.dagster_run
    if run.job_name != SYNC_PLATFORMS:
        return dg.SkipReason(f"{run.job_name} is not {SYNC_PLATFORMS}")
    return dg.RunRequest(run_key=f"after-{run.run_id}", tags={"chitty/after_run": run.run_id})


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    request_job=sync_unified_job,
    name="unified_after_platforms",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs sync_unified when sync_platforms succeeds.",
)
def unified_after_platforms(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    return _unified_request(context)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.FAILURE,
    request_job=sync_unified_job,
    name="unified_after_failed_platforms",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs sync_unified when sync_platforms failed: the other platforms' data still counts.",
)
def unified_after_failed_platforms(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    return _unified_request(context)


HUB_SENSOR_INTERVAL_S = 30  # API writes reach the unified tables within a minute


@dg.sensor(
    name="hub_writes",
    job=unified_after_writes_job,
    minimum_interval_seconds=HUB_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes unified projects, sessions and todos after writes to the hub store (the "
    "sync API, sessionsync, projectsync). The cursor is the store's write counter: one run per "
    "change, none while nothing changed.",
)
def hub_writes_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    from chitty_pipelines.warehouse.opstore_resource import OpStoreResource

    stamp = OpStoreResource.from_settings().get().write_stamp()
    seen = int(context.cursor) if context.cursor else None
    if seen == stamp:
        return dg.SensorResult(skip_reason=f"no hub write since write {stamp}", cursor=str(stamp))
    if seen is None and stamp == 0:
        return dg.SensorResult(skip_reason="the hub store has no writes yet", cursor="0")
    request = dg.RunRequest(run_key=f"hub-writes-{stamp}", tags={"chitty/trigger": "hub_writes"})
    return dg.SensorResult(run_requests=[request], cursor=str(stamp))


SENSORS = [
    services_project_sensor,
    health_sensor,
    run_failure_sensor,
    unified_after_platforms,
    unified_after_failed_platforms,
    hub_writes_sensor,
]

defs = dg.Definitions(
    assets=[service_registrations, HEALTH_SPEC],
    asset_checks=[CHECKS],
    jobs=[register_core_services],
    sensors=SENSORS,
    schedules=[syncall_schedule],
    resources={"chittyos_services": ChittyServicesResource.from_settings()},
)
