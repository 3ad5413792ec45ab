"""The one Definitions object of the code location. It only assembles; nothing is built here."""

from __future__ import annotations

import warnings

import dagster as dg

from chitty_pipelines import config
from chitty_pipelines.kernel.platform_asset import ui_safe_spec
from chitty_pipelines.kernel.secrets import install_log_scrubbing
from chitty_pipelines.ops import defs as ops_defs
from chitty_pipelines.ops import distributed
from chitty_pipelines.ops import publish as ops_publish
from chitty_pipelines.ops.jobs import build_jobs
from chitty_pipelines.platforms import registry
from chitty_pipelines.unified import entities as unified_entities
from chitty_pipelines.unified import todos as unified_todos
from chitty_pipelines.unified import topics as unified_topics
from chitty_pipelines.warehouse.resource import WarehouseResource

# Every process that loads the code location (the CLI, each step process, the webserver) masks
# secrets in every log record, SDK log lines included.
install_log_scrubbing()

# One resource per key: the three local AI-tool platforms share ``local_sessions``.
_PLATFORM_RESOURCES = {spec.resource_key: spec.resource() for spec in registry.PLATFORMS}


def _merged() -> dg.Definitions:
    # A function, not a module-level object: the code location must hold one Definitions.
    return dg.Definitions.merge(
        dg.Definitions(
            resources={"warehouse": WarehouseResource.from_settings(), **_PLATFORM_RESOURCES},
            jobs=build_jobs(),
            # CHITTY_EXECUTOR=celery: every job's steps go to Celery workers (ops/distributed.py);
            # unset, Dagster's default (in process, or a process per step).
            executor=distributed.executor_def(),
        ),
        *(spec.defs() for spec in registry.PLATFORMS),
        unified_entities.defs,
        unified_topics.defs,
        unified_todos.defs,
        ops_publish.defs,
        ops_defs.defs,
    )


# The UI reads descriptions as HTML: ``<uuid>``-style placeholders are shown in backticks. The API is
# a Dagster "preview"; its warning would print in every CLI command and step process.
_OWNERS = config.asset_owners()  # CHITTY_ASSET_OWNERS: who the UI names as each asset's owners


def _ui_spec(spec: dg.AssetSpec) -> dg.AssetSpec:
    spec = ui_safe_spec(spec)
    return spec.replace_attributes(owners=[*spec.owners, *_OWNERS]) if _OWNERS else spec


with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)
    defs = _merged().map_asset_specs(func=_ui_spec)
