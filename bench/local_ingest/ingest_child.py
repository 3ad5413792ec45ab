"""Child process of run.py: materialize the local Claude Code assets (and their checks) of
``chitty_pipelines.platforms.claude_code.assets`` over one corpus through the real Dagster
runtime, and write what happened as JSON. Run in its own process so the parent measures its
wall time and peak RSS cleanly.

    python -m bench.local_ingest.ingest_child --corpus C --warehouse W.duckdb --exports E --out R.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import orjson

T0 = time.perf_counter()


def _plain(value: Any) -> Any:
    """A metadata value as JSON-able data (table schemas and the like become strings)."""
    raw = getattr(value, "value", value)
    try:
        orjson.dumps(raw)
        return raw
    except TypeError:
        return str(raw)[:500]


def claude_assets() -> tuple[list[Any], list[Any]]:
    from chitty_pipelines.platforms.claude_code import assets as local_claude

    # Its checks run inside the asset's step (kernel/platform_asset.py).
    return list(local_claude.CLAUDE_ASSETS), list(local_claude.CLAUDE_CHECKS)


def ingest(corpus: Path, warehouse: Path, exports: Path) -> dict[str, Any]:
    import dagster as dg

    from chitty_pipelines.kernel.local_files import LocalSessionsResource
    from chitty_pipelines.warehouse.resource import WarehouseResource

    assets, checks = claude_assets()
    if not assets:
        return {"ok": False, "error": "CLAUDE_ASSETS is empty: the Claude Code ingestion has not landed"}
    t_import = time.perf_counter() - T0
    resources = {
        "warehouse": WarehouseResource(path=str(warehouse), lock_timeout_s=600),
        "local_sessions": LocalSessionsResource(claude_homes=[str(corpus)], exports_dir=str(exports)),
    }
    t1 = time.perf_counter()
    result = dg.materialize([*assets, *checks], resources=resources, raise_on_error=False)
    t_mat = time.perf_counter() - t1
    materializations: dict[str, dict[str, Any]] = {}
    for ev in result.get_asset_materialization_events():
        mat = ev.event_specific_data.materialization  # type: ignore[union-attr]
        md = {k: _plain(v) for k, v in mat.metadata.items()}
        materializations[mat.asset_key.to_user_string()] = md
    check_results = {}
    for ev in result.get_asset_check_evaluations():
        check_results[f"{ev.asset_key.to_user_string()}:{ev.check_name}"] = bool(ev.passed)
    return {
        "ok": bool(result.success),
        "assets": sorted(materializations),
        "import_seconds": round(t_import, 3),
        "materialize_seconds": round(t_mat, 3),
        "metadata": materializations,
        "checks": check_results,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--warehouse", type=Path, required=True)
    ap.add_argument("--exports", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.write_bytes(orjson.dumps(ingest(a.corpus, a.warehouse, a.exports), default=str))


if __name__ == "__main__":
    main()
