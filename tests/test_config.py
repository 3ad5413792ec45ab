"""Every variable is declared once, documented in the README, and read only through config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chitty_pipelines import config

ROOT = Path(__file__).resolve().parents[1]


def test_readme_configuration_table_is_current():
    readme = (ROOT / "README.md").read_text()
    assert config.render_readme_table(readme) == readme, (
        "README's configuration table is stale: run `.venv/bin/python -m chitty_pipelines.config README.md`"
    )


def test_no_module_reads_the_environment_directly():
    offenders = []
    for path in (ROOT / "chitty_pipelines").rglob("*.py"):
        if path.name == "config.py" or "fakes" in path.parts:
            continue
        text = path.read_text()
        # Reads only: passing the environment on to a child process or setting a library's
        # offline switch is not configuration.
        if re.search(r"os\.getenv|environ\.get\(|os\.environ\[[^\]]+\](?!\s*=)", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"read environment variables through chitty_pipelines.config: {offenders}"


def test_secrets_are_env_vars_not_values(monkeypatch):
    names = [s.name for s in config.ENV_VARS if s.secret]
    assert names, "no secret declared"
    for name in names:
        monkeypatch.setenv(name, "s3cr3t-value")
        value = config.secret(name)
        assert value is not None and "s3cr3t" not in repr(value)


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ("1", {"minimum": 1}, 1.0),
        ("0", {"minimum": 0}, 0.0),  # 0 = unpaced rates, no statement timeout: valid where allowed
        ("0.5", {"positive": True}, 0.5),
        ("1", {"minimum": 0, "maximum": 1}, 1.0),
        ("0", {"minimum": 1}, "at least 1"),
        ("-3", {"minimum": 1}, "at least 1"),
        ("0", {"positive": True}, "above 0"),
        ("-0.1", {"minimum": 0, "maximum": 1}, "at least 0 and at most 1"),
        ("1.01", {"minimum": 0, "maximum": 1}, "at least 0 and at most 1"),
        ("nan", {"minimum": 0}, "not a finite number"),
        ("inf", {}, "not a finite number"),
    ],
)
def test_number_checks_its_range(monkeypatch, value, kwargs, expected):
    monkeypatch.setenv("CHITTY_LOCK_TIMEOUT", value)
    if isinstance(expected, float):
        assert config.number("CHITTY_LOCK_TIMEOUT", 600, **kwargs) == expected
        return
    with pytest.raises(config.ConfigError, match=expected) as err:
        config.number("CHITTY_LOCK_TIMEOUT", 600, **kwargs)
    assert str(err.value).startswith(f"CHITTY_LOCK_TIMEOUT={value!r}")
