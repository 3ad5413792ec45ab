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


def test_offline_a_platform_without_a_declared_host_is_not_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline mode finds a platform's hosts by its *_URL/_URI/_ENDPOINT variables; a new platform
    that names its endpoint otherwise (LINEAR_GRAPHQL, say) must not be probed on the real host."""
    spec = dataclasses.replace(registry.get("notion"), name="nohost")  # declares no variables
    monkeypatch.setenv("CHITTY_OFFLINE", "1")
    assert spec.offline()
    assert spec.health()["offline"] is True
    monkeypatch.setenv("CHITTY_OFFLINE", "0")
    assert not spec.offline()
    monkeypatch.setenv("CHITTY_OFFLINE", "1")
    monkeypatch.setenv("NOTION_BASE_URL", "http://127.0.0.1:9")  # a loopback fake: may be probed
    assert not registry.get("notion").offline()
    assert not registry.get("gemini").offline()  # local files: never offline
