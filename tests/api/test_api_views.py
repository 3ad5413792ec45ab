"""Session status as the API derives it from ``last_active_at`` (contracts section 7): active,
stale after SESSION_TTL without a heartbeat, inactive once ended, archived after 7 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chitty_pipelines.api.views import session_status

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _row(last: timedelta, ended: timedelta | None = None) -> dict:
    return {
        "last_heartbeat_at": (NOW - last).isoformat(),
        "ended_at": (NOW - ended).isoformat() if ended is not None else None,
    }


@pytest.mark.parametrize(
    ("last", "ended", "expected"),
    [
        (timedelta(minutes=1), None, "active"),
        (timedelta(minutes=30), None, "active"),  # exactly the TTL: still active
        (timedelta(minutes=31), None, "stale"),
        (timedelta(days=6, hours=23), None, "stale"),
        (timedelta(days=7, minutes=1), None, "archived"),
        (timedelta(minutes=1), timedelta(minutes=1), "inactive"),
        (timedelta(days=8), timedelta(days=6), "inactive"),  # 7 days counted from the end
        (timedelta(days=8), timedelta(days=7, minutes=1), "archived"),
    ],
)
def test_session_status(last: timedelta, ended: timedelta | None, expected: str, monkeypatch) -> None:
    monkeypatch.setenv("SESSION_TTL", "1800")
    assert session_status(_row(last, ended), NOW) == expected


def test_ttl_follows_the_setting(monkeypatch) -> None:
    monkeypatch.setenv("SESSION_TTL", "60")
    assert session_status(_row(timedelta(seconds=61)), NOW) == "stale"
    monkeypatch.setenv("SESSION_TTL", "120")
    assert session_status(_row(timedelta(seconds=61)), NOW) == "active"


def test_hubstore_implements_the_hub_interface(tmp_path) -> None:
    import inspect

    from chitty_pipelines.warehouse.hubstore import Hub, HubStore

    store = HubStore(tmp_path / "hub.sqlite")
    assert isinstance(store, Hub)
    for name, member in inspect.getmembers(Hub, inspect.isfunction):
        if not name.startswith("_"):
            want = list(inspect.signature(member).parameters)
            assert list(inspect.signature(getattr(HubStore, name)).parameters) == want, name


def test_handler_threads_follow_the_setting_and_a_bad_value_names_it(tmp_path, monkeypatch) -> None:
    """CHITTY_API_THREADS sizes the pool that runs request handlers (default 4); a value that is
    not a whole number fails at start naming the variable."""
    import anyio.to_thread
    from fastapi.testclient import TestClient

    from chitty_pipelines.api.app import ApiSettings, create_app
    from chitty_pipelines.config import ConfigError

    monkeypatch.setenv("CHITTY_HOME", str(tmp_path))
    assert ApiSettings.from_env().threads == 4
    monkeypatch.setenv("CHITTY_API_THREADS", "2")
    settings = ApiSettings.from_env()
    assert settings.threads == 2

    async def tokens() -> float:
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    with TestClient(create_app(settings)) as client:
        assert client.portal.call(tokens) == 2
        assert client.get("/health").status_code == 200
    monkeypatch.setenv("CHITTY_API_THREADS", "many")
    with pytest.raises(ConfigError, match="CHITTY_API_THREADS"):
        ApiSettings.from_env()
