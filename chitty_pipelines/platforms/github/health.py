"""GitHub health: the cheap authenticated call behind ``chitty-sync status``, ChittyCheck and
the platform's health check. ``{"ok", "configured", "reason", ...}``; never raises for an
unreachable or refusing service (that is a finding, not a crash)."""

from __future__ import annotations

from typing import Any

from chitty_pipelines.platforms.github.resource import GitHubError, GitHubResource


def probe(resource: GitHubResource) -> dict[str, Any]:
    """``ok`` and ``reason``: GITHUB_TOKEN is accepted and the rate budget is readable, from
    GET /rate_limit, which does not count against the limit (so checks cost nothing)."""
    if not resource.configured:
        return {"ok": False, "configured": False, "reason": resource.not_configured_reason()}
    import requests
    from github import GithubException

    try:
        with resource.client() as client:
            core = (client.get("/rate_limit").data or {}).get("resources", {}).get("core", {})
    except GitHubError as exc:
        return {"ok": False, "configured": True, "reason": str(exc)}
    except (GithubException, requests.RequestException) as exc:
        return {"ok": False, "configured": True, "reason": f"GitHub unreachable: {type(exc).__name__}"}
    remaining, limit = core.get("remaining"), core.get("limit")
    return {
        "ok": True,
        "configured": True,
        "reason": f"GITHUB_TOKEN accepted; {remaining} of {limit} requests left this hour",
        "rate_limit_remaining": remaining,
        "rate_limit_limit": limit,
        "base_url": resource.base_url,
    }
