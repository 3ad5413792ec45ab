"""What GitHub feeds the unified layer: repositories, and the chittychat-data repository's
consolidated project states and project files, as project source records."""

from __future__ import annotations

from chitty_pipelines.kernel.feeds import Feed

PLATFORM = "github"
DATA_KIND = "chittychat_data"  # records of the chittychat-data repo resolve as their own kind
DATA_RECORDS = "states and project files in the chittychat-data repo"

FEEDS: tuple[Feed, ...] = (
    Feed(
        PLATFORM,
        "project",
        "raw_github.repositories",
        key="repo_id",
        changed_at="greatest(updated_at, pushed_at)",
        columns={
            "source_id": "coalesce(src.full_name, CAST(src.repo_id AS VARCHAR))",
            "name": "src.name",
            "git_remote": "coalesce(src.html_url, 'https://github.com/' || src.full_name)",
            "last_active_at": "coalesce(src.pushed_at, src.updated_at)",
            "full_name": "src.full_name",
        },
        project_rank=1,  # a repository is the strongest anchor after a registration
        code=True,
        project_columns={
            "github_repos": ("records", ""),
            "github_full_name": ("full_name", "owner/name of its repository"),
        },
        description="Every synced repository; its remote anchors projects.",
    ),
    Feed(
        PLATFORM,
        "project",
        "raw_github.project_states",
        key="project",
        changed_at="coalesce(synced_at, last_activity)",
        fingerprint="sha",
        columns={
            "source_id": "src.project",
            "name": "coalesce(src.project_name, src.project)",
            "path": "src.project_path",
            "last_active_at": "src.last_activity",
        },
        project_rank=2,
        code=True,
        project_kind=DATA_KIND,
        project_columns={"chittychat_data_records": ("records", DATA_RECORDS)},
        description="Consolidated project states (consolidated/<project>/) of chittychat-data.",
    ),
    Feed(
        PLATFORM,
        "project",
        "raw_github.projects",
        key="project_id",
        changed_at=None,
        fingerprint="sha",
        columns={
            "source_id": "src.project_id",
            "name": "coalesce(src.name, src.project_id)",
        },
        project_rank=2,
        code=True,
        project_kind=DATA_KIND,
        project_columns={"chittychat_data_records": ("records", DATA_RECORDS)},
        description="Project files (projects/<id>.json) of chittychat-data.",
    ),
)
