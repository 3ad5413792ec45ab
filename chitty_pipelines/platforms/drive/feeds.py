"""What Google Drive feeds the unified layer: project folders as project source records."""

from __future__ import annotations

from chitty_pipelines.kernel.feeds import Feed

PLATFORM = "drive"

# A folder at the top of the synced folder (not itself a parent such as "projects"), or directly
# under one of $drive_project_parents, is a project.
_NAMES = "list_transform($drive_project_parents, lambda p: lower(p))"
_SQL = f"""
SELECT * FROM (
    SELECT f.*, f.id AS source_key,
        list_filter(string_split(coalesce(f.path, f.name, ''), '/'), lambda x: x <> '') AS parts
    FROM raw_drive.files f WHERE f.is_folder AND NOT coalesce(f.trashed, false)
) AS folders WHERE (len(parts) = 1 AND NOT list_contains({_NAMES}, lower(parts[1])))
    OR (len(parts) = 2 AND list_contains({_NAMES}, lower(parts[1])))
"""

FEEDS: tuple[Feed, ...] = (
    Feed(
        PLATFORM,
        "project",
        "raw_drive.files",
        key="id",
        changed_at="modified_time",
        fingerprint="coalesce(path, name, '') || CAST(modified_time AS VARCHAR) "
        "|| coalesce(CAST(trashed AS VARCHAR), '')",
        query=_SQL,
        params=("drive_project_parents",),
        columns={
            "source_id": "src.id",
            "name": "src.name",
            "last_active_at": "src.modified_time",
        },
        project_rank=5,
        project_columns={"drive_folders": ("records", "")},
        description="Project folders of the synced Drive folder.",
    ),
)
