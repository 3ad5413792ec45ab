"""The least a syncall can cost while it records its runs in Dagster: the same shape of work as a
local-only ``chitty-sync syncall`` (one run of one step for the platform, then one run of five
chained steps for the unified layer, each asset with one check) with nothing done in any step.

Run as a subprocess by run.py with DAGSTER_HOME set; timed end to end like the command itself.
Written as any Dagster user would write it: no start-up or shut-down tricks.
"""

from __future__ import annotations

import dagster as dg


def _noop_asset(name: str, deps: list[str]) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        deps=deps,
        check_specs=[dg.AssetCheckSpec("not_empty", asset=name)],
    )
    def _asset() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            metadata={"rows_written": 0},
            check_results=[dg.AssetCheckResult(check_name="not_empty", passed=True)],
        )

    return _asset


def main() -> None:
    platform = _noop_asset("platform_stream", [])
    unified = [platform]
    for name in ("u_sessions", "u_projects", "u_todos", "u_session_topics", "u_topics"):
        unified.append(_noop_asset(name, [unified[-1].key.path[-1]]))
    defs = dg.Definitions(
        assets=unified,
        jobs=[
            dg.define_asset_job("platforms", selection=["platform_stream"]),
            dg.define_asset_job("unified", selection=[a.key for a in unified[1:]]),
        ],
    )
    instance = dg.DagsterInstance.get()
    for job in ("platforms", "unified"):
        result = defs.resolve_job_def(job).execute_in_process(instance=instance)
        assert result.success


if __name__ == "__main__":
    main()
