"""The asset factory every platform uses: one step per platform, its checks in the same step.

A platform writes one function, ``sync(run: PlatformRun) -> Iterable[TableResult]``: read its
cursors, fetch, convert to Arrow, write data + cursor + rejects in one warehouse transaction
(``Warehouse.transaction``), and say per table what it did. Everything around it lives here,
once: the multi-asset with ``can_subset`` and ``check_specs``, the platform's group, kinds,
pool and table metadata, the full-refresh switch, the "not configured" answer, the sync log
(success and failure), the materialization metadata, and the checks run after the data landed.

Why one step per platform: every step costs Dagster event writes (and a process under the
multiprocess executor), and a platform's tables come from the same requests anyway.
"""

# No ``from __future__ import annotations``: Dagster reads the config class from the real
# annotation of the function built below.
import functools
import inspect
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dagster as dg

from chitty_pipelines import config
from chitty_pipelines.config import scrub
from chitty_pipelines.kernel.assets import (
    Check,
    StreamStats,
    SyncConfig,
    is_full_refresh,
    log_sync,
    not_configured_results,
    now,
    run_checks,
    table_asset_spec,
    table_metadata,
)
from chitty_pipelines.kernel.secrets import scrubbed_error
from chitty_pipelines.warehouse import TableSpec, Warehouse, held_connections


@dataclass(frozen=True)
class TableAsset:
    """One warehouse table a platform materializes, as an asset ``[schema, name]``."""

    table: TableSpec
    description: str = ""
    deps: tuple[dg.AssetKey, ...] = ()
    # Extra kinds besides the platform's own (e.g. "postgres" for Neon's mirrored tables).
    kinds: frozenset[str] = frozenset()

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey([self.table.schema, self.table.name])


@dataclass
class TableResult:
    """What one sync did to one table: the single result type of every platform.

    It becomes the table's materialization metadata and its ``ops.sync_log`` row.
    """

    table: TableSpec
    rows_written: int = 0
    bytes_read: int = 0
    rejects: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)  # shown in the UI next to the counts
    message: str = ""  # the sync-log message (masked by the warehouse when stored)
    # False when this table's part of the platform is not set up (e.g. GitHub's data repository,
    # Cloudflare's D1 databases) while the rest is: zero rows, ``message`` says what to set.
    configured: bool = True
    # Something the user should fix that did not stop the sync (e.g. CLAUDE_HOME naming a folder
    # that does not exist): the metadata's ``warning``, the sync log (status stays success, the
    # message starts with "warning: "), `status` and the syncall summary show it.
    warning: str = ""

    @classmethod
    def not_configured(cls, table: TableSpec, reason: str) -> "TableResult":
        return cls(table, message=reason, configured=False)

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey([self.table.schema, self.table.name])

    def stats(self) -> StreamStats:
        return StreamStats(self.rows_written, self.bytes_read, self.rejects, self.metadata)


WARNING_PREFIX = "warning: "  # sync-log messages of a success with a warning (ops/status.py reads it)


@dataclass
class PlatformRun:
    """What a platform's ``sync`` receives."""

    context: dg.AssetExecutionContext
    warehouse: Warehouse
    config: SyncConfig
    full_refresh: bool
    started_at: datetime
    settings_errors: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.context.run.run_id

    def fail_after(self, message: str) -> None:
        """A setting is wrong (a configured id that does not exist), but the rest of the platform
        synced: what landed is recorded (materializations, sync log, checks), then the step fails
        with ``message``, which names the variable to fix, and is not retried."""
        self.settings_errors.append(message)

    @property
    def resources(self) -> Any:
        return self.context.resources

    @property
    def selected(self) -> set[dg.AssetKey]:
        return set(self.context.selected_asset_keys)

    def log(self, message: str) -> None:
        self.context.log.info(message)


SyncFn = Callable[[PlatformRun], Iterable[TableResult]]


def resource_configured(resource: Any) -> bool:
    """The default ``configured``: the resource's own ``configured`` property when it has one
    (every API resource does), else True (local files, or parts set up separately)."""
    return bool(getattr(resource, "configured", True))


def required_variables(platform: str) -> str:
    """The default setup hint: what config.ENV_VARS says the platform needs
    (``required_for_platform``, and one of each ``one_of`` group), e.g. ``LINEAR_API_KEY``."""
    needed = [s.name for s in config.ENV_VARS if s.platform == platform and s.required_for_platform]
    groups: dict[str, list[str]] = {}
    for s in config.ENV_VARS:
        if s.platform == platform and s.one_of:
            groups.setdefault(s.one_of, []).append(s.name)
    needed += [" or ".join(names) for names in groups.values()]
    return " and ".join(needed)


