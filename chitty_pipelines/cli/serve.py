"""``chitty-sync serve``: the sync HTTP API (chitty_pipelines/api) on uvicorn, and ``chitty-sync
token create|list|revoke``: its bearer tokens (only their sha256 is stored, in the hub store)."""

from __future__ import annotations

import logging
import re
from typing import Annotated

import typer

from chitty_pipelines.cli.app import console, out, print_table

token_app = typer.Typer(
    help="Bearer tokens of `chitty-sync serve` (stored hashed; shown once).", no_args_is_help=True
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``token`` to the ``chitty-sync`` app (cli/__init__.py calls this)."""
    app.command()(serve)
    app.add_typer(token_app, name="token")


def _hub():  # type: ignore[no-untyped-def]
    from chitty_pipelines.warehouse.opstore_location import default_store

    return default_store()


def serve(
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 for every interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8787,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without tokens (only on a loopback address).")
    ] = False,
) -> None:
    """Serve the sync API (sessions, heartbeats, todos, topics, projects, runs) over HTTP."""
    import uvicorn

    from chitty_pipelines.api.app import ApiSettings, create_app
    from chitty_pipelines.api.auth import is_loopback

    if no_auth and not is_loopback(host):
        console.print(
            f"refusing --no-auth on {host}: without tokens the API may only listen on a loopback "
            "address (127.0.0.1, ::1, localhost). Create a token: chitty-sync token create --name NAME"
        )
        raise typer.Exit(2)
    _port_free_or_exit(host, port)
    settings = ApiSettings.from_env(no_auth=no_auth)
    app = create_app(settings)
    hub = app.state.api.hub
    if no_auth:
        console.print(
            "WARNING: authentication is OFF (--no-auth): anyone on this machine can read and write "
            f"via {host}:{port}"
        )
    elif not hub.active_token_hashes():
        console.print(
            "no API tokens yet: every request but /health gets 401. Create one: "
            "chitty-sync token create --name NAME --scope write"
        )
    console.print(
        f"chitty-sync serve: http://{host}:{port} (docs at /docs); hub store {hub.path}; "
        f"warehouse {app.state.api.store.warehouse.location}"
    )
    _configure_logging()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # our access log (api/app.py AccessLog) prints the token's name, never the token
        log_config=None,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    uvicorn.Server(config).run()


def _port_free_or_exit(host: str, port: int) -> None:
    """A taken port is the usual first failure: say so and what to do, instead of uvicorn's
    errno line and exit code 3."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            console.print(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                "choose another port with --port (or stop what uses it)",
                markup=False,
            )
            raise typer.Exit(1) from None


def _configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    for name in ("chitty_pipelines.api", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="A name for the token (who or what uses it).")],
    scope: Annotated[
        str,
        typer.Option(
            "--scope", help="read | write | sync | admin (each includes those before it), or a comma list."
        ),
    ] = "read",
) -> None:
    """Create a token and print it once (only its sha256 is stored)."""
    from chitty_pipelines.api.auth import hash_token, new_token, parse_scope

    if not _NAME.fullmatch(name):
        console.print(f"invalid name {name!r}: 1-64 of A-Z a-z 0-9 . _ -")
        raise typer.Exit(2)
    try:
        granted = parse_scope(scope)
    except ValueError as exc:
        console.print(str(exc))
        raise typer.Exit(2) from None
    token = new_token()
    outcome = _hub().add_token(name, hash_token(token), scope.replace(" ", ""))
    if not outcome.ok:
        console.print(outcome.message)
        raise typer.Exit(1)
    console.print(f"token {name!r} created with scopes {', '.join(sorted(granted))}; it is shown only now:")
    # stdout carries only the token, so `TOKEN=$(chitty-sync token create ...)` captures it.
    print(token)


@token_app.command("list")
def token_list() -> None:
    """Every token's name, scope, creation, last use and revocation (never the token)."""
    from rich.table import Table

    table = Table(title="API tokens")
    for column in ("name", "scope", "created", "last used", "revoked"):
        table.add_column(column)
    rows = _hub().tokens()
    for r in rows:
        table.add_row(
            r["name"], r["scope"], r["created_at"], r["last_used_at"] or "-", r["revoked_at"] or "-"
        )
    if rows:
        print_table(table)
    else:
        out.print("no tokens (chitty-sync token create --name NAME)")


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token: requests with it get 401 from the next request on."""
    outcome = _hub().revoke_token(name)
    console.print(outcome.message if outcome.message != "revoked" else f"token {name!r} revoked")
    if not outcome.ok:
        raise typer.Exit(1)
