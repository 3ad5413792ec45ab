"""``chitty-sync demo``: every platform and every ChittyOS service as local fakes, one synthetic
organisation in them, and a real ``syncall`` through Dagster into a demo CHITTY_HOME.

The fakes are the same real HTTP servers the tests use (moto for R2, a throwaway PostgreSQL for
Neon); the resources are pointed at them only through environment variables, exactly as a user
points them at the real services. Nothing here needs a credential or the network.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chitty_pipelines import config
from chitty_pipelines.demo import seed
from chitty_pipelines.platforms import registry

MARKER = ".chitty-demo"  # a folder holding this file was made by the demo and may be wiped by it
# Demo credentials: valid only against the fakes started here.
GITHUB_TOKEN = "ghp_demo_token_0000"
NOTION_TOKEN = "secret_demo_notion_0000"
CLOUDFLARE_ACCOUNT = "demo0account0000000000000000000"
CLOUDFLARE_TOKEN = "cf-demo-token-0000"
R2_KEY_ID, R2_SECRET = "demo-r2-key", "demo-r2-secret"
DRIVE_CLIENT = ("demo-client.apps.googleusercontent.com", "demo-client-secret", "1//demo-refresh-token")
ID_TOKEN = "id-token"


@dataclass
class DemoStack:
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)  # platform/service -> where it runs
    skipped: dict[str, str] = field(default_factory=dict)  # platform -> why it is not in the demo

    def summary(self) -> dict[str, Any]:
        return {"home": str(self.home), "endpoints": self.endpoints, "skipped": self.skipped}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_home() -> Path:
    return config.load_settings().chitty_home / "demo"


def prepare_home(home: Path) -> None:
    """Start from an empty demo home; refuse to wipe a folder the demo did not make."""
    home = home.expanduser().resolve()
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise ValueError(
                f"{home} is not empty and was not made by `chitty-sync demo`; choose another --home"
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("made by chitty-sync demo; deleted and rebuilt by the next demo run\n")


def _start_github(stack: contextlib.ExitStack, demo: DemoStack) -> None:
    from chitty_pipelines.platforms.github.fake import GitHubFake

    fake = GitHubFake(tokens={GITHUB_TOKEN: "demo-user"})
    fake.start()
    stack.callback(fake.stop)
    demo.env.update(seed.seed_github(fake), GITHUB_TOKEN=GITHUB_TOKEN, GITHUB_BASE_URL=fake.api_url)
    demo.endpoints["github"] = fake.api_url


def _start_notion(stack: contextlib.ExitStack, demo: DemoStack) -> None:
    from chitty_pipelines.platforms.notion.fake import FakeNotion

    fake = FakeNotion(token=NOTION_TOKEN)
    fake.start()
    stack.callback(fake.stop)
    demo.env.update(seed.seed_notion(fake))
    demo.env.update(NOTION_TOKEN=NOTION_TOKEN, NOTION_BASE_URL=fake.base_url, NOTION_RATE="0")
    demo.endpoints["notion"] = fake.base_url


def _start_drive(stack: contextlib.ExitStack, demo: DemoStack) -> None:
    from chitty_pipelines.platforms.drive.fake import FakeDrive

    fake = FakeDrive()
    fake.start()
    stack.callback(fake.stop)
    client_id, client_secret, refresh = DRIVE_CLIENT
    # The OAuth token endpoint is part of the fake: a refresh-token grant, as for a user account.
    fake.register_refresh_token(refresh, client_id, client_secret)
    seed.seed_drive(fake)
    demo.env.update(
        DRIVE_REFRESH_TOKEN=refresh,
        DRIVE_CLIENT_ID=client_id,
        DRIVE_CLIENT_SECRET=client_secret,
        DRIVE_TOKEN_URI=fake.token_uri,
        DRIVE_FOLDER_ID=seed.DRIVE_ROOT,
        DRIVE_BASE_URL=fake.base_url + "/",
    )
    demo.endpoints["drive"] = fake.base_url


def _start_cloudflare(stack: contextlib.ExitStack, demo: DemoStack) -> None:
    import boto3
    import botocore.config

    from chitty_pipelines.platforms.cloudflare.fake import FakeCloudflare

    fake = FakeCloudflare(account_id=CLOUDFLARE_ACCOUNT, token=CLOUDFLARE_TOKEN)
    fake.start()
    stack.callback(fake.stop)
    seed.seed_cloudflare(fake)
    demo.env.update(
        CLOUDFLARE_ACCOUNT_ID=CLOUDFLARE_ACCOUNT,
        CLOUDFLARE_API_TOKEN=CLOUDFLARE_TOKEN,
        CLOUDFLARE_API_BASE_URL=fake.base_url,
        CLOUDFLARE_API_RATE="0",
        CLOUDFLARE_KV_NAMESPACE_IDS=seed.KV_NAMESPACE,
        CLOUDFLARE_D1_DATABASE_IDS=seed.D1_DATABASE,
    )
    demo.endpoints["cloudflare"] = f"{fake.base_url} (v4 API)"
    try:
        # moto's S3 server (and its Flask) ships with the test extras only: the demo must work
        # with what the README installs, so without it R2 is left out and the table says why.
        from moto.server import ThreadedMotoServer
    except ImportError:
        demo.skipped["cloudflare R2"] = "moto is not installed (scripts/setup installs it)"
        return
    port = _free_port()
    # verbose=False silences moto's own log; werkzeug still logs HEAD requests unless told not to.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    r2 = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    r2.start()
    stack.callback(r2.stop)
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="auto",
        aws_access_key_id=R2_KEY_ID,
        aws_secret_access_key=R2_SECRET,
        config=botocore.config.Config(signature_version="s3v4"),
    )
    seed.seed_r2(s3)
    demo.env.update(
        CLOUDFLARE_R2_ACCESS_KEY_ID=R2_KEY_ID,
        CLOUDFLARE_R2_SECRET_ACCESS_KEY=R2_SECRET,
        CLOUDFLARE_R2_ENDPOINT=endpoint,
        CLOUDFLARE_R2_BUCKETS=seed.R2_BUCKET,
        CLOUDFLARE_R2_JSON_PREFIXES="entities/",
    )
    demo.endpoints["cloudflare"] = f"{fake.base_url} (v4 API), {endpoint} (R2, moto)"


def _start_neon(stack: contextlib.ExitStack, demo: DemoStack) -> None:
    from chitty_pipelines.platforms.neon.fake import PostgresUnavailable, fresh_database, postgres_server

    try:
        server = stack.enter_context(postgres_server())
    except PostgresUnavailable as exc:
        demo.skipped["neon"] = str(exc)
        return
    except (OSError, subprocess.SubprocessError) as exc:  # initdb/pg_ctl refused (permissions, ...)
        demo.skipped["neon"] = f"could not start PostgreSQL: {type(exc).__name__}: {exc}"
        return
    dsn = stack.enter_context(fresh_database(server, "neon_demo"))
    seed.seed_neon(dsn, datetime.now(UTC))
    demo.env["NEON_DATABASE_URL"] = dsn
    demo.endpoints["neon"] = f"throwaway PostgreSQL {neon_endpoint(dsn)}"


def neon_endpoint(dsn: str) -> str:
    """Host, port and database only: the whole DSN is a secret's value (masked wherever printed).
    ``fresh_database`` gives a key=value conninfo, which urlsplit read as one path: the demo's
    table showed ``local socket:5432***``."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or "local socket")
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or ''}"