def platform_assets(
    platform: str,
    *,
    name: str,
    tables: Sequence[TableAsset],
    sync: SyncFn,
    resource_key: str,
    configured: Callable[[Any], bool] = resource_configured,
    setup_hint: str | None = None,
    not_configured_reason: Callable[[Any], str] | None = None,
    checks: Sequence[Check] = (),
    config_class: type[SyncConfig] = SyncConfig,
    kinds: Iterable[str] = (),
    description: str = "",
) -> dg.AssetsDefinition:
    """The platform's multi-asset: ``tables`` synced by ``sync``, then ``checks`` evaluated.

    ``configured(resource)`` says whether the platform's resource has what it needs (default: its
    ``configured`` property, if it has one); when it does not, the step succeeds with zero rows and
    says what to set (``setup_hint``; default: the platform's required variables in
    config.ENV_VARS), so that running it from the UI never fails for a platform the user never set
    up. Both defaults exist so that a new API platform cannot forget them. The reason shown is
    ``not_configured_reason(resource)`` when given (it can name exactly what is missing), else
    one built from ``setup_hint``. A platform whose parts are set up separately returns
    ``TableResult.not_configured(table, reason)`` for the parts that are not.
    """
    if setup_hint is None:
        setup_hint = required_variables(platform)
    platform_kinds = {platform, *kinds, "duckdb"}
    specs = [
        table_asset_spec(
            t.key,
            t.table,
            group=platform,
            deps=t.deps,
            kinds=platform_kinds | set(t.kinds),
            description=t.description,
        )
        for t in tables
    ]
    if len({(c.asset, c.name) for c in checks}) != len(checks):
        raise ValueError(f"{name}: two checks share an asset and a name")
    check_specs = check_specs_of(checks)

    @dg.multi_asset(
        name=name,
        specs=specs,
        check_specs=check_specs,
        can_subset=True,
        description=description or None,
        required_resource_keys={"warehouse", resource_key},
        # One slot per platform by default (dagster.yaml's pool limits): two runs never hit one
        # platform's rate limit at once.
        pool=platform,
    )
    def _platform_asset(context: dg.AssetExecutionContext, config: config_class):  # type: ignore[valid-type]
        resource = getattr(context.resources, resource_key)
        wh: Warehouse = context.resources.warehouse.get()
        if not configured(resource):
            if not_configured_reason is not None:
                reason = not_configured_reason(resource)
            else:
                reason = f"not configured: set {setup_hint}" if setup_hint else "not configured"
            started_at = now()
            # In declaration order: Dagster wants a multi-asset's outputs in dependency order.
            keys = [t.key for t in tables if t.key in context.selected_asset_keys]
            for key in keys:
                log_sync(
                    wh, context, platform=platform, asset=key.to_user_string(),
                    started_at=started_at, status="not_configured", message=reason,
                )  # fmt: skip
            context.log.info(f"{platform} not configured: {reason}")
            yield from not_configured_results(keys, reason)
            # Nothing is expected of a platform the user never set up: its checks pass and say so.
            for key in context.selected_asset_check_keys:
                yield dg.AssetCheckResult(
                    asset_key=key.asset_key, check_name=key.name, passed=True, metadata={"configured": False}
                )
            return
        run = PlatformRun(context, wh, config, is_full_refresh(context, config), now())
        if not run.selected:  # only checks were selected (the UI's "Execute checks"): no sync
            yield from evaluate_checks(context, checks)
            return
        t0 = time.monotonic()
        try:
            results = list(sync(run))
        except Exception as exc:
            # The failure is the platform's own: its step fails, the sync log says why (the
            # message names what to fix), and no other platform's step is touched.
            for t in tables:
                if t.key in run.selected:
                    log_sync(
                        wh, context, platform=platform, asset=t.key.to_user_string(),
                        started_at=run.started_at, status="failed", full_refresh=run.full_refresh,
                        message=f"{type(exc).__name__}: {exc}",  # masked by the warehouse
                    )  # fmt: skip
            # A client's error text can quote the request (PyGithub and friends echo what a
            # server answered, headers included): what Dagster stores and prints is masked.
            clean = scrubbed_error(exc)
            if clean is exc:
                raise
            raise clean from clean.__cause__
        elapsed = round(time.monotonic() - t0, 3)
        outputs: list[Any] = []
        # The sync log and the tables' metadata: small queries on one connection, released
        # before anything goes back to Dagster.
        logged_warnings: set[str] = set()
        with held_connections():
            for result in results:
                if result.key not in run.selected:
                    if result.configured:
                        _record_outside_selection(context, wh, platform, run, result)
                    continue
                if not result.configured:
                    log_sync(
                        wh, context, platform=platform, asset=result.key.to_user_string(),
                        started_at=run.started_at, status="not_configured", message=result.message,
                    )  # fmt: skip
                    outputs.extend(not_configured_results([result.key], result.message))
                    continue
                result.metadata.setdefault("duration_s", elapsed)
                result.metadata.setdefault("full_refresh", run.full_refresh)
                message = result.message
                if result.warning:
                    result.metadata["warning"] = result.warning
                    message = f"{WARNING_PREFIX}{result.warning}" + (f" ({message})" if message else "")
                    if result.warning not in logged_warnings:  # once per cause, not per table
                        logged_warnings.add(result.warning)
                        context.log.warning(f"{result.key.to_user_string()}: {result.warning}")
                if run.settings_errors:  # status shows the step's outcome, with what to fix
                    message = "; ".join(run.settings_errors)
                log_sync(
                    wh, context, platform=platform, asset=result.key.to_user_string(),
                    started_at=run.started_at, status="failed" if run.settings_errors else "success",
                    stats=result.stats(), full_refresh=run.full_refresh, message=message,
                )  # fmt: skip
                metadata = table_metadata(wh, result.table, result.stats())
                outputs.append(dg.MaterializeResult(asset_key=result.key, metadata=metadata))
        yield from outputs
        yield from evaluate_checks(context, checks)
        if run.settings_errors:
            # (``config`` is the run config in here: the scrubber is reached by its full name.)
            raise dg.Failure(description=scrub("; ".join(run.settings_errors)), allow_retries=False)

    return _platform_asset


