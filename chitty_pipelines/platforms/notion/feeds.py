"""What Notion feeds the unified layer: pages of project databases as project source records."""

from __future__ import annotations

from chitty_pipelines.kernel.feeds import Feed

PLATFORM = "notion"
# A GitHub URL anywhere in the page's properties gives the project its remote. RE2 (DuckDB) has
# no look-ahead, so the character after the name is matched instead of asserted.
_REPO = r"""(?i)(?:https?://|git@)github\.com[/:]([\w.-]+)/([\w.-]+?)(?:\.git)?(?:[\s"'/#?)]|$)"""
_RE = _REPO.replace("'", "''")  # as a SQL string literal
_PROPS = "CAST(src.properties AS VARCHAR)"

FEEDS: tuple[Feed, ...] = (
    Feed(
        PLATFORM,
        "project",
        "raw_notion.pages",
        key="page_id",
        changed_at="last_edited_time",
        fingerprint="CAST(last_edited_time AS VARCHAR) || coalesce(CAST(is_deleted AS VARCHAR), '')",
        # $notion_project_databases: pages of databases whose title contains it are projects
        query="SELECT p.*, p.page_id AS source_key FROM raw_notion.pages p "
        "JOIN raw_notion.databases d ON d.table_id = p.table_id "
        "WHERE NOT coalesce(p.is_deleted, false) AND d.title ILIKE '%' || $notion_project_databases || '%' "
        "AND coalesce(p.title, '') <> ''",
        requires=("raw_notion.databases",),
        params=("notion_project_databases",),
        columns={
            "source_id": "src.page_id",
            "name": "src.title",
            "git_remote": f"CASE WHEN regexp_matches({_PROPS}, '{_RE}') THEN 'https://github.com/' || "
            f"regexp_extract({_PROPS}, '{_RE}', 1) || '/' || regexp_extract({_PROPS}, '{_RE}', 2) END",
            "last_active_at": "src.last_edited_time",
        },
        project_rank=4,
        project_columns={
            "notion_pages": ("records", "")
        },  # documents: they join code projects, "X Notes" may lose its suffix
        description="Pages of Notion databases whose title contains the configured pattern.",
    ),
)
