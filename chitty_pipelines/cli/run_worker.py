"""``python -m chitty_pipelines.cli.run_worker JOB RUN_ID [--full-refresh]``: executes one job of the
code location under a run id chosen by the caller (the sync API, api/runs.py), against the CLI's
Dagster instance, so the run is recorded and visible in ``chitty-sync ui``. Exit code 0 on success.
"""

from __future__ import annotations

import sys
import warnings


def main(argv: list[str]) -> int:
    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from chitty_pipelines.kernel.assets import FULL_REFRESH_TAG
    from chitty_pipelines.kernel.secrets import install_log_scrubbing

    install_log_scrubbing()
    job_name, run_id = argv[0], argv[1]
    full_refresh = "--full-refresh" in argv[2:]
    from chitty_pipelines.cli.runner import _process_tags, open_instance, resolve_job

    job = resolve_job(job_name)
    tags = {**_process_tags(), "chitty/trigger": "api", "chitty/target": job_name.removeprefix("sync_")}
    if full_refresh:
        tags[FULL_REFRESH_TAG] = "true"
    with open_instance() as instance:
        result = job.execute_in_process(instance=instance, run_id=run_id, tags=tags, raise_on_error=False)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
