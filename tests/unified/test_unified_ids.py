"""The id.chitty.cc client against the fake id service, and ids kept across Dagster runs."""

from __future__ import annotations

import logging

import pytest

from chitty_pipelines.chittyos.fake_id import FakeChittyIdService
from chitty_pipelines.chittyos.identity import is_valid
from chitty_pipelines.chittyos.ids import ChittyIdAuthError, ChittyIdClient, ChittyIdError, extract_id
from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.warehouse.opstore import OpStore
from tests.unified.org_fixture import register_projects, seed_platforms
from tests.unified.unified_helpers import id_resource, materialize, metadata

TOKEN = "tok-SECRET-123"
REAL_IDS = [
    "03-1-USA-3846-T-2602-0-57",
    "03-1-USA-9002-T-2602-0-81",
    "03-1-USA-9750-T-2602-0-75",
    "03-1-USA-0970-P-2603-0-54",
]


@pytest.fixture
def fake():
    with FakeChittyIdService(token=TOKEN) as service:
        yield service


def client(fake, token=TOKEN, **kw) -> ChittyIdClient:
    return ChittyIdClient(fake.base_url, token, timeout_s=2, attempts=kw.pop("attempts", 3), max_wait_s=0.05)


@pytest.mark.parametrize("field", ["chittyId", "chitty_id", "id"])
def test_mint_accepts_each_reply_field(fake, field):
    fake.id_field = field
    minted = client(fake).mint("CONTEXT", "s-1", {"type": "session"})
    assert is_valid(minted) and fake.minted[minted] == {
        "entity": "CONTEXT",
        "name": "s-1",
        "metadata": {"type": "session"},
    }


def test_mint_prefers_chittyId_and_explains_a_reply_without_id(fake):
    assert extract_id({"id": "b", "chitty_id": "a2", "chittyId": "a1"}) == "a1"
    fake.id_field = None
    with pytest.raises(ChittyIdError, match="none of chittyId, chitty_id, id"):
        client(fake).mint("CONTEXT")


def test_wrong_token_fails_fast_naming_the_variable_without_the_token(fake, caplog):
    caplog.set_level(logging.DEBUG)
    c = client(fake, token="wrong-token-XYZ")
    with pytest.raises(ChittyIdAuthError, match="CHITTY_ID_TOKEN") as err:
        c.mint("CONTEXT")
    assert "wrong-token-XYZ" not in str(err.value) and "wrong-token-XYZ" not in caplog.text
    assert fake.requests["POST /v1/mint"] == 1  # not retried


def test_transient_5xx_is_retried(fake):
    fake.faults = Faults(rate=0.4, statuses=(503,), seed=3)
    c = ChittyIdClient(fake.base_url, TOKEN, timeout_s=2, attempts=8, max_wait_s=0.01)
    ids = [c.mint("INFO", f"n{i}") for i in range(10)]
    assert len(set(ids)) == 10 and all(map(is_valid, ids))
    assert fake.requests["POST /v1/mint"] > 10  # some answers were faults, retried


def test_batch_mint_and_validation(fake):
    c = client(fake)
    ids = c.mint_batch([{"entity": "PROP", "name": f"p{i}"} for i in range(3)])
    assert len(ids) == 3 and all(map(is_valid, ids)) and fake.requests["POST /v1/mint/batch"] == 1
    assert c.validate(ids[0]).service_valid is True
    for real in REAL_IDS:
        assert c.validate(real, remote=False).valid  # format and checksum
        assert c.validate(real).service_valid is False  # this fake never minted them
        fake.minted[real] = {}
        assert c.validate(real).valid and c.validate(real).service_valid is True
    bad = c.validate("03-1-USA-3846-T-2602-0-58")
    assert not bad.valid and "checksum" in bad.reason
    fake.down = True
    assert c.validate(REAL_IDS[0]).service_valid is None  # unreachable: the local verdict stands
    assert c.validate(REAL_IDS[0]).valid


@pytest.fixture
def org(warehouse, chitty_home):
    path = chitty_home / "opstore.sqlite"
    register_projects(OpStore(path))
    seed_platforms(warehouse)
    return path


