"""The shared platform-test wrapper, exercised on Gemini (files, no server: the quickest step)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from chitty_pipelines.kernel.local_files import LocalSessionsResource
from chitty_pipelines.platforms.gemini.assets import gemini_activity
from chitty_pipelines.platforms.gemini.fake import prompt_item, write_activity
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.platforms.platform_support import failure_text, materialize_platform


def test_materialize_platform_passes_config_and_selects_checks(
    tmp_path: Path, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    write_activity(
        tmp_path,
        [prompt_item("2026-10-04T09:00:00Z", "a", "b"), prompt_item("2026-10-04T12:00:00Z", "c", "d")],
    )
    resources = {
        "warehouse": warehouse_resource,
        "local_sessions": LocalSessionsResource(claude_homes=[], exports_dir=str(tmp_path)),
    }
    first = materialize_platform(gemini_activity, resources, session_gap_minutes=60.0)
    assert first.success and not first.get_asset_check_evaluations()
    assert warehouse.scalar("SELECT count(*) FROM raw_local.gemini_sessions") == 2  # 3 h apart

    again = materialize_platform(
        gemini_activity, resources, full_refresh=True, checks=True, session_gap_minutes=600.0
    )
    assert again.success and {e.check_name for e in again.get_asset_check_evaluations()} >= {"gemini_rejects"}
    assert warehouse.scalar("SELECT count(*) FROM raw_local.gemini_sessions") == 1


def test_failure_text_is_the_steps_error() -> None:
    @dg.asset
    def refuses() -> None:
        raise RuntimeError("Linear refused LINEAR_API_KEY")

    result = dg.materialize([refuses], raise_on_error=False)
    assert "RuntimeError: Linear refused LINEAR_API_KEY" in failure_text(result)
