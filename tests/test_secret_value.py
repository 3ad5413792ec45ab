"""``config.secret_value``: the one way a resource reads a secret field, in a run or outside one."""

from __future__ import annotations

import dagster as dg
import pytest

from chitty_pipelines import config


def test_resolves_an_envvar_outside_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTION_TOKEN", "secret_abcdefghijklmnopqrstuv")
    field = config.secret("NOTION_TOKEN")
    assert isinstance(field, dg.EnvVar)
    assert config.secret_value(field) == "secret_abcdefghijklmnopqrstuv"


def test_a_resolved_value_is_returned_and_nothing_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.secret_value("already-resolved") == "already-resolved"  # inside a run
    assert config.secret_value(None) is None
    assert config.secret_value("") is None
    monkeypatch.delenv("NOTION_TOKEN", raising=False)
    assert config.secret_value(dg.EnvVar("NOTION_TOKEN")) is None  # unset between build and use


@pytest.mark.parametrize(
    "module",
    [
        "chitty_pipelines.platforms.notion.resource",
        "chitty_pipelines.platforms.drive.resource",
        "chitty_pipelines.platforms.cloudflare.resource",
        "chitty_pipelines.chittyos.resource",
    ],
)
def test_resources_use_the_shared_helper(module: str) -> None:
    """No private copy of the EnvVar-or-value dance is left (there were five, subtly different)."""
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(module))
    assert "isinstance(value, dg.EnvVar)" not in source and "isinstance(field_value, dg.EnvVar)" not in source
    assert "config.secret_value(" in source