def _start_chittyos(stack: contextlib.ExitStack, demo: DemoStack) -> None:
    from chitty_pipelines.chittyos.fake import ChittyOSFakes

    # The eight core services; the id fake also serves the batch mint the unified assets use.
    services = ChittyOSFakes(id_token=ID_TOKEN)
    services.start()
    stack.callback(services.stop)
    demo.env.update(services.env())
    for name, fake in services.services.items():
        demo.endpoints[f"chittyos/{name}"] = fake.base_url


def _start_from_registry(stack: contextlib.ExitStack, demo: DemoStack) -> None:
    """Every other API platform in the registry, started by its own ``seed.start_demo``.

    ``start_demo(stack, *, org, projects) -> (env, endpoint)`` starts the platform's fake (and
    registers its stop on ``stack``), seeds the demo organisation into it and returns the
    variables that point the platform at it, so a new platform joins the demo from its own
    folder. One without ``start_demo`` is listed as skipped, saying what to add.
    """
    for spec in registry.PLATFORMS:
        if spec.local or spec.name in demo.endpoints or spec.name in demo.skipped:
            continue
        start = getattr(spec.module("seed"), "start_demo", None)
        if start is None:
            demo.skipped[spec.name] = (
                f"platforms/{spec.name}/seed.py has no start_demo(stack, *, org, projects) (CONTRIBUTING.md)"
            )
            continue
        env, endpoint = start(stack, org=seed.ORG, projects=seed.PROJECTS)
        demo.env.update(env)
        demo.endpoints[spec.name] = endpoint


# In this order; the registry's remaining platforms start from their own seed.py, before ChittyOS.
STARTERS = (
    _start_github,
    _start_notion,
    _start_drive,
    _start_cloudflare,
    _start_neon,
    _start_from_registry,
    _start_chittyos,
)


@contextlib.contextmanager
def demo_stack(home: Path) -> Iterator[DemoStack]:
    """Start and seed every fake; yield the environment that points chitty-pipelines at them.
    Everything started here is stopped on exit, whatever happened."""
    demo = DemoStack(home=home)
    corpus = seed.write_local_corpus(home / "corpus")
    demo.env.update(
        CHITTY_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        CLAUDE_HOME=str(corpus["claude"]),
        CHITTY_EXPORTS_DIR=str(corpus["exports"]),
        # Everything the demo talks to is a fake on 127.0.0.1: no probe, sensor tick or id mint
        # of the demo (nor of its UI) may reach a real host.
        CHITTY_OFFLINE="1",
    )
    demo.endpoints["claude_code"] = str(corpus["claude"])
    demo.endpoints["chatgpt"] = demo.endpoints["gemini"] = str(corpus["exports"])
    (home / "dagster").mkdir(exist_ok=True)
    with contextlib.ExitStack() as stack:
        for start in STARTERS:
            start(stack, demo)
        (home / "demo.json").write_text(json.dumps(demo.summary(), indent=2))
        yield demo


@contextlib.contextmanager
def demo_environment(env: dict[str, str]) -> Iterator[None]:
    """Replace every chitty-pipelines variable of this process by ``env`` (so a user's real
    settings cannot leak into the demo), and put the old ones back afterwards."""
    names = {spec.name for spec in config.ENV_VARS} | set(env)
    names.discard("CHITTY_TEST_POSTGRES_DSN")
    names.discard("CHITTY_DEBUG")  # how much to show, not what to connect to
    # A snapshot to restore, not configuration: values are only read back through config.
    saved = {name: value for name, value in os.environ.items() if name in names}
    try:
        for name in names:
            os.environ.pop(name, None)
        os.environ.update(env)
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)
        os.environ.update(saved)
