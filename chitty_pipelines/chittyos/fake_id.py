"""A fake id.chitty.cc (contracts §4): mint, batch mint, validate, health.

Minted ids follow the canonical layout with a correct checksum (identity.checksum), from a
sequence, so tests can predict them. Knobs: ``down`` (every request 503), ``id_field`` (which of
chittyId / chitty_id / id the reply uses, or None for a reply without any), ``batch_enabled``
(404 on /v1/mint/batch, as older servers), plus the base fault injection (429/5xx/latency).
"""

from __future__ import annotations

import threading
from typing import Any

from chitty_pipelines.chittyos.identity import checksum, is_valid
from chitty_pipelines.kernel.fake_server import FakeService, Faults, Request, Response

ENTITY_TYPE = {"PEO": "P", "PLACE": "L", "PROP": "T", "EVNT": "E", "AUTH": "A", "CONTEXT": "T", "INFO": "T"}


class FakeChittyIdService(FakeService):
    def __init__(self, token: str = "test-id-token", faults: Faults | None = None, yymm: str = "2611"):
        super().__init__(faults)
        self.token = token
        self.yymm = yymm
        self.down = False
        self.id_field: str | None = "chittyId"
        self.batch_enabled = True
        self.minted: dict[str, dict[str, Any]] = {}  # id -> request body
        self._seq = 0
        self._seq_lock = threading.Lock()
        self.route("GET", "/health", self._health)
        self.route("POST", "/v1/mint", self._mint)
        self.route("POST", "/v1/mint/batch", self._mint_batch)
        self.route("GET", "/v1/validate/{chitty_id}", self._validate)

    def next_id(self, entity: str) -> str:
        with self._seq_lock:
            self._seq += 1
            seq = self._seq
        head = f"03-1-USA-{seq % 10000:04d}-{ENTITY_TYPE.get(entity, 'T')}-{self.yymm}-0"
        return f"{head}-{checksum(head)}"

    def _guard(self, req: Request, auth: bool = True) -> Response | None:
        if self.down:
            return Response(503, {"error": "service unavailable"})
        if auth and req.headers.get("authorization") != f"Bearer {self.token}":
            return Response(401, {"error": "Unauthorized", "message": "Bearer token required"})
        return None

    def _health(self, req: Request) -> Response:
        return self._guard(req, auth=False) or Response(200, {"status": "healthy", "service": "id"})

    def _one(self, body: dict[str, Any]) -> str:
        chitty_id = self.next_id(str(body.get("entity") or "INFO"))
        self.minted[chitty_id] = body
        return chitty_id

    def _reply(self, chitty_id: str, entity: str) -> dict[str, Any]:
        reply: dict[str, Any] = {"entity": entity, "success": True, "version": "1"}
        if self.id_field:
            reply[self.id_field] = chitty_id
        return reply

    def _mint(self, req: Request) -> Response:
        refused = self._guard(req)
        if refused:
            return refused
        body = req.json() or {}
        if not isinstance(body, dict) or not body.get("entity"):
            return Response(400, {"error": "entity is required"})
        return Response(201, self._reply(self._one(body), body["entity"]))

    def _mint_batch(self, req: Request) -> Response:
        refused = self._guard(req)
        if refused:
            return refused
        if not self.batch_enabled:
            return Response(404, {"error": "not found"})
        items = (req.json() or {}).get("requests")
        if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("entity") for i in items):
            return Response(400, {"error": "requests must be a list of {entity, ...}"})
        return Response(200, {"chittyIds": [self._one(i) for i in items], "count": len(items)})

    def _validate(self, req: Request) -> Response:
        refused = self._guard(req, auth=False)
        if refused:
            return refused
        chitty_id = req.params["chitty_id"]
        known = chitty_id in self.minted
        return Response(200, {"valid": known and is_valid(chitty_id), "chittyId": chitty_id})
