"""Google Drive health: the cheap authenticated call behind ``chitty-sync status``, ChittyCheck and
the platform's health check. ``{"ok", "configured", "reason", ...}``; never raises for an
unreachable or refusing service (that is a finding, not a crash)."""

from __future__ import annotations

from typing import Any

from chitty_pipelines.platforms.drive.resource import (
    DriveApiError,
    DriveAuthError,
    DriveResource,
    DriveUnreachable,
)


def probe(resource: DriveResource) -> dict[str, Any]:
    """Reads the root folder's metadata: proves credentials, reachability and sharing."""
    if not resource.configured:
        return {"ok": False, "reason": resource.not_configured_reason(), "configured": False}
    root = resource.root_id
    variable = "DRIVE_FOLDER_ID" if resource.folder_id else "DRIVE_SHARED_DRIVE_ID"
    try:
        client = resource.client()
    except DriveAuthError as exc:
        return {"ok": False, "reason": str(exc), "configured": True}
    try:
        meta = client.execute(
            lambda: client.service.files().get(
                fileId=root, fields="id,name,mimeType,trashed", supportsAllDrives=True
            ),
            "files.get(root)",
        )
    except (DriveAuthError, DriveUnreachable) as exc:
        return {"ok": False, "reason": str(exc), "configured": True}
    except DriveApiError as exc:
        # The sync says the same when it checks the root (streams.check_root).
        shared = f"that it is shared with the account in {client.credential_var}"
        return {"ok": False, "reason": f"{exc}; check {variable} ({root}) and {shared}", "configured": True}
    except Exception as exc:  # unreachable host etc.: report the type, never a header
        return {"ok": False, "reason": f"Drive unreachable ({type(exc).__name__})", "configured": True}
    if meta.get("trashed"):
        return {"ok": False, "reason": f"root folder {root} is in the trash", "configured": True}
    return {
        "ok": True,
        "reason": f"root folder {meta.get('name') or root!r} readable",
        "configured": True,
        "root_name": meta.get("name"),
        "root_id": root,
    }