def _record_outside_selection(
    context: dg.AssetExecutionContext, wh: Warehouse, platform: str, run: PlatformRun, result: TableResult
) -> None:
    """A table the sync wrote although the run did not select it (its rows come from the same
    files or requests as a selected one, under one cursor): recorded as materialized by this
    run, with its own counts, so the UI's "last materialized" and the table agree. Its checks are
    not run (Dagster runs only the checks of selected assets)."""
    result.metadata.setdefault("full_refresh", run.full_refresh)
    result.metadata["outside_selection"] = True
    log_sync(
        wh, context, platform=platform, asset=result.key.to_user_string(),
        started_at=run.started_at, status="success", stats=result.stats(),
        full_refresh=run.full_refresh, message=result.message,
    )  # fmt: skip
    metadata = table_metadata(wh, result.table, result.stats())
    context.log_event(dg.AssetMaterialization(asset_key=result.key, metadata=metadata))


def evaluate_checks(
    context: dg.AssetExecutionContext, checks: Sequence[Check]
) -> Iterable[dg.AssetCheckResult]:
    """The selected checks, in declaration order, after the data has landed in this same step."""
    return run_checks(context, checks)


def check_specs_of(checks: Sequence[Check]) -> list[dg.AssetCheckSpec]:
    """The ``check_specs`` of an asset that evaluates ``checks`` in its own step."""
    return [
        dg.AssetCheckSpec(
            c.name, asset=c.asset, description=markdown_safe(c.description) or None, blocking=c.blocking
        )
        for c in checks
    ]


def with_checks(checks: Sequence[Check]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Evaluate ``checks`` at the end of an asset's own step (declare them with
    ``check_specs=check_specs_of(checks)`` and ``can_subset=True`` on its ``multi_asset``), for
    assets not built by ``platform_assets`` (the unified layer): one step instead of an asset
    step and a check step, and the checks can still run alone (the UI's "Execute checks").

    The asset function may return a result, yield results, or return None; its context must be
    its first argument. A result without an asset key belongs to the asset's only key.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Iterator[Any]:
            # A unified step is warehouse work only: one connection for all its queries.
            with held_connections():
                yield from _run(context, *args, **kwargs)

        def _run(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Iterator[Any]:
            selected = set(context.selected_asset_keys)
            if selected:  # nothing to build when only the checks were selected
                out = fn(context, *args, **kwargs)
                results = out if inspect.isgenerator(out) else ([out] if out is not None else [])
                for result in results:
                    if isinstance(result, dg.MaterializeResult) and result.asset_key is None:
                        (key,) = context.assets_def.keys
                        result = dg.MaterializeResult(
                            asset_key=key,
                            metadata=result.metadata,
                            data_version=result.data_version,
                            tags=result.tags,
                        )
                    if not isinstance(result, dg.MaterializeResult) or result.asset_key in selected:
                        yield result
            yield from evaluate_checks(context, checks)

        return wrapper

    return decorate


# ``<word>`` placeholders (``<uuid>``, ``<platform>``) in descriptions: the UI renders descriptions
# as markdown with HTML, so a bare ``<uuid>`` is read as an unknown tag and vanishes. Wrapping each
# one in backticks shows it literally; text already inside backticks is left alone.
_PLACEHOLDER = re.compile(r"(`[^`]*`)|(<[A-Za-z_][A-Za-z0-9_.:\-]*>)")


def markdown_safe(text: str | None) -> str | None:
    """``text`` with every ``<placeholder>`` outside backticks wrapped in backticks."""
    if not text:
        return text
    return _PLACEHOLDER.sub(lambda m: m.group(1) or f"`{m.group(2)}`", text)


def ui_safe_spec(spec: dg.AssetSpec) -> dg.AssetSpec:
    """``spec`` with its description and its columns' descriptions made :func:`markdown_safe`."""
    metadata = dict(spec.metadata)
    schema = metadata.get("dagster/column_schema")
    if isinstance(schema, dg.TableSchema):
        metadata["dagster/column_schema"] = dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=c.name,
                    type=c.type,
                    description=markdown_safe(c.description),
                    constraints=c.constraints,
                    tags=c.tags,
                )
                for c in schema.columns
            ],
            constraints=schema.constraints,
        )
    return spec.replace_attributes(description=markdown_safe(spec.description), metadata=metadata)
