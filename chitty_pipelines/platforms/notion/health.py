"""Notion health: the cheap authenticated call behind ``chitty-sync status``, ChittyCheck and
the platform's health check. ``{"ok", "configured", "reason", ...}``; never raises for an
unreachable or refusing service (that is a finding, not a crash)."""

from __future__ import annotations

from typing import Any

from chitty_pipelines.platforms.notion.properties import normalize_id
from chitty_pipelines.platforms.notion.resource import NotionApiError, NotionAuthError, NotionResource


def probe(resource: NotionResource) -> dict[str, Any]:
    """``{"ok": bool, "reason": str}`` from ``GET /v1/users/me`` (cheap, needs only the token)."""
    if not resource.configured:
        return {"ok": False, "configured": False, "reason": "not configured: set NOTION_TOKEN"}
    api = resource.api()
    try:
        me = api.me()
    except (NotionAuthError, NotionApiError) as exc:
        return {"ok": False, "configured": True, "reason": str(exc)}
    finally:
        api.close()
    bot = me.get("bot") or {}
    workspace = bot.get("workspace_name") if isinstance(bot, dict) else None
    return {
        "ok": True,
        "configured": True,
        "reason": "users/me answered",
        "bot_id": normalize_id(me.get("id")),
        "workspace": workspace,
    }
