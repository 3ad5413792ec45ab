"""What GitHub feeds the unified layer: repositories, and the chittychat-data repository's
consolidated project states and project files, as project source records."""

from __future__ import annotations

from chitty_pipelines.kernel.feeds import Feed

PLATFORM = "github"
DATA_KIND = "chittychat_data"  # records of the chittychat-data repo resolve as their own kind

FEEDS: tuple[Feed, ...] = (
    Feed(
        PLATFORM,
        "project",
        "raw_github.repositories",
        key="repo_id",
        changed_at="greatest(updated_at, pushed_at)",
        columns={
            "kind": f"'{PLATFORM}'",
            "source_id": "coalesce(src.full_name, CAST(src.repo_id AS VARCHAR))",
            "name": "src.name",
            "git_remote": "coalesce(src.html_url, 'https://github.com/' || src.full_name)",
            "last_activity_at": "coalesce(src.pushed_at, src.updated_at)",
            "full_name": "src.full_name",
        },
        project_rank=1,  # a repository is the strongest anchor after a registration
        code=True,
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
            "kind": f"'{DATA_KIND}'",
            "source_id": "src.project",
            "name": "coalesce(src.project_name, src.project)",
            "path": "src.project_path",
            "last_activity_at": "src.last_activity",
        },
        project_rank=2,
        code=True,
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
            "kind": f"'{DATA_KIND}'",
            "source_id": "src.project_id",
            "name": "coalesce(src.name, src.project_id)",
        },
        project_rank=2,
        code=True,
        description="Project files (projects/<id>.json) of chittychat-data.",
    ),
)
