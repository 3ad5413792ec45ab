"""What every platform's tests do the same way: materialize its one step against its fake.

Each platform's tests used to carry their own copy of this wrapper (the op name, the run config
shape, checks in or out, the failure text); a new platform's tests start here instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg


def materialize_platform(
    asset: dg.AssetsDefinition,
    resources: Mapping[str, Any],
    *,
    full_refresh: bool = False,
    checks: bool = False,
    raise_on_error: bool = False,
    **config: Any,
) -> dg.ExecuteInProcessResult:
    """One run of a platform's step (``platform_assets(...)``) with ``resources`` (its own and
    ``warehouse``); ``config`` is the rest of its run config (a ``SyncConfig`` subclass's fields).
    Its checks run only with ``checks=True``, as in the UI's "materialize" without checks."""
    return dg.materialize(
        [asset],
        selection=None if checks else dg.AssetSelection.all().without_checks(),
        resources=dict(resources),
        run_config={"ops": {asset.node_def.name: {"config": {"full_refresh": full_refresh, **config}}}},
        raise_on_error=raise_on_error,
    )


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """The failed step's error as a user sees it (message and cause), for "names the variable"
    and "never leaks the token" assertions."""
    failures = result.get_step_failure_events()
    assert failures, "the run did not fail"
    error = failures[0].step_failure_data.error
    assert error is not None
    return error.to_string()
