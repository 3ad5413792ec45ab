"""``chitty-sync check``: ChittyCheck's tests 11-14 done right (chittyos-contracts.md §6.3).

Every probe has its own timeout and its own line (PASS, WARN, FAIL, or SKIP for what is not
configured or is offline, which is no failure and does not count). The score keeps ChittyCheck's
rule, floor(PASS x 100 / counted lines), against a threshold (80 by default) that decides on
WARNs; a FAIL of anything configured always fails the check. Replies are parsed and
fields compared; nothing is matched on substrings of a body.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from chitty_pipelines import config
from chitty_pipelines.chittyos.ids import ChittyIdClient, ChittyIdError, entity_codes
from chitty_pipelines.chittyos.registry import RegistryContractError
from chitty_pipelines.chittyos.resource import ChittyServicesResource
from chitty_pipelines.ops.health import health_rows, platform_health, record_health, service_health
from chitty_pipelines.ops.registration import latest_registrations
from chitty_pipelines.platforms import registry
from chitty_pipelines.warehouse import Warehouse

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
AREAS = {11: "platforms", 12: "core services", 13: "integration", 14: "registration"}
REGISTERED_STATES = frozenset({"pending", "active", "approved", "registered"})


@dataclass
class CheckLine:
    test: int
    name: str
    verdict: str
    reason: str
    latency_ms: float | None = None

    @property
    def area(self) -> str:
        return AREAS[self.test]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "area": self.area}


@dataclass
class CheckReport:
    threshold: int
    lines: list[CheckLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(line.verdict for line in self.lines)
        return {v: c.get(v, 0) for v in (PASS, WARN, FAIL, SKIP)}

    @property
    def score(self) -> int:
        counted = [line for line in self.lines if line.verdict != SKIP]
        if not counted:
            return 100
        return math.floor(sum(line.verdict == PASS for line in counted) * 100 / len(counted))

    @property
    def passed(self) -> bool:
        # The score gates WARNs; a FAIL of something configured always fails the check.
        return self.score >= self.threshold and not self.counts[FAIL]

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "threshold": self.threshold,
            "passed": self.passed,
            "counts": self.counts,
            "notes": self.notes,
            "lines": [line.to_json() for line in self.lines],
        }


def run_check(
    resource: ChittyServicesResource, warehouse: Warehouse, threshold: int = 80, record: bool = True
) -> CheckReport:
    report = CheckReport(threshold)
    platforms = platform_health()
    for p in platforms:  # test 11
        verdict = SKIP if not p.configured or p.ok is None else (PASS if p.ok else FAIL)
        # Not probed (skipped, or half configured: nothing to call): no latency to show.
        latency = None if verdict == SKIP or not p.latency_ms else p.latency_ms
        report.lines.append(CheckLine(11, p.name, verdict, p.reason or "ok", latency))
    services = service_health(resource)
    required = {s.name: s.required for s in resource.services()}
    for h in services:  # test 12
        verdict = PASS if h.healthy else FAIL if required.get(h.name) else WARN
        if h.skipped:  # not configured, or offline: not contacted, not counted
            verdict = SKIP
        # A service that is not configured was never contacted: it is not configured, not
        # "unreachable", and has no latency.
        where = "" if h.reachable or h.skipped else "unreachable: "
        latency = None if h.skipped else h.latency_ms
        report.lines.append(CheckLine(12, h.name, verdict, f"{where}{h.reason}", latency))
    if record:
        try:
            record_health(warehouse, health_rows(services, platforms, "check"))
        except Exception as exc:  # a busy or read-only warehouse must not hide the results
            report.notes.append(f"health not recorded in the warehouse ({type(exc).__name__})")
    report.lines.append(_mint_line(resource))  # test 13
    listed = _registry_line(resource, report)
    report.lines.append(_sync_status_line(warehouse))
    report.lines.extend(_registration_lines(resource, warehouse, listed))  # test 14
    skipped = [f"{line.test} {line.name}" for line in report.lines if line.verdict == SKIP]
    if skipped:
        report.notes.append(f"skipped (not configured or offline, not counted): {', '.join(skipped)}")
    return report


def _mint_line(resource: ChittyServicesResource) -> CheckLine:
    token = config.env("CHITTY_ID_TOKEN")
    if not token:
        return CheckLine(13, "id mint", SKIP, "not configured: set CHITTY_ID_TOKEN to test minting")
    skipped = resource.usable("identity")
    if skipped is not None:
        return CheckLine(13, "id mint", SKIP, skipped.reason)
    client = ChittyIdClient(
        config.env("CHITTY_ID_URL") or "https://id.chitty.cc",
        token,
        resource.timeout_s,
        attempts=2,
        max_wait_s=2,
        retry_timeouts=False,  # a probe: one timeout, not one per attempt
    )
    entity = entity_codes()["session"]
    try:
        chitty_id = client.mint(entity, name="chittycheck-validation", metadata={"purpose": "validation"})
        validation = client.validate(chitty_id)
    except ChittyIdError as exc:  # its messages name the variable, never the token
        return CheckLine(13, "id mint", FAIL, str(exc))
    finally:
        client.close()
    if not validation.valid:
        return CheckLine(13, "id mint", FAIL, f"minted {chitty_id} is not valid: {validation.reason}")
    remote = "validated by the service" if validation.service_valid else "format and checksum valid"
    return CheckLine(13, "id mint", PASS, f"minted {chitty_id} ({entity}); {remote}")


def _registry_line(resource: ChittyServicesResource, report: CheckReport) -> set[str] | None:
    skipped = resource.usable("registry")
    if skipped is not None:
        report.lines.append(CheckLine(13, "registry list", SKIP, skipped.reason))
        return None
    try:
        with resource.registry_client(retry_timeouts=False) as registry:
            services, total = registry.list()
    except (httpx.HTTPError, RegistryContractError) as exc:
        report.lines.append(CheckLine(13, "registry list", WARN, _why(exc)))
        return None
    report.lines.append(CheckLine(13, "registry list", PASS, f"total {total}, {len(services)} listed"))
    return {s["name"] for s in services if isinstance(s.get("name"), str)}


def sync_status(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    """The six platforms, each with its last sync's status and time (what the original's
    ``/api/status`` lacked, so that ChittyCheck test 13 could never pass)."""
    out: dict[str, dict[str, Any]] = {p: {"status": "never", "last_sync": None} for p in registry.NAMES}
    if not warehouse.exists():
        return out
    found = warehouse.rows(
        "SELECT platform, status, finished_at FROM ops.sync_log "
        "QUALIFY row_number() OVER (PARTITION BY platform ORDER BY finished_at DESC) = 1"
    )
    for platform, status, finished_at in found:
        if platform in out:
            out[platform] = {
                "status": status,
                "last_sync": finished_at.isoformat(timespec="seconds") if finished_at else None,
            }
    return out


def remote_sync_status_line() -> CheckLine:
    """Test 13 against the hub of CHITTY_SYNC_URL: its parsed ``/api/status`` must carry
    ``platforms`` with all six platforms, each with ``status`` and ``last_sync`` (section 6.3)."""
    from chitty_pipelines.chittyos.sync_client import SyncClient, SyncServiceError

    try:
        with SyncClient.from_env(attempts=2) as client:  # type: ignore[union-attr]
            body = client.status().body
    except SyncServiceError as exc:
        return CheckLine(13, "sync status", FAIL, str(exc))
    platforms = body.get("platforms") if isinstance(body, dict) else None
    if not isinstance(platforms, dict):
        return CheckLine(13, "sync status", FAIL, "the hub's /api/status has no platforms object")
    missing = [p for p in registry.NAMES if not {"status", "last_sync"} <= set(platforms.get(p) or {})]
    if missing:
        return CheckLine(13, "sync status", FAIL, f"hub status lacks platforms: {', '.join(missing)}")
    synced = [p for p in registry.NAMES if platforms[p]["status"] == "ok"]
    failed = [p for p in registry.NAMES if platforms[p]["status"] == "failed"]
    if failed:
        return CheckLine(13, "sync status", WARN, f"hub: last sync failed: {', '.join(failed)}")
    if not synced:
        return CheckLine(13, "sync status", WARN, "hub: no successful sync recorded yet")
    return CheckLine(13, "sync status", PASS, f"hub: 6 platforms reported; synced: {', '.join(synced)}")


def _sync_status_line(warehouse: Warehouse) -> CheckLine:
    if config.env("CHITTY_SYNC_URL"):
        return remote_sync_status_line()
    try:
        status = sync_status(warehouse)
    except Exception as exc:  # a locked or broken warehouse is a finding, not a crash
        return CheckLine(13, "sync status", FAIL, f"warehouse unreadable ({type(exc).__name__})")
    # Only what is configured now counts: a platform the user has since unset is no finding.
    configured = [spec.name for spec in registry.configured()]
    if not configured:
        return CheckLine(13, "sync status", SKIP, "no platform configured (see chitty-sync env)")
    status = {p: s for p, s in status.items() if p in configured}
    synced = [p for p, s in status.items() if s["status"] == "success"]
    failed = [p for p, s in status.items() if s["status"] == "failed"]
    if failed:
        return CheckLine(13, "sync status", WARN, f"last sync failed: {', '.join(failed)}")
    if not synced:
        return CheckLine(13, "sync status", WARN, "no successful sync recorded yet (run chitty-sync syncall)")
    return CheckLine(
        13, "sync status", PASS, f"{len(configured)} platforms configured; synced: {', '.join(synced)}"
    )


def _registration_lines(
    resource: ChittyServicesResource, warehouse: Warehouse, listed: set[str] | None
) -> list[CheckLine]:
    latest = latest_registrations(warehouse)
    skipped = [h for h in (resource.usable("register"), resource.usable("registry")) if h is not None]
    if skipped:  # registration cannot be verified without both: not counted
        why = "; ".join(f"{h.name} {h.reason}" for h in skipped)
        return [CheckLine(14, s.name, SKIP, why) for s in resource.services()]
    lines = []
    with resource.register_client(retry_timeouts=False) as register:
        register_down: str | None = None
        for service in resource.services():
            name = service.name
            entry: dict[str, Any] | None = None
            if register_down is None:
                try:
                    entry = register.lookup(name)
                except (httpx.HTTPError, ValueError) as exc:
                    register_down = _why(exc)
            in_register = entry is not None and str(entry.get("status", "")).lower() in REGISTERED_STATES
            in_registry = listed is not None and name in listed
            if in_register and in_registry:
                lines.append(
                    CheckLine(14, name, PASS, f"register: {entry['status']}; listed by the registry")
                )
                continue
            problems = []
            if register_down:
                problems.append(f"register not verifiable ({register_down})")
            elif not in_register:
                problems.append(
                    "not in register" if entry is None else f"register status {entry.get('status')!r}"
                )
            if listed is None:
                problems.append("registry not verifiable")
            elif not in_registry:
                problems.append("not listed by the registry")
            claimed = [
                t
                for t, ok_now in (("register", in_register), ("registry", in_registry))
                if not ok_now and (row := latest.get((name, t))) is not None and row["ok"]
            ]
            verifiable = not register_down and listed is not None
            if claimed and verifiable:
                lines.append(
                    CheckLine(14, name, FAIL, "reported registered but missing: " + "; ".join(problems))
                )
            else:
                hint = "" if latest else " (run chitty-sync register)"
                lines.append(CheckLine(14, name, WARN, "; ".join(problems) + hint))
    return lines


def _why(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, RegistryContractError):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    return type(exc).__name__
