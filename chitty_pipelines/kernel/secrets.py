"""Secrets never leave the process: one scrubber applied at every exit.

``scrub`` (from ``chitty_pipelines.config``, which knows the declared secrets) masks every
configured secret's value and credential-shaped text (Authorization/Bearer/token, GitHub and
Notion token shapes, URL passwords, ``?token=``). This module applies it where text leaves:

- log records, from any logger (Dagster's ``context.log``, the Notion SDK, httpx...):
  ``install_log_scrubbing`` wraps the log-record factory, so a record is masked when it is made,
  before any handler (console, Dagster's event log, compute logs) sees it;
- raised errors: ``scrubbed_error`` gives an exception of the same type name whose message is
  masked, raised ``from None`` so the original (and its cause chain) is not serialized;
- materialization metadata: ``scrub_metadata``.

The warehouse scrubs what it stores (rejects, sync log, stored messages) itself, the CLI what it
prints.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Mapping
from typing import Any

from chitty_pipelines.config import MASK, dagster_if_imported, scrub, secret_values

__all__ = [
    "MASK",
    "ScrubbedError",
    "install_log_scrubbing",
    "scrub",
    "scrub_metadata",
    "scrubbed_error",
    "secret_values",
]


def _scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: let logging report it as it always does
        return record
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[1] is not None:
        # Formatters use exc_text when set: the traceback is formatted once, here, masked.
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


_installed = False


def install_log_scrubbing() -> None:
    """Mask every log record of this process from now on (idempotent).

    A record factory rather than a ``logging.Filter``: a filter on a logger does not see records
    propagated from child loggers (``notion_client``, ``httpx``), and filters on handlers miss the
    handlers Dagster adds per run. The factory sees every record once, when it is created.
    """
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _scrub_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True


class ScrubbedError(Exception):
    """Mixed into the copies ``scrubbed_error`` makes: their text is the masked original's."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:  # the original's repr may read attributes a copy does not have
        return f"{type(self).__name__}({str(self)!r})"


@functools.cache
def _error_type(cls: type[BaseException]) -> type[BaseException]:
    # A subclass of the original, same name and module: "GithubException: 401 ..." reads as it
    # did and ``except``/``isinstance`` on the original type still match.
    namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
    if cls.__module__.split(".")[0] in {"dagster", "dagster_shared"}:
        # Dagster treats its own error types specially and reads their fields: name only.
        return type(cls.__name__, (ScrubbedError,), namespace)
    try:
        return type(cls.__name__, (ScrubbedError, cls), namespace)
    except TypeError:  # a base whose layout cannot be mixed in: keep the name only
        return type(cls.__name__, (ScrubbedError,), namespace)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the causes/contexts Dagster serializes with it."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out and len(out) < 20:
        out.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return out


def _is_failure(exc: BaseException) -> bool:
    dagster = dagster_if_imported()
    return dagster is not None and isinstance(exc, dagster.Failure)


def _is_clean(exc: BaseException) -> bool:
    if _is_failure(exc):
        texts = [exc.description or "", *(str(v.value) for v in exc.metadata.values())]
        return all(scrub(t) == t for t in texts)
    text = str(exc)
    return scrub(text) == text


def _copy(exc: BaseException) -> BaseException:
    if _is_failure(exc):
        import dagster as dg

        # Dagster reads a Failure's fields (retries, metadata): keep it a Failure, masked.
        copy: BaseException = dg.Failure(
            description=scrub(exc.description or ""),
            metadata=scrub_metadata({k: v.value for k, v in exc.metadata.items()}),
            allow_retries=exc.allow_retries,
        )
    else:
        # Not constructed through the original's __init__ (its arguments are unknown): the
        # message is the only state, and ScrubbedError.__str__ shows it.
        cls = _error_type(type(exc))
        copy = BaseException.__new__(cls)
        copy.args = (scrub(str(exc)),)
    # The stack (file names, lines, code) says where it failed and holds no values.
    return copy.with_traceback(exc.__traceback__)


def scrubbed_error(exc: BaseException) -> BaseException:
    """``exc`` itself when nothing in it or its causes needs masking; else a copy of the chain
    (same type names, masked messages, original tracebacks) to raise instead, with
    ``raise copy from copy.__cause__`` so the original chain is not attached."""
    chain = _chain(exc)
    if all(_is_clean(e) for e in chain):
        return exc
    copies = [_copy(e) for e in chain]
    for outer, inner in itertools.pairwise(copies):
        outer.__cause__ = inner
    return copies[0]


def scrub_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata with its string values masked (other values are numbers, tables, schemas)."""
    return {k: scrub(v) if isinstance(v, str) else v for k, v in metadata.items()}
