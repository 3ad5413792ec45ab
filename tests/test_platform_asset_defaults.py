"""``platform_assets`` without ``configured=`` / ``setup_hint=``: an API platform whose resource
has no credentials answers "not configured: set <its required variables>" instead of running its
sync (which would fail in the client). Local platforms, whose resources have no ``configured``,
are always run."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from chitty_pipelines.kernel.platform_asset import (
    PlatformRun,
    TableAsset,
    TableResult,
    platform_assets,
    required_variables,
)
from chitty_pipelines.warehouse import TableSpec, Warehouse, cols
from chitty_pipelines.warehouse.resource import WarehouseResource

ITEMS = TableSpec("raw_notion", "defaults_items", cols(("id", "VARCHAR")), primary_key=("id",))


class _TokenResource(dg.ConfigurableResource):
    token: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.token)


class _FilesResource(dg.ConfigurableResource):  # no ``configured``: like LocalSessionsResource
    folder: str = "."


def _asset(calls: list[str], resource_key: str) -> dg.AssetsDefinition:
    def sync(run: PlatformRun) -> Iterator[TableResult]:
        calls.append("sync")
        with run.warehouse.transaction(run.run_id) as tx:
            written = tx.upsert(ITEMS, [{"id": "a"}])
        yield TableResult(ITEMS, written)

    # "notion" for its real declarations in config.ENV_VARS (NOTION_TOKEN is required)
    return platform_assets("notion", name="defaults_sync", tables=[TableAsset(ITEMS)], sync=sync,
                           resource_key=resource_key)  # fmt: skip


def test_required_variables_come_from_env_vars() -> None:
    assert required_variables("notion") == "NOTION_TOKEN"
    assert "DRIVE_SERVICE_ACCOUNT_JSON or" in required_variables("drive")  # a one_of group
    assert required_variables("gemini") == ""  # local files: nothing to set


def test_an_unconfigured_api_resource_is_not_synced(warehouse_resource: WarehouseResource) -> None:
    calls: list[str] = []
    result = dg.materialize(
        [_asset(calls, "api")], resources={"api": _TokenResource(), "warehouse": warehouse_resource}
    )
    assert result.success and calls == []
    (mat,) = result.asset_materializations_for_node("defaults_sync")
    assert mat.metadata["configured"].value is False
    assert mat.metadata["reason"].value == "not configured: set NOTION_TOKEN"


@pytest.mark.parametrize("resource", [_TokenResource(token="t0ken-value"), _FilesResource()])
def test_a_configured_or_local_resource_is_synced(
    resource: dg.ConfigurableResource, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    calls: list[str] = []
    result = dg.materialize(
        [_asset(calls, "api")], resources={"api": resource, "warehouse": warehouse_resource}
    )
    assert result.success and calls == ["sync"]
    assert warehouse.scalar(f"SELECT count(*) FROM {ITEMS.sql_name}") == 1
