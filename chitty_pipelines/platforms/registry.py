"""The only list of platforms. Definitions, status, health, check, env, the demo and the docs read it.

A platform is a folder ``chitty_pipelines/platforms/<name>/`` with the same files everywhere
(``resource.py``, ``streams.py``, ``assets.py``, ``health.py``, ``fake.py``, ``seed.py``,
``feeds.py``; tests/test_architecture.py holds every folder to it) and one ``PlatformSpec`` line
below. Nothing here imports a platform's code: a spec names its modules and
loads them on demand, so ``chitty-sync --help`` or ``status`` never pay for a client library.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg

from chitty_pipelines import config
from chitty_pipelines.kernel.feeds import Feed


def _configured_by_env(name: str) -> Callable[[], bool]:
    return lambda: config.platform_configured(name)


def _claude_code_configured() -> bool:
    # Named explicitly, it is read (and a missing folder is reported by the sync); by default
    # only when ~/.claude/projects exists, so a machine without Claude Code has no such step.
    if config.is_set("CLAUDE_HOME") or config.is_set("CLAUDE_CONFIG_DIR"):
        return True
    return any((home / "projects").is_dir() for home in config.load_settings().claude_homes)


def _has_export_files(kind: str) -> Callable[[], bool]:
    """ChatGPT and Gemini are configured when the exports folder holds their files."""

    def configured() -> bool:
        from chitty_pipelines.kernel.local_files import LocalSessionsResource

        resource = LocalSessionsResource.from_settings()
        if resource.missing_folders("exports"):
            return True  # named explicitly but missing: the sync runs and warns (issue 15)
        files = getattr(resource, kind)()
        return next(iter(files), None) is not None

    return configured


OFFLINE_REASON = "offline (CHITTY_OFFLINE=1): not probed"


@dataclass(frozen=True)
class PlatformSpec:
    """What the rest of the project needs to know about one platform."""

    name: str  # folder name, Dagster group, sync-log platform key
    title: str  # how people call it
    schema: str  # warehouse schema of its raw tables
    resource_key: str  # the Definitions resource key of its ConfigurableResource
    resource_class: str  # the class in <package>.resource
    setup_hint: str  # what a user sets to configure it (named in status and errors)
    is_configured: Callable[[], bool]
    table_prefix: str = ""  # local AI tools share raw_local; their tables start with the prefix
    local: bool = False  # reads files on this machine (no credentials, no network)

    @property
    def package(self) -> str:
        return f"chitty_pipelines.platforms.{self.name}"

    @property
    def folder(self) -> Path:
        return Path(__file__).parent / self.name

    def configured(self) -> bool:
        return bool(self.is_configured())

    def half_set(self) -> str | None:
        """Some of its variables are set but not all it needs (``config.platform_half_set``):
        the reason names what to set. Syncall, status and check report it as a failure."""
        return None if self.local else config.platform_half_set(self.name)

    def not_configured_hint(self) -> str:
        """What a user sets to configure it; with a lone credential already set (a GITHUB_TOKEN
        exported for gh), what is still missing (``config.platform_lone_credential``)."""
        return (None if self.local else config.platform_lone_credential(self.name)) or self.setup_hint

    def offline(self) -> bool:
        """CHITTY_OFFLINE=1 and one of the platform's hosts is not a loopback fake.

        Hosts are the platform's declared ``*_URL`` / ``*_URI`` / ``*_ENDPOINT`` variables. A
        platform that declares none cannot show that it talks only to a fake, so offline it is
        not probed either (it used to be: ``all()`` of no hosts is true)."""
        if self.local or not config.offline():
            return False
        urls = config.platform_urls(self.name)
        return not urls or not all(config.may_reach(u) for u in urls)

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{name}")

    def defs(self) -> dg.Definitions:
        """The platform's assets and checks (its ``assets.defs``), checked against this line.

        A mismatch between the two places that name the platform would otherwise surface as
        Dagster's "resource with key ... was not provided" or as a group test's set difference,
        neither of which says that the registry line and ``platform_assets(...)`` disagree."""
        defs = self.module("assets").defs
        for asset in defs.assets or ():
            if not isinstance(asset, dg.AssetsDefinition):
                continue
            where = f"platforms/{self.name}/assets.py ({asset.node_def.name})"
            for key, group in asset.group_names_by_key.items():
                if group != self.name:
                    raise ValueError(
                        f"{where} puts {key.to_user_string()} in group {group!r}, but the registry "
                        f"names the platform {self.name!r}: pass {self.name!r} as platform_assets' "
                        "first argument"
                    )
            unknown = sorted(asset.required_resource_keys - {"warehouse", "io_manager", self.resource_key})
            if unknown:
                raise ValueError(
                    f"{where} needs resource key(s) {', '.join(map(repr, unknown))}, but its registry "
                    f"line gives resource_key={self.resource_key!r}: use the same key in "
                    "platform_assets(resource_key=...) and in registry.py"
                )
        return defs

    def resource(self) -> dg.ConfigurableResource:
        """Its resource built from the environment (secret fields hold ``EnvVar``s until a run)."""
        module = importlib.import_module(f"{self.package}.resource")
        return getattr(module, self.resource_class).from_settings()

    def feeds(self) -> tuple[Feed, ...]:
        """The platform's tables that feed unified projects, sessions and todos (``feeds.FEEDS``;
        none when the platform has no feeds module). Loaded on demand like every other module."""
        if not (self.folder / "feeds.py").is_file():
            return ()
        return tuple(self.module("feeds").FEEDS)

    def health(self) -> dict[str, Any]:
        """The platform's own probe (``health.probe``) on its resource, resolved as a run would
        resolve it; ``{"ok": bool, "configured": bool, "reason": str, ...}``. Offline
        (CHITTY_OFFLINE=1) a platform on a real host is not probed: ``{"offline": True}``."""
        if self.offline():
            return {"ok": False, "configured": True, "offline": True, "reason": OFFLINE_REASON}
        resource = self.resource().process_config_and_initialize()
        # A probe answers in one line (its reason): the retry warnings before it ("… failed
        # (ConnectError), attempt 1/6; retrying") printed five lines above `status` and `check`.
        retry_log = logging.getLogger("chitty_pipelines.kernel.retry")
        level = retry_log.level
        retry_log.setLevel(logging.ERROR)
        try:
            return self.module("health").probe(resource)
        finally:
            retry_log.setLevel(level)


PLATFORMS: tuple[PlatformSpec, ...] = (
    PlatformSpec(
        "claude_code",
        "Claude Code",
        "raw_local",
        "local_sessions",
        "LocalSessionsResource",
        "CLAUDE_HOME (a folder with projects/; default ~/.claude)",
        _claude_code_configured,
        table_prefix="claude_",
        local=True,
    ),
    PlatformSpec(
        "chatgpt",
        "ChatGPT exports",
        "raw_local",
        "local_sessions",
        "LocalSessionsResource",
        "CHITTY_EXPORTS_DIR (a folder holding ChatGPT exports: conversations.json, or the export ZIP)",
        _has_export_files("chatgpt_exports"),
        table_prefix="chatgpt_",
        local=True,
    ),
    PlatformSpec(
        "gemini",
        "Gemini (Google Takeout)",
        "raw_local",
        "local_sessions",
        "LocalSessionsResource",
        "CHITTY_EXPORTS_DIR (a folder holding Google Takeout: 'My Activity.json', or the Takeout ZIP)",
        _has_export_files("gemini_activity"),
        table_prefix="gemini_",
        local=True,
    ),
    PlatformSpec(
        "neon",
        "Neon (PostgreSQL)",
        "raw_neon",
        "neon",
        "NeonResource",
        "NEON_DATABASE_URL",
        _configured_by_env("neon"),
    ),
    PlatformSpec(
        "notion",
        "Notion",
        "raw_notion",
        "notion",
        "NotionResource",
        "NOTION_TOKEN",
        _configured_by_env("notion"),
    ),
    PlatformSpec(
        "github",
        "GitHub",
        "raw_github",
        "github",
        "GitHubResource",
        "GITHUB_TOKEN",
        _configured_by_env("github"),
    ),
    PlatformSpec(
        "drive",
        "Google Drive",
        "raw_drive",
        "drive",
        "DriveResource",
        "DRIVE_SERVICE_ACCOUNT_JSON (or DRIVE_AUTHORIZED_USER_JSON / DRIVE_REFRESH_TOKEN) "
        "and DRIVE_FOLDER_ID (or DRIVE_SHARED_DRIVE_ID)",
        _configured_by_env("drive"),
    ),
    PlatformSpec(
        "cloudflare",
        "Cloudflare (R2, Workers KV, D1)",
        "raw_cloudflare",
        "cloudflare",
        "CloudflareResource",
        "CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID (or R2 keys)",
        _configured_by_env("cloudflare"),
    ),
)

BY_NAME: dict[str, PlatformSpec] = {p.name: p for p in PLATFORMS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def get(name: str) -> PlatformSpec:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown platform {name!r}; known: {', '.join(NAMES)}") from None


def configured() -> list[PlatformSpec]:
    return [p for p in PLATFORMS if p.configured()]


def feeds(entity: str | None = None) -> list[Feed]:
    """Every platform's feeds (of one entity), in registry order: unified's only way in."""
    return [f for p in PLATFORMS for f in p.feeds() if entity is None or f.entity == entity]
