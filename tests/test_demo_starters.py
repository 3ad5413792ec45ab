"""How ``chitty-sync demo`` starts platforms: the STARTERS it declares, and the registry's other
API platforms from their own ``seed.start_demo`` (so a new platform needs no edit in demo/)."""

from __future__ import annotations

import contextlib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import chitty_pipelines.demo as demo_module
from chitty_pipelines.demo import DemoStack, demo_stack
from chitty_pipelines.kernel.fake_server import FakeService, Response


@dataclass
class _Spec:
    """What the demo reads of a PlatformSpec: its name, whether it is local, its modules."""

    name: str
    seed: types.ModuleType
    local: bool = False

    def module(self, name: str) -> types.ModuleType:
        assert name == "seed"
        return self.seed


class _Pong(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.route("GET", "/ping", lambda _req: Response(200, {"pong": True}))


def _seed_with_start(started: list[Any]) -> types.ModuleType:
    def start_demo(stack: contextlib.ExitStack, *, org: str, projects: tuple[str, ...]) -> Any:
        fake = _Pong().start()
        stack.callback(fake.stop)
        started.append((fake, org, projects))
        return {"PONG_URL": fake.base_url}, fake.base_url

    return types.SimpleNamespace(start_demo=start_demo)  # type: ignore[return-value]


def test_a_registry_platform_joins_the_demo_through_its_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Any] = []
    specs = (
        _Spec("pong", _seed_with_start(started)),
        _Spec("quiet", types.ModuleType("seed")),  # no start_demo
        _Spec("github", _seed_with_start(started)),  # already started by its own starter
        _Spec("files", _seed_with_start(started), local=True),  # local platforms read the corpus
    )
    monkeypatch.setattr(demo_module.registry, "PLATFORMS", specs)
    demo = DemoStack(home=Path("/nonexistent"), endpoints={"github": "http://127.0.0.1:1"})
    with contextlib.ExitStack() as stack:
        demo_module._start_from_registry(stack, demo)
        (fake, org, projects), *others = started
        assert not others  # only "pong" was started
        assert (org, projects) == (demo_module.seed.ORG, demo_module.seed.PROJECTS)
        assert demo.env["PONG_URL"] == demo.endpoints["pong"] == fake.base_url
        assert fake.port  # running while the stack is open
    with pytest.raises(AssertionError):
        _ = fake.port  # stopped with the stack
    assert "quiet" not in demo.endpoints
    assert "seed.py has no start_demo" in demo.skipped["quiet"]
    assert "platforms/quiet/seed.py" in demo.skipped["quiet"]


def test_demo_stack_runs_the_declared_starters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """STARTERS is the one list: a starter added there is started (it used to be a copy nobody read)."""
    calls: list[str] = []

    def marker(stack: contextlib.ExitStack, demo: DemoStack) -> None:
        calls.append("marker")
        demo.endpoints["marker"] = "here"

    monkeypatch.setattr(demo_module, "STARTERS", (marker,))
    with demo_stack(tmp_path / "home") as demo:
        assert calls == ["marker"]
        assert demo.endpoints["marker"] == "here"
