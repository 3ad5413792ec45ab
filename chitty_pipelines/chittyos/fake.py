"""Fakes of the core ChittyOS services on 127.0.0.1: Register (v1 and the original's
``/api/register``), Registry (the platform stub's routes and chittyrouter's v1), the id service
(fakes/chittyos_id.py: mint, validate) and the ``/health`` of the other five, each its own server.

``ChittyOSFakes`` starts all eight and gives the environment that points chitty-pipelines at
them (``env()``). Fault injection per service: ``down`` (the server stops: connection refused),
``fail`` (every request answers a 5xx), ``slow`` (latency), ``unhealthy`` (200 with a bad
status), wrong tokens (each service checks its own), and ``registry.forget(name)`` to make the
Registry lose a service.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from chitty_pipelines.chittyos.catalogue import bundled_catalogue
from chitty_pipelines.chittyos.fake_id import FakeChittyIdService
from chitty_pipelines.kernel.fake_server import FakeService, Faults, Request, Response, echo_request_headers

_NAME = re.compile(r"^[a-z][a-z0-9-]{2,63}$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[a-z0-9]+)?$")
_URL = re.compile(r"^https?://")
_TYPES = {"worker", "api", "mcp", "package", "tool"}
_CATEGORIES = {"Foundation", "Core", "Data", "Platform", "Domain", "Sync", "Application"}

# What each real service's /health answers (contracts §2-§5); the variety is the point.
HEALTH_BODIES: dict[str, dict[str, Any]] = {
    "identity": {"service": "chittyid", "status": "healthy", "version": "2.1.0"},
    "sync": {"service": "sync", "status": "healthy", "version": "2.0.0"},
    "register": {"status": "ok", "service": "chittyregister", "version": "0.1.0"},
    "registry": {"status": "HEALTHY", "service": "chittyregistry-universal", "version": "2.0.0"},
    "auth": {"service": "auth", "status": "ok"},
    "gateway": {"service": "sync", "status": "healthy", "version": "2.0.0"},
    "canon": {"service": "canon", "status": "healthy", "features": ["canonical-data"]},
    "schema": {"service": "schema", "status": "operational"},
}


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ServiceFake(FakeService):
    """A service that answers ``GET /health`` (and whatever subclasses add)."""

    def __init__(self, name: str, faults: Faults | None = None):
        super().__init__(faults)
        self.name = name
        self.health_body: dict[str, Any] | str = dict(HEALTH_BODIES.get(name, {"status": "healthy"}))
        self.route("GET", "/health", lambda _req: Response(200, self.health_body))

    def unhealthy(self, status: str = "degraded") -> None:
        self.health_body = {**HEALTH_BODIES.get(self.name, {}), "status": status}

    def placeholder(self) -> None:
        """200 with an HTML page (schema.chitty.cc's real answer): reachable, not healthy."""
        self.health_body = "<html><body>coming soon</body></html>"

    def fault_response(self, status: int, headers: dict[str, str]) -> Response:
        return Response(status, {"error": f"upstream error {status}", "success": False}, headers)

    def echo_response(self, resp: Response, req: Request) -> Response:
        # ChittyOS validation errors are a list under "errors" (what register.py reports).
        echoed = echo_request_headers(resp, req)
        if isinstance(echoed.body, dict):
            echoed.body["errors"] = [f"rejected request with headers {dict(req.headers)}"]
        return echoed

    @staticmethod
    def bearer(req: Request) -> str | None:
        value = req.headers.get("authorization", "")
        return value[7:] if value.startswith("Bearer ") else None


class RegisterFake(ServiceFake):
    """register.chitty.cc: v1 with its validation (a duplicate name is 400), and the legacy form.

    ``token``: when set, writes need ``Authorization: Bearer <token>`` (the 2026 runbooks).
    ``registry``: when given, a new registration is published to it (Foundation -> Corp).
    """

    def __init__(self, token: str | None = None, registry: RegistryFake | None = None, **kw: Any):
        super().__init__("register", **kw)
        self.token = token
        self.registry = registry
        self.services: dict[str, dict[str, Any]] = {}
        self.registrations = 0  # successful POSTs (a duplicate is refused, not counted)
        self._lock2 = threading.Lock()
        self.route("POST", "/api/v1/register", self._register_v1)
        self.route("GET", "/api/v1/services", self._list)
        self.route("GET", "/api/v1/services/{name}", self._get)
        self.route("GET", "/api/v1/status", self._status)
        self.route("POST", "/api/register", self._register_legacy)
        self.route("GET", "/api/services", self._list_legacy)

    def _auth(self, req: Request) -> Response | None:
        if self.token is not None and self.bearer(req) != self.token:
            return Response(401, {"success": False, "error": "Unauthorized"})
        return None

    def _register_v1(self, req: Request) -> Response:
        if (denied := self._auth(req)) is not None:
            return denied
        body = req.json()
        if not isinstance(body, dict):
            return Response(400, {"success": False, "errors": ["body must be a JSON object"]})
        errors = _validate_v1(body)
        with self._lock2:
            if not errors and body["name"] in self.services:
                errors.append(f"Service '{body['name']}' already registered")
            if errors:
                return Response(400, {"success": False, "errors": errors})
            now = _now()
            entry = {
                **body,
                "ownerChittyId": None,
                "status": "pending",
                "registeredAt": now,
                "updatedAt": now,
            }
            self.services[body["name"]] = entry
            self.registrations += 1
        if self.registry is not None:
            self.registry.publish(entry)
        return Response(
            201,
            {
                "success": True,
                "registration": entry,
                "message": f"Service {body['name']} registered. Status: pending approval.",
                "_context": {"id": f"req-{self.registrations}", "requestId": f"req-{self.registrations}"},
            },
        )

    def _register_legacy(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict) or not body.get("name") or not body.get("url"):
            return Response(400, {"success": False, "error": "name and url are required"})
        with self._lock2:
            if body["name"] not in self.services:
                self.registrations += 1
            entry = {**body, "status": "active", "registeredAt": _now()}
            self.services[body["name"]] = entry
        return Response(200, {"success": True, "service": entry})

    def _list(self, req: Request) -> Response:
        services = list(self.services.values())
        for key in ("type", "category", "status"):
            if (want := req.arg(key)) is not None:
                services = [s for s in services if s.get(key) == want]
        limit = int(req.arg("limit", "100") or 100)
        return Response(200, {"services": services[:limit], "total": len(services), "filters": {}})

    def _list_legacy(self, _req: Request) -> Response:
        return Response(200, {"services": list(self.services.values())})

    def _get(self, req: Request) -> Response:
        entry = self.services.get(unquote(req.params["name"]))
        return Response(200, {"service": entry}) if entry else Response(404, {"error": "Service not found"})

    def _status(self, _req: Request) -> Response:
        by_status: dict[str, int] = {}
        for s in self.services.values():
            by_status[s["status"]] = by_status.get(s["status"], 0) + 1
        return Response(
            200, {"status": "operational", "statistics": {"total": len(self.services), "byStatus": by_status}}
        )


def _validate_v1(body: dict[str, Any]) -> list[str]:
    errors = []
    if not _NAME.match(str(body.get("name", ""))):
        errors.append("name must match ^[a-z][a-z0-9-]{2,63}$")
    if not _VERSION.match(str(body.get("version", ""))):
        errors.append("version must be semver")
    if not 10 <= len(str(body.get("description", ""))) <= 500:
        errors.append("description must be 10-500 characters")
    if len(str(body.get("owner", ""))) < 3:
        errors.append("owner must be at least 3 characters")
    if body.get("type") not in _TYPES:
        errors.append(f"type must be one of {sorted(_TYPES)}")
    if body.get("category") not in _CATEGORIES:
        errors.append(f"category must be one of {sorted(_CATEGORIES)}")
    for key, url in (body.get("endpoints") or {}).items():
        if not _URL.match(str(url)):
            errors.append(f"endpoints.{key} must be an http(s) URL")
    return errors


class RegistryFake(ServiceFake):
    """registry.chitty.cc: ``GET /api/v1/services`` with ``total``; writes through the stub's
    ``POST /register`` or v1's ``POST /api/v1/register``, and ``GET /api/v1/discover/:name``.

    ``token``: writes need it (Bearer or X-ChittyID-Token); None accepts unauthenticated writes.
    ``read_only``: writes get 401 READ_ONLY, as the 2026 worker answers.
    """

    SEEDED = ("chittychat", "chittyrouter", "chittyconnect")

    def __init__(self, token: str | None = None, read_only: bool = False, **kw: Any):
        super().__init__("registry", **kw)
        self.token = token
        self.read_only = read_only
        self.services: dict[str, dict[str, Any]] = {
            n: {"name": n, "host": f"{n}.chitty.cc", "status": "active", "version": "1.0.0", "endpoints": []}
            for n in self.SEEDED
        }
        self.writes = 0
        self.total_override: Any = None  # a contract break: e.g. total sent as a string
        self.route("GET", "/api/v1/services", self._list)
        self.route("GET", "/api/v1/discover/{name}", self._discover)
        self.route("POST", "/register", self._register)
        self.route("POST", "/api/v1/register", self._register)

    def publish(self, entry: dict[str, Any]) -> None:
        """Register -> Registry propagation (what the real pair does asynchronously)."""
        self.services[entry["name"]] = {
            "name": entry["name"],
            "host": str((entry.get("endpoints") or {}).get("api", "")),
            "status": entry.get("status", "active"),
            "version": entry.get("version", "1.0.0"),
            "endpoints": list((entry.get("endpoints") or {}).values()),
        }

    def forget(self, name: str) -> None:
        self.services.pop(name, None)

    def _list(self, _req: Request) -> Response:
        services = list(self.services.values())
        return Response(
            200,
            {
                "total": len(services) if self.total_override is None else self.total_override,
                "services": services,
                "platform": "ChittyOS",
                "version": "2.0.0",
                "timestamp": _now(),
            },
        )

    def _discover(self, req: Request) -> Response:
        entry = self.services.get(unquote(req.params["name"]))
        return Response(200, {"service": entry}) if entry else Response(404, {"error": "Service not found"})

    def _register(self, req: Request) -> Response:
        if self.read_only:
            return Response(
                401,
                {"code": "READ_ONLY", "submission_endpoint": "https://register.chitty.cc/api/v1/register"},
            )
        given = self.bearer(req) or req.headers.get("x-chittyid-token")
        if self.token is not None and given != self.token:
            return Response(401, {"error": "Authentication required", "code": "AUTH_REQUIRED"})
        body = req.json()
        if not isinstance(body, dict) or not body.get("name") or not body.get("url"):
            return Response(400, {"success": False, "error": "name and url are required"})
        service = {
            "name": body["name"],
            "url": body["url"],
            "type": body.get("type"),
            "health_endpoint": body.get("health_endpoint"),
            "registered": int(datetime.now(UTC).timestamp() * 1000),
            "status": "active",
        }
        self.services[body["name"]] = {**service, "host": body["url"], "version": "1.0.0", "endpoints": []}
        self.writes += 1
        return Response(200, {"success": True, "service": service})


class IdFake(FakeChittyIdService):
    """The id service fake (fakes/chittyos_id.py) with the health toggles of the others."""

    def __init__(self, token: str, **kw: Any):
        super().__init__(token=token, **kw)
        self.name = "identity"
        self.health_body: dict[str, Any] | str = dict(HEALTH_BODIES["identity"])

    def _health(self, req: Request) -> Response:
        return self._guard(req, auth=False) or Response(200, self.health_body)

    unhealthy = ServiceFake.unhealthy
    placeholder = ServiceFake.placeholder


class ChittyOSFakes:
    """All eight core services, each on its own port; a context manager."""

    def __init__(
        self,
        *,
        register_token: str | None = "register-token",
        registry_token: str | None = "registry-token",
        id_token: str | None = "id-token",
        propagate: bool = True,
    ):
        self.register_token, self.registry_token, self.id_token = register_token, registry_token, id_token
        self.registry = RegistryFake(token=registry_token)
        self.register = RegisterFake(token=register_token, registry=self.registry if propagate else None)
        self.identity = IdFake(token=id_token or "no-token-configured")
        self.services: dict[str, ServiceFake | IdFake] = {
            s.name: ServiceFake(s.name)
            for s in bundled_catalogue()
            if s.name not in {"identity", "register", "registry"}
        }
        self.services.update(identity=self.identity, register=self.register, registry=self.registry)
        self._stopped: set[str] = set()

    def start(self) -> ChittyOSFakes:
        for fake in self.services.values():
            fake.start()
        return self

    def stop(self) -> None:
        # In parallel: each server's shutdown waits out its serve_forever poll (up to 0.5 s).
        running = [f for n, f in self.services.items() if n not in self._stopped]
        threads = [threading.Thread(target=f.stop) for f in running]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self._stopped.update(self.services)

    def __enter__(self) -> ChittyOSFakes:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def url(self, name: str) -> str:
        return self.services[name].base_url

    def env(self) -> dict[str, str]:
        """Environment variables pointing chitty-pipelines at the fakes (URLs fixed at start)."""
        urls = ",".join(f"{n}={f.base_url}" for n, f in self.services.items())
        env = {
            "CHITTY_SERVICE_URLS": urls,
            "CHITTY_REGISTER_URL": self.register.base_url,
            "CHITTY_REGISTRY_URL": self.registry.base_url,
            "CHITTY_ID_URL": self.identity.base_url,
        }
        for var, value in (
            ("CHITTY_REGISTER_TOKEN", self.register_token),
            ("CHITTY_REGISTRY_TOKEN", self.registry_token),
            ("CHITTY_ID_TOKEN", self.id_token),
        ):
            if value:
                env[var] = value
        return env

    # -- fault injection -----------------------------------------------------------------------
    def down(self, name: str) -> None:
        """Stop the service: its port refuses connections (the URL in env() stays)."""
        if name not in self._stopped:
            self.services[name].stop()
            self._stopped.add(name)

    def fail(self, name: str, status: int = 503) -> None:
        self.services[name].faults.rate = 1.0
        self.services[name].faults.statuses = (status,)

    def slow(self, name: str, seconds: float) -> None:
        self.services[name].faults.latency_s = seconds

    def unhealthy(self, name: str, status: str = "degraded") -> None:
        self.services[name].unhealthy(status)
