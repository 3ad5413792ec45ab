"""Register every core service with Register, then confirm each is discoverable in Registry.

Idempotent by construction: Register answers a known name with 400, which becomes
``already_registered`` (a success) after the stored registration is read back; the Registry is
written only for services it is missing, and only when a token (or auth mode none) allows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx

from chitty_pipelines.chittyos.catalogue import CoreService
from chitty_pipelines.chittyos.register import Outcome
from chitty_pipelines.chittyos.registry import RegistryContractError
from chitty_pipelines.chittyos.resource import ChittyServicesResource
from chitty_pipelines.kernel.secrets import scrub
from chitty_pipelines.ops.tables import SERVICE_REGISTRATIONS
from chitty_pipelines.warehouse import Warehouse


def register_all(
    resource: ChittyServicesResource, services: Sequence[CoreService] | None = None
) -> list[Outcome]:
    services = list(services or resource.services())
    skipped = resource.usable("register")
    if skipped is not None:  # not configured or offline: no request at all, and the reason stays
        outcomes = [Outcome(s.name, "register", str(skipped.skipped), None, skipped.reason) for s in services]
        return outcomes + confirm_in_registry(resource, services)
    # Register v1 wants a version: the service's own, from its /health JSON (§2.3), probed in
    # parallel (each probe has its own timeout).
    versions = {h.name: h.version for h in resource.probe_all(services) if h.healthy}
    outcomes: list[Outcome] = []
    with resource.register_client() as register:
        for service in services:
            if outcomes and outcomes[-1].status == "unavailable":
                # Register is down (after retries): the other services would each wait out the
                # same retries and timeouts for the same answer.
                # The answer of the service that was tried, once (each skipped one used to
                # prefix the one before it: "not attempted: not attempted: ... refused").
                down = next(o for o in outcomes if o.status == "unavailable")
                outcomes.append(
                    Outcome(service.name, "register", "unavailable", None, f"not attempted: {down.message}")
                )
                continue
            outcomes.append(register.register(service, versions.get(service.name)))
    outcomes.extend(confirm_in_registry(resource, services))
    return outcomes


def confirm_in_registry(resource: ChittyServicesResource, services: Sequence[CoreService]) -> list[Outcome]:
    """Poll the Registry with backoff until every service is listed or the deadline passes
    (Register -> Registry propagation is asynchronous); write the missing ones where allowed."""
    skipped = resource.usable("registry")
    if skipped is not None:
        return [Outcome(s.name, "registry", str(skipped.skipped), None, skipped.reason) for s in services]
    deadline = time.monotonic() + resource.confirm_s
    written: dict[str, Outcome] = {}
    with resource.registry_client() as registry:
        delay = 0.2
        while True:
            try:
                names = registry.names()
            except (httpx.HTTPError, RegistryContractError) as exc:
                reason = f"registry list failed: {short_reason(exc)}"
                return [Outcome(s.name, "registry", "unavailable", _status_of(exc), reason) for s in services]
            missing = [s for s in services if s.name not in names]
            if missing and registry.can_write:
                for s in missing:
                    if s.name not in written:
                        written[s.name] = registry.register(s)
                names = registry.names()
                missing = [s for s in services if s.name not in names]
            if not missing or time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    outcomes = []
    for s in services:
        if s.name in names:
            how = "registered with the registry and listed" if s.name in written else "listed by the registry"
            outcomes.append(Outcome(s.name, "registry", "discoverable", 200, how))
        elif s.name in written and not written[s.name].ok:
            outcomes.append(written[s.name])
        else:
            why = "" if registry.can_write else " (no CHITTY_REGISTRY_TOKEN to register it directly)"
            outcomes.append(Outcome(s.name, "registry", "missing", 200, f"not listed by the registry{why}"))
    return outcomes


def _status_of(exc: BaseException) -> int | None:
    return exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else None


def short_reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, RegistryContractError):
        return str(exc)
    return type(exc).__name__


def record(warehouse: Warehouse, run_id: str, outcomes: Sequence[Outcome]) -> int:
    now = datetime.now(UTC)
    rows = [
        {
            "run_id": run_id,
            "service": o.service,
            "target": o.target,
            "status": o.status,
            "ok": o.ok,
            "http_status": o.http_status,
            # Register's answer can echo the request, the bearer token included.
            "message": scrub(o.message)[:1000],
            "attempted_at": now,
        }
        for o in outcomes
    ]
    with warehouse.transaction(run_id) as tx:
        return tx.upsert(SERVICE_REGISTRATIONS, rows)


def latest_registrations(warehouse: Warehouse) -> dict[tuple[str, str], dict]:
    """(service, target) -> the latest attempt's row."""
    if not warehouse.table_exists("ops", "service_registrations"):
        return {}
    # records, not a DataFrame: a NULL http_status (no answer) stays None, not NaN, and the
    # others stay int on PostgreSQL too (a DataFrame floats an integer column with a NULL)
    found = warehouse.records(
        f"SELECT * FROM {SERVICE_REGISTRATIONS.sql_name} "
        "QUALIFY row_number() OVER (PARTITION BY service, target ORDER BY attempted_at DESC) = 1"
    )
    return {(r["service"], r["target"]): r for r in found}
