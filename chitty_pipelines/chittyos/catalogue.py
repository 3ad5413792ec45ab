"""The core-service catalogue: core_services.yaml plus the machine's URL overrides."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

import yaml

from chitty_pipelines import config

_CATEGORIES = {"Foundation", "Core", "Data", "Platform", "Domain", "Sync", "Application"}


@dataclass(frozen=True)
class CoreService:
    name: str
    url: str  # base URL, no trailing slash
    type: str
    category: str
    provider: str
    features: tuple[str, ...]
    health_path: str = "/health"
    required: bool = False
    # Where this machine probes /health when that differs from the registered URL (the sync hub
    # reached through CHITTY_SYNC_URL while registered as CHITTY_SYNC_PUBLIC_URL).
    probe_base: str | None = None

    @property
    def health_url(self) -> str:
        return self.url + self.health_path

    @property
    def probe_url(self) -> str:
        return (self.probe_base or self.url) + self.health_path


class CatalogueError(ValueError):
    pass


@cache
def bundled_catalogue() -> tuple[CoreService, ...]:
    text = resources.files("chitty_pipelines.ops").joinpath("core_services.yaml").read_text()
    return parse_catalogue(text)


def parse_catalogue(text: str) -> tuple[CoreService, ...]:
    doc = yaml.safe_load(text) or {}
    services = []
    for i, item in enumerate(doc.get("services") or []):
        missing = [k for k in ("name", "url", "type", "category", "provider") if not item.get(k)]
        if missing:
            raise CatalogueError(f"core_services.yaml entry {i}: missing {missing}")
        if item["category"] not in _CATEGORIES:
            raise CatalogueError(
                f"{item['name']}: category {item['category']!r} not in {sorted(_CATEGORIES)}"
            )
        services.append(
            CoreService(
                name=str(item["name"]),
                url=str(item["url"]).rstrip("/"),
                type=str(item["type"]),
                category=str(item["category"]),
                provider=str(item["provider"]),
                features=tuple(str(f) for f in item.get("features") or ()),
                health_path=str(item.get("health_path") or "/health"),
                required=bool(item.get("required", False)),
            )
        )
    names = [s.name for s in services]
    if len(set(names)) != len(names):
        raise CatalogueError("core_services.yaml: duplicate service names")
    return tuple(services)


def url_overrides() -> dict[str, str]:
    """CHITTY_SERVICE_URLS (``name=url,...``), then the dedicated CHITTY_ID_URL,
    CHITTY_REGISTER_URL and CHITTY_REGISTRY_URL (which win: the clients use them too), and the
    sync service's public URL (CHITTY_SYNC_PUBLIC_URL, else CHITTY_SYNC_URL)."""
    overrides: dict[str, str] = {}
    known = [s.name for s in bundled_catalogue()]
    for pair in (config.env("CHITTY_SERVICE_URLS") or "").split(","):
        if not pair.strip():
            continue
        name, sep, url = (part.strip() for part in pair.partition("="))
        if not (sep and name and url):
            raise config.ConfigError(
                f"CHITTY_SERVICE_URLS: {pair.strip()!r} is not name=url: set CHITTY_SERVICE_URLS to "
                "name=url pairs separated by commas, e.g. canon=https://canon.chitty.cc"
            )
        if name not in known:
            raise config.ConfigError(
                f"CHITTY_SERVICE_URLS: {name!r} is not a core service: set CHITTY_SERVICE_URLS with "
                f"names among {', '.join(known)}"
            )
        _check_http_url(f"CHITTY_SERVICE_URLS: {name}", url)
        overrides[name] = url.rstrip("/")
    dedicated = (
        ("identity", "CHITTY_ID_URL"),
        ("register", "CHITTY_REGISTER_URL"),
        ("registry", "CHITTY_REGISTRY_URL"),
        ("sync", "CHITTY_SYNC_URL"),
        ("sync", "CHITTY_SYNC_PUBLIC_URL"),  # after CHITTY_SYNC_URL: the public URL wins
    )
    for name, var in dedicated:
        if config.env(var):
            if var in _URL_VARS:
                _check_http_url(var, str(config.env(var)))
            overrides[name] = str(config.env(var)).rstrip("/")
    return overrides


_URL_VARS = ("CHITTY_ID_URL", "CHITTY_REGISTER_URL", "CHITTY_REGISTRY_URL")


def _check_http_url(where: str, url: str) -> None:
    """A base URL the ChittyOS clients can call, else ConfigError naming the variable (a URL
    without a scheme or with another one failed later as InvalidSchema / UnsupportedProtocol)."""
    if not url.lower().startswith(("http://", "https://")):
        var = where.split(":")[0]
        raise config.ConfigError(
            f"{where}={url!r} is not an http(s) URL: set {var} to a base URL such as https://host"
        )


_DEDICATED = {"identity": "CHITTY_ID", "register": "CHITTY_REGISTER", "registry": "CHITTY_REGISTRY"}


def setup_hint(name: str) -> str:
    """What configures the core service ``name`` (named in status and check)."""
    if name in _DEDICATED:
        prefix = _DEDICATED[name]
        return f"{prefix}_URL or {prefix}_TOKEN"
    return f"CHITTY_SERVICE_URLS ({name}=<url>)"


def core_services(overrides: dict[str, str] | None = None) -> tuple[CoreService, ...]:
    """The catalogue with base URLs overridden (by default from the environment, read on every
    call: tests and the CLI change it between calls)."""
    overrides = url_overrides() if overrides is None else overrides
    probes = {"sync": config.env("CHITTY_SYNC_URL")}  # ChittyCheck test 12 probes the hub this CLI uses
    return tuple(
        replace(
            s,
            url=overrides.get(s.name, s.url),
            probe_base=(probes.get(s.name) or "").rstrip("/") or None,
        )
        for s in bundled_catalogue()
    )