def _ids(warehouse, table):
    return dict(warehouse.query(f"SELECT * FROM unified.{table}")[[table[:-1] + "_key", "chitty_id"]].values)


def test_local_ids_then_minted_when_the_service_comes_up_then_stable(
    warehouse, warehouse_resource, org, fake
):
    fake.down = True
    first = materialize(warehouse_resource, org, id_resource(fake.base_url, TOKEN), checks=False)
    assert first.success and metadata(first, "unified/projects")["ids_local"] == 17
    assert metadata(first, "unified/projects")["id_service"].startswith("id service unavailable")
    local_projects, local_sessions = _ids(warehouse, "projects"), _ids(warehouse, "sessions")
    assert all(i.startswith("local-project-") and not is_valid(i) for i in local_projects.values())
    assert all(i.startswith("local-session-") for i in local_sessions.values())
    # still down: the same local ids
    again = materialize(warehouse_resource, org, id_resource(fake.base_url, TOKEN), checks=False)
    assert again.success and _ids(warehouse, "projects") == local_projects

    fake.down = False
    fake.id_field = "chitty_id"
    up = materialize(warehouse_resource, org, id_resource(fake.base_url, TOKEN), checks=True)
    assert up.success
    minted_projects, minted_sessions = _ids(warehouse, "projects"), _ids(warehouse, "sessions")
    assert set(minted_projects) == set(local_projects) and all(map(is_valid, minted_projects.values()))
    assert all(map(is_valid, minted_sessions.values())) and len(minted_sessions) == 21
    assert metadata(up, "unified/sessions")["ids_minted_this_run"] == 21
    assert all(e.passed for e in up.get_asset_check_evaluations())
    kept = warehouse.query(
        "SELECT canonical_key, local_id, id_source FROM ops.chitty_ids WHERE entity_type = 'project'"
    )
    assert set(kept["id_source"]) == {"service"}
    assert dict(kept[["canonical_key", "local_id"]].values) == local_projects  # the alias is kept
    # sessions use the CONTEXT entity code, projects PROP (contracts §4.3)
    assert {b["entity"] for b in fake.minted.values()} == {"CONTEXT", "PROP"}

    before = fake.total_requests
    stable = materialize(warehouse_resource, org, id_resource(fake.base_url, TOKEN), checks=False)
    assert stable.success and fake.total_requests == before  # nothing minted twice
    assert _ids(warehouse, "projects") == minted_projects and _ids(warehouse, "sessions") == minted_sessions


def test_mint_budget_and_batch_fallback(warehouse, warehouse_resource, org, fake):
    fake.batch_enabled = False  # an older server: one POST /v1/mint per id
    res = id_resource(fake.base_url, TOKEN, max_mints_per_run=5)
    result = materialize(warehouse_resource, org, res, checks=False)
    assert result.success
    m = metadata(result, "unified/projects")
    assert (m["ids_minted_this_run"], m["ids_local"]) == (5, 12)
    assert fake.requests["POST /v1/mint"] == 5 + 5  # projects, then sessions
    sources = warehouse.query("SELECT id_source, count(*) AS n FROM unified.projects GROUP BY ALL")
    assert dict(sources.values) == {"service": 5, "local": 12}


def test_wrong_token_fails_the_run_naming_the_variable(warehouse, warehouse_resource, org, fake):
    result = dg_materialize_failing(warehouse_resource, org, id_resource(fake.base_url, "not-the-token"))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.to_string()  # the step error and its cause
    assert "CHITTY_ID_TOKEN" in message and "not-the-token" not in message
    assert "not-the-token" not in repr(result.all_events)  # nor in any log, metadata or event


def dg_materialize_failing(warehouse_resource, org, res):
    import dagster as dg

    from chitty_pipelines.unified.projects import unified_projects
    from chitty_pipelines.warehouse.opstore_resource import OpStoreResource

    return dg.materialize(
        [unified_projects],
        resources={
            "warehouse": warehouse_resource,
            "opstore": OpStoreResource(path=str(org)),
            "chitty_id": res,
        },
        raise_on_error=False,
    )
