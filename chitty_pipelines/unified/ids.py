"""``ops.chitty_ids``: one ChittyID per (entity type, canonical key), kept across runs.

An entity seen for the first time gets a minted id when the id service is configured and
reachable; otherwise a stable local id ``local-<entity>-<hash>`` (it fails the canonical regex on
purpose, contracts §4.4) flagged ``id_source='local'``. A later run with the service up mints a
real id for it; the local id stays in ``local_id`` as an alias.

Minting happens before the warehouse transaction (never hold the DuckDB lock over HTTP). Writing
re-reads the map inside the transaction and never replaces a service id that another run stored
meanwhile, so two runs at once cannot give one entity two ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chitty_pipelines.chittyos.identity import validate as validate_format
from chitty_pipelines.chittyos.ids import ChittyIdAuthError, ChittyIdError, ChittyIdResource
from chitty_pipelines.warehouse import TableSpec, Transaction, Warehouse, cols

CHITTY_IDS = TableSpec(
    "ops",
    "chitty_ids",
    cols(
        ("entity_type", "VARCHAR", "project, session, topic"),
        ("canonical_key", "VARCHAR", "project_key, session_key, topic id"),
        ("chitty_id", "VARCHAR", "the id in use: minted, else the local placeholder"),
        ("id_source", "VARCHAR", "service | local"),
        ("entity_code", "VARCHAR", "entity code sent to the id service"),
        ("local_id", "VARCHAR", "the local placeholder this entity had (kept as an alias once minted)"),
        ("minted_at", "TIMESTAMPTZ"),
        ("first_seen_at", "TIMESTAMPTZ"),
    ),
    primary_key=("entity_type", "canonical_key"),
    description="Entity -> ChittyID, so every project, session and topic keeps its id across runs.",
)


def local_id(entity_type: str, key: str) -> str:
    digest = hashlib.sha256(f"{entity_type}\x1f{key}".encode()).hexdigest()[:16]
    return f"local-{entity_type}-{digest}"


@dataclass
class IdAssignment:
    ids: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (chitty_id, id_source)
    rows: list[dict] = field(default_factory=list)  # rows of ops.chitty_ids to upsert
    minted: int = 0
    local: int = 0
    service_error: str = ""

    @property
    def metadata(self) -> dict[str, object]:
        return {
            "ids_minted_this_run": self.minted,
            "ids_local": self.local,
            "id_service": self.service_error or "ok",
        }


def _stored(warehouse: Warehouse, entity_type: str) -> dict[str, dict]:
    if not warehouse.table_exists("ops", "chitty_ids"):
        return {}
    # Plain rows, not a DataFrame: no pandas import in a sync that adds one session, and a null
    # is None (a DataFrame's NaN is truthy: ``local_id or ...`` would keep it).
    rows = warehouse.records(f"SELECT * FROM {CHITTY_IDS.sql_name} WHERE entity_type = ?", [entity_type])
    return {r["canonical_key"]: r for r in rows}


def assign_ids(
    warehouse: Warehouse,
    resource: ChittyIdResource,
    entity_type: str,
    keys: Iterable[str],
    log: Callable[[str], None] = lambda _m: None,
    now: datetime | None = None,
    known: dict[str, str] | None = None,
) -> IdAssignment:
    """Ids for ``keys``: stored ones kept, local ones minted when possible, new ones minted or local.
    ``known``: ids already minted elsewhere (the sync API mints at registration), taken as they
    are when valid, so an entity never gets a second id."""
    now = now or datetime.now(UTC)
    stored = _stored(warehouse, entity_type)
    code = resource.entity_code(entity_type)
    keys = sorted(set(keys))
    need = [k for k in keys if k not in stored or stored[k]["id_source"] != "service"]
    out = IdAssignment()
    minted: dict[str, str] = {
        k: v for k, v in (known or {}).items() if k in need and validate_format(v).valid
    }
    need = [k for k in need if k not in minted]
    client = resource.client()
    if need and client.configured:
        budget = need[: max(resource.max_mints_per_run, 0)]
        try:
            for i in range(0, len(budget), resource.batch_size):
                chunk = budget[i : i + resource.batch_size]
                reqs = [
                    {"entity": code, "name": k, "metadata": {"type": entity_type, "key": k}} for k in chunk
                ]
                try:
                    got = client.mint_batch(reqs)
                except ChittyIdAuthError:
                    raise
                except ChittyIdError as exc:
                    if "HTTP 404" not in str(exc) and "HTTP 405" not in str(exc):
                        raise
                    got = [client.mint(r["entity"], r["name"], r["metadata"]) for r in reqs]
                minted.update(zip(chunk, got, strict=True))
        except ChittyIdAuthError:
            raise  # a wrong token is the user's to fix: fail naming CHITTY_ID_TOKEN
        except ChittyIdError as exc:
            out.service_error = str(exc)
            log(f"id service: {exc}; {len(need) - len(minted)} {entity_type} ids stay local for now")
    elif need:
        out.service_error = "not configured (CHITTY_ID_TOKEN unset)"
    for key in keys:
        old = stored.get(key)
        placeholder = (old or {}).get("local_id") or local_id(entity_type, key)
        if old is not None and old["id_source"] == "service":
            out.ids[key] = (old["chitty_id"], "service")
            continue
        first_seen = (old or {}).get("first_seen_at") or now
        if key in minted:
            out.ids[key] = (minted[key], "service")
            out.minted += 1
            out.rows.append(
                _row(entity_type, key, minted[key], "service", code, placeholder, now, first_seen)
            )
        else:
            out.ids[key] = (placeholder, "local")
            out.local += 1
            if old is None:
                out.rows.append(
                    _row(entity_type, key, placeholder, "local", code, placeholder, None, first_seen)
                )
    return out


def _row(entity_type, key, chitty_id, source, code, placeholder, minted_at, first_seen) -> dict:
    return {
        "entity_type": entity_type,
        "canonical_key": key,
        "chitty_id": chitty_id,
        "id_source": source,
        "entity_code": code,
        "local_id": placeholder,
        "minted_at": minted_at,
        "first_seen_at": first_seen,
    }


def write_ids(tx: Transaction, assignment: IdAssignment) -> None:
    """Store new and newly minted ids; a service id stored by a concurrent run wins over ours."""
    if not assignment.rows:
        return
    tx.ensure(CHITTY_IDS)
    entity_type = assignment.rows[0]["entity_type"]
    current = {
        k: (cid, src)
        for k, cid, src in tx.con.execute(
            f"SELECT canonical_key, chitty_id, id_source FROM {CHITTY_IDS.sql_name} WHERE entity_type = ? "
            "AND id_source = 'service'",
            [entity_type],
        ).fetchall()
    }
    rows = []
    for row in assignment.rows:
        if row["canonical_key"] in current:
            assignment.ids[row["canonical_key"]] = current[row["canonical_key"]]
            continue
        rows.append(row)
    tx.upsert(CHITTY_IDS, rows)
