"""The ops tables of registration and health (schema ``ops``)."""

from __future__ import annotations

from chitty_pipelines.warehouse import TableSpec, cols

SERVICE_REGISTRATIONS = TableSpec(
    "ops",
    "service_registrations",
    cols(
        ("run_id", "VARCHAR", "the register_core_services run (or CLI call) that made the attempt"),
        ("service", "VARCHAR", "core service name (core_services.yaml)"),
        ("target", "VARCHAR", "register (canonical) or registry (discovery)"),
        (
            "status",
            "VARCHAR",
            "registered, pending, already_registered, discoverable, missing, invalid, auth_failed, "
            "read_only, contract_mismatch, unavailable, failed, not_configured, offline",
        ),
        ("ok", "BOOLEAN", "the status counts as success"),
        ("http_status", "INTEGER", "HTTP status of the deciding reply; null when none arrived"),
        ("message", "VARCHAR", "what the service said, parsed"),
        ("attempted_at", "TIMESTAMPTZ"),
    ),
    primary_key=("run_id", "service", "target"),
    description="Every registration attempt: the original threw these results away.",
)

SERVICE_HEALTH = TableSpec(
    "ops",
    "service_health",
    cols(
        ("checked_at", "TIMESTAMPTZ"),
        ("kind", "VARCHAR", "service (core service /health), platform (resource health) or run"),
        ("name", "VARCHAR", "service, platform or job name"),
        ("reachable", "BOOLEAN", "an HTTP answer (any status) arrived"),
        ("healthy", "BOOLEAN", "200 and a healthy status field; for a run: false (it failed)"),
        ("http_status", "INTEGER"),
        ("latency_ms", "DOUBLE"),
        ("status_text", "VARCHAR", "the status field the service sent"),
        ("reason", "VARCHAR"),
        ("source", "VARCHAR", "health_sensor, check, run_failure_sensor"),
        ("run_id", "VARCHAR", "the failed run, for kind = run"),
    ),
    primary_key=("checked_at", "kind", "name"),
    description="Health observations of the core services and platforms, and failed sync runs.",
)
