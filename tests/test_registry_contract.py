"""A platform's registry line and its ``assets.py`` must name the same group and resource key;
when they do not, the error says so (instead of Dagster's "resource ... was not provided")."""

from __future__ import annotations

import dataclasses
import types

import dagster as dg
import pytest

from chitty_pipelines.kernel.platform_asset import TableAsset, platform_assets
from chitty_pipelines.platforms import registry
from chitty_pipelines.platforms.gemini.streams import PROMPTS


def test_every_registered_platform_agrees_with_its_assets() -> None:
    for spec in registry.PLATFORMS:
        assert spec.defs().assets  # raises on a mismatch


def test_a_resource_key_mismatch_names_both_places() -> None:
    spec = dataclasses.replace(registry.get("gemini"), resource_key="exports")
    with pytest.raises(ValueError) as raised:
        spec.defs()
    text = str(raised.value)
    assert "platforms/gemini/assets.py (gemini_activity)" in text
    assert "'local_sessions'" in text and "resource_key='exports'" in text and "registry.py" in text


@dataclasses.dataclass(frozen=True)
class _SpecWithAssets(registry.PlatformSpec):
    assets: types.ModuleType | None = None

    def module(self, name: str) -> types.ModuleType:
        assert name == "assets" and self.assets is not None
        return self.assets


def test_a_group_mismatch_names_the_registry_name() -> None:
    asset = platform_assets(
        "gemeni",  # a typo of the registry name
        name="typo_sync",
        tables=[TableAsset(PROMPTS)],
        sync=lambda run: iter(()),
        resource_key="local_sessions",
    )
    module = types.SimpleNamespace(defs=dg.Definitions(assets=[asset]))
    spec = _SpecWithAssets(**{**dataclasses.asdict(registry.get("gemini")), "assets": module})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"group 'gemeni', but the registry names the platform 'gemini'"):
        spec.defs()
