"""The Cloudflare slice as a whole: not configured, settings from env, health checks, definitions."""

from __future__ import annotations

import dagster as dg
import pytest

from chitty_pipelines import config
from chitty_pipelines.platforms.cloudflare import assets as cf_assets
from chitty_pipelines.platforms.cloudflare.health import probe
from chitty_pipelines.platforms.cloudflare.resource import CloudflareResource
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.platforms.cloudflare_support import (
    ACCOUNT,
    ASSETS,
    CHECKS,
    KV,
    R2_KEY_ID,
    R2_SECRET,
    TOKEN,
    create_bucket,
    fake,
    materialize,
    metadata,
    moto_server,
    resource,
    rows,
    s3,
)

CF_VARS = [s.name for s in config.ENV_VARS if s.platform == "cloudflare"]


@pytest.fixture
def no_cloudflare_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CF_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_cloudflare_env")
def test_not_configured_succeeds_with_zero_rows(
    warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    assert not config.platform_configured("cloudflare")
    result = materialize([*ASSETS, *CHECKS], CloudflareResource.from_settings(), warehouse_resource)
    assert result.success
    for key in (["r2_objects"], ["r2_json_objects"], ["kv_entries"], ["d1_rows"]):
        md = metadata(result, dg.AssetKey(["raw_cloudflare", *key]))
        assert (md["configured"], md["dagster/row_count"]) == (False, 0)
        assert "not set" in md["reason"]
    logged = rows(
        warehouse, "SELECT asset, status FROM ops.sync_log WHERE platform = 'cloudflare' ORDER BY 1"
    )
    assert logged == [
        (f"raw_cloudflare/{a}", "not_configured")
        for a in ("d1_rows", "kv_entries", "r2_json_objects", "r2_objects")
    ]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["r2_reachable"] and checks["api_token_valid"] and checks["unique_key"]


def test_partial_configuration_runs_only_the_configured_streams(
    warehouse_resource: WarehouseResource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    with fake() as f:
        f.put_kv("ns", "k", "v")
        cf = resource(
            api_base_url=f.base_url, api_token=dg.EnvVar("CLOUDFLARE_API_TOKEN"), kv_namespace_ids=["ns"]
        )
        result = materialize(ASSETS, cf, warehouse_resource)
    assert metadata(result, dg.AssetKey(["raw_cloudflare", "kv_entries"]))["dagster/row_count"] == 1
    d1 = metadata(result, dg.AssetKey(["raw_cloudflare", "d1_rows"]))
    assert (d1["configured"], d1["reason"]) == (False, "CLOUDFLARE_D1_DATABASE_IDS not set")
    r2 = metadata(result, dg.AssetKey(["raw_cloudflare", "r2_objects"]))
    assert r2["reason"] == "CLOUDFLARE_R2_BUCKETS is not set"


def test_one_step_runs_only_the_selected_streams(
    warehouse_resource: WarehouseResource, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    with fake() as f:
        f.put_kv("ns", "k", "v")
        f.d1_execute("db", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        cf = resource(
            api_base_url=f.base_url,
            api_token=dg.EnvVar("CLOUDFLARE_API_TOKEN"),
            kv_namespace_ids=["ns"],
            d1_database_ids=["db"],
        )
        result = materialize(KV, cf, warehouse_resource)
        assert f.log and not [p for _, p, _ in f.log if "/d1/" in p]  # D1 is configured, not selected
    assert [e.asset_key for e in result.get_asset_materialization_events()] == KV
    assert rows(warehouse, "SELECT asset, status FROM ops.sync_log") == [
        ("raw_cloudflare/kv_entries", "success")
    ]


@pytest.mark.usefixtures("no_cloudflare_env")
def test_settings_come_from_the_environment_and_secrets_stay_env_vars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_R2_BUCKETS", "a, b")
    monkeypatch.setenv("CLOUDFLARE_KV_NAMESPACE_IDS", "n1")
    monkeypatch.setenv("CLOUDFLARE_D1_CURSOR_COLUMNS", "modified_at,updated_at")
    cf = CloudflareResource.from_settings()
    assert config.platform_configured("cloudflare")
    assert (cf.r2_buckets, cf.kv_namespace_ids, cf.d1_cursor_columns) == (
        ["a", "b"],
        ["n1"],
        ["modified_at", "updated_at"],
    )
    assert cf.r2_endpoint() == f"https://{ACCOUNT}.r2.cloudflarestorage.com"
    assert cf.api_base_url == "https://api.cloudflare.com/client/v4"
    assert isinstance(cf.api_token, dg.EnvVar) and TOKEN not in repr(cf)
    assert cf.r2_missing() == "CLOUDFLARE_R2_ACCESS_KEY_ID, CLOUDFLARE_R2_SECRET_ACCESS_KEY not set"
    assert cf.kv_missing() is None


@pytest.mark.usefixtures("no_cloudflare_env")
def test_definitions_load_without_any_env_var() -> None:
    defs = dg.Definitions.merge(
        cf_assets.defs,
        dg.Definitions(
            resources={
                "warehouse": WarehouseResource(path="/tmp/unused.duckdb"),
                "cloudflare": CloudflareResource.from_settings(),
            }
        ),
    )
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys == {f"raw_cloudflare/{n}" for n in ("r2_objects", "r2_json_objects", "kv_entries", "d1_rows")}


def test_health_checks_pass_against_live_endpoints(
    warehouse_resource: WarehouseResource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    with moto_server() as endpoint, fake() as f:
        create_bucket(s3(endpoint), "health")
        cf = resource(
            api_base_url=f.base_url,
            api_token=dg.EnvVar("CLOUDFLARE_API_TOKEN"),
            r2_endpoint_url=endpoint,
            r2_access_key_id=R2_KEY_ID,
            r2_secret_access_key=R2_SECRET,
            r2_buckets=["health"],
        )
        health = probe(cf)
        assert (health["ok"], health["configured"]) == (True, True)
        assert health["reason"] == "r2: 1 bucket(s) reachable; api: token active"
        result = dg.materialize(
            [*ASSETS, *CHECKS],
            resources={"cloudflare": cf, "warehouse": warehouse_resource},
            selection=dg.AssetSelection.checks_for_assets(*ASSETS) | dg.AssetSelection.assets(*ASSETS),
        )
        evaluations = {
            (e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()
        }
        assert evaluations[("r2_objects", "r2_reachable")] is True
        assert evaluations[("kv_entries", "api_token_valid")] is True
        assert evaluations[("d1_rows", "api_token_valid")] is True
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "not-the-token")
        broken = probe(cf)
        assert broken["ok"] is False and "Check CLOUDFLARE_API_TOKEN" in broken["reason"]
        assert "not-the-token" not in repr(broken)
