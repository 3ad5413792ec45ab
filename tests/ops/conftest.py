"""Fixtures of the ops tests: the ChittyOS fakes and an environment pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from chitty_pipelines import config
from chitty_pipelines.chittyos.fake import ChittyOSFakes
from chitty_pipelines.chittyos.resource import ChittyServicesResource
from chitty_pipelines.ops import defs as ops_defs
from chitty_pipelines.warehouse.resource import WarehouseResource


def _clear_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    """No platform is configured unless a test says so (the machine may have real tokens)."""
    for spec in config.ENV_VARS:
        if spec.platform and spec.platform not in ("claude_code", "chatgpt", "gemini"):
            monkeypatch.delenv(spec.name, raising=False)
    for name in (
        "CHITTY_REGISTER_API",
        "CHITTY_REGISTRY_ROUTES",
        "CHITTY_REGISTRY_AUTH",
        "CHITTY_SERVICES_PROJECT",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fakes() -> Iterator[ChittyOSFakes]:
    with ChittyOSFakes() as f:
        yield f


@pytest.fixture
def ops_env(fakes: ChittyOSFakes, chitty_home: Path, monkeypatch: pytest.MonkeyPatch) -> ChittyOSFakes:
    _clear_platforms(monkeypatch)
    for name, value in fakes.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CHITTY_OPS_TIMEOUT", "2")
    return fakes


@pytest.fixture
def services_resource(ops_env: ChittyOSFakes) -> ChittyServicesResource:
    return ChittyServicesResource.from_settings(confirm_s=1.0)


@pytest.fixture
def ops_definitions(
    services_resource: ChittyServicesResource, warehouse_resource: WarehouseResource
) -> dg.Definitions:
    """The ops definitions alone (the syncall schedule needs the syncall job, so it stays out)."""
    return dg.Definitions(
        assets=[ops_defs.service_registrations, ops_defs.HEALTH_SPEC],
        asset_checks=[ops_defs.CHECKS],
        jobs=[ops_defs.register_core_services],
        sensors=ops_defs.SENSORS,
        resources={"chittyos_services": services_resource, "warehouse": warehouse_resource},
    )
