"""GitHub health: the cheap authenticated call behind ``chitty-sync status``, ChittyCheck and
the platform's health check. ``{"ok", "configured", "reason", ...}``; never raises for an
unreachable or refusing service (that is a finding, not a crash)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chitty_pipelines.platforms.github.resource import GitHubClient, GitHubError, GitHubResource

# Owners and repositories looked up per probe: a typo in GITHUB_OWNERS or GITHUB_REPOSITORIES
# fails the sync, so status and check must say so too; beyond this many the sync finds the rest.
MAX_NAMES_PROBED = 20


def probe(resource: GitHubResource, *, verify_names: bool = True) -> dict[str, Any]:
    """``ok`` and ``reason``: GITHUB_TOKEN is accepted and the rate budget is readable, from
    GET /rate_limit, which does not count against the limit, and (``verify_names``) every owner
    of GITHUB_OWNERS and repository of GITHUB_REPOSITORIES exists for this token (one GET each,
    up to 20). The step's own check skips the names: its sync has just read them (conditionally,
    for free), where these GETs would spend the rate budget on every no-change re-sync."""
    if not resource.configured:
        return {"ok": False, "configured": False, "reason": resource.not_configured_reason()}
    from github import GithubException

    try:
        with resource.client() as client:
            core = (client.get("/rate_limit").data or {}).get("resources", {}).get("core", {})
            missing = _missing_names(client, resource) if verify_names else ""
    except GitHubError as exc:  # refused token, or no answer (names GITHUB_BASE_URL)
        return {"ok": False, "configured": True, "reason": str(exc)}
    except GithubException as exc:
        what = "rate-limited" if exc.status in (403, 429) else "answered"
        reason = f"GitHub {what} HTTP {exc.status} ({type(exc).__name__})"
        return {"ok": False, "configured": True, "reason": reason}
    remaining, limit = core.get("remaining"), core.get("limit")
    if missing:
        return {"ok": False, "configured": True, "reason": missing, "base_url": resource.base_url}
    return {
        "ok": True,
        "configured": True,
        "reason": f"GITHUB_TOKEN accepted; {remaining} of {limit} requests left this hour",
        "rate_limit_remaining": remaining,
        "rate_limit_limit": limit,
        "base_url": resource.base_url,
    }


def _missing_names(client: GitHubClient, resource: GitHubResource) -> str:
    """What the sync would fail on (a 404 for an owner or a repository), naming the variable."""
    from github import GithubException

    lookups = [("GITHUB_OWNERS", o, f"/users/{quote(o)}") for o in resource.owners]
    lookups += [("GITHUB_REPOSITORIES", r, f"/repos/{r}") for r in resource.repositories]
    missing: dict[str, list[str]] = {}
    for variable, name, path in lookups[:MAX_NAMES_PROBED]:
        try:
            client.get(path)
        except GithubException as exc:
            if exc.status != 404:
                raise
            missing.setdefault(variable, []).append(name)
    return "; ".join(
        f"GitHub has no {'user or organisation' if variable == 'GITHUB_OWNERS' else 'repository'} "
        f"{', '.join(names)} visible to GITHUB_TOKEN (404): check {variable}"
        for variable, names in missing.items()
    )
