"""Data checks of unified/todos and unified/project_todos, evaluated in the asset's own step (
both tables come from the same op, so they are one dependency level)."""

from __future__ import annotations

import dagster as dg

from chitty_pipelines.kernel.assets import Check, unique_key_check
from chitty_pipelines.unified.entity_tables import PROJECTS
from chitty_pipelines.unified.todo_merge import STATUSES
from chitty_pipelines.unified.todo_tables import PROJECT_TODOS, PROJECT_TODOS_KEY, TODOS, TODOS_KEY
from chitty_pipelines.warehouse import Warehouse


def _wh(context: dg.AssetCheckExecutionContext) -> Warehouse:
    return context.resources.warehouse.get()


def _bad(wh: Warehouse, sql: str, needs: tuple[str, ...]) -> int:
    if not all(wh.table_exists(*name.split(".")) for name in needs):
        return 0
    return int(wh.scalar(sql))


def todos_valid(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    bad = _bad(
        _wh(context),
        f"SELECT count(*) FROM {TODOS.sql_name} WHERE content IS NULL OR content = '' OR added_by IS NULL "
        f"OR status NOT IN ({statuses}) OR is_open <> (status <> 'completed') "
        "OR (updated_by IS NULL AND updated_at IS NOT NULL)",
        ("unified.todos",),
    )
    return dg.AssetCheckResult(passed=bad == 0, metadata={"bad_rows": bad})


def todos_project_exists(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    orphans = _bad(
        _wh(context),
        f"SELECT count(*) FROM {TODOS.sql_name} t WHERE t.project_key IS NOT NULL "
        f"AND t.project_key NOT IN (SELECT project_key FROM {PROJECTS.sql_name})",
        ("unified.todos", "unified.projects"),
    )
    return dg.AssetCheckResult(passed=orphans == 0, metadata={"orphans": orphans})


def project_todos_add_up(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Every summary row's counts are those of unified.todos for its project."""
    bad = _bad(
        _wh(context),
        # an equality join (a sentinel for the NULL project): PostgreSQL full-joins only on those
        f"""SELECT count(*) FROM {PROJECT_TODOS.sql_name} p FULL JOIN (
                SELECT project_key, count(*) AS n, count(*) FILTER (WHERE is_open) AS open_n
                FROM {TODOS.sql_name} GROUP BY ALL
            ) t ON coalesce(p.project_key, ' <none> ') = coalesce(t.project_key, ' <none> ')
            WHERE p.todo_count IS DISTINCT FROM t.n OR p.open_count IS DISTINCT FROM t.open_n
               OR p.todo_count <> p.pending_todos + p.in_progress_todos + p.completed_todos""",
        ("unified.todos", "unified.project_todos"),
    )
    return dg.AssetCheckResult(passed=bad == 0, metadata={"mismatched_projects": bad})


# Evaluated in unified_todos' own step (kernel/platform_asset.with_checks).
TODO_CHECKS = [
    Check(TODOS_KEY, "todos_unique_key", unique_key_check(TODOS), "One row per (project_key, content)."),
    Check(
        TODOS_KEY,
        "todos_valid",
        todos_valid,
        "Content and added_by present, status is pending/in_progress/completed, is_open agrees.",
    ),
    Check(
        TODOS_KEY,
        "todos_project_exists",
        todos_project_exists,
        "Every project_key is in unified.projects (or null: no project).",
    ),
    Check(
        PROJECT_TODOS_KEY,
        "project_todos_add_up",
        project_todos_add_up,
        "Per-project counts equal those of unified.todos.",
    ),
]
