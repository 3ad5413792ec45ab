"""Notion health: the cheap authenticated call behind ``chitty-sync status``, ChittyCheck and
the platform's health check. ``{"ok", "configured", "reason", ...}``; never raises for an
unreachable or refusing service (that is a finding, not a crash)."""

from __future__ import annotations

from typing import Any

from chitty_pipelines.platforms.notion.properties import normalize_id
from chitty_pipelines.platforms.notion.resource import NotionApiError, NotionAuthError, NotionResource


def probe(resource: NotionResource, *, verify_ids: bool = True) -> dict[str, Any]:
    """``{"ok": bool, "reason": str}`` from ``GET /v1/users/me`` (cheap, needs only the token)
    and, with ``verify_ids`` (status, check), ``GET /v1/databases/{id}`` for every database the
    variables name: a missing or unshared one fails the sync, so they must say so too. The step's
    own check leaves that to the sync, which has just read them."""
    if not resource.configured:
        return {"ok": False, "configured": False, "reason": "not configured: set NOTION_TOKEN"}
    api = resource.api()
    named = [("NOTION_DATABASES", i) for i in resource.database_ids] if verify_ids else []
    if verify_ids:
        named += [
            (f"NOTION_{stream.upper()}_DATABASE", i) for stream, i in resource.ledger_databases().items()
        ]
    unreadable = []
    try:
        me = api.me()
        for variable, database_id in named:
            try:
                api.call(
                    "databases.retrieve", lambda d=database_id: api.client.databases.retrieve(database_id=d)
                )
            except NotionApiError as exc:
                if exc.status not in (400, 404):
                    raise
                unreadable.append(
                    f"{variable} names database {database_id}, not readable: HTTP {exc.status} {exc.code}"
                )
    except (NotionAuthError, NotionApiError) as exc:
        return {"ok": False, "configured": True, "reason": str(exc)}
    finally:
        api.close()
    if unreadable:
        reason = "; ".join(unreadable) + ": check the id and share the database with the integration"
        return {"ok": False, "configured": True, "reason": reason}
    bot = me.get("bot") or {}
    workspace = bot.get("workspace_name") if isinstance(bot, dict) else None
    return {
        "ok": True,
        "configured": True,
        "reason": "users/me answered",
        "bot_id": normalize_id(me.get("id")),
        "workspace": workspace,
    }
