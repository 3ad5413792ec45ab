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
import logging
from collections.abc import Mapping
from typing import Any

import dagster as dg

from chitty_pipelines.config import MASK, scrub, secret_values

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
    """Base of the errors ``scrubbed_error`` raises in place of one whose text may hold secrets."""


@functools.cache
def _error_type(name: str) -> type[ScrubbedError]:
    # Same name as the original, so "GithubException: 401 ..." still reads as it did.
    return type(name, (ScrubbedError,), {"__module__": __name__})


def scrubbed_error(exc: BaseException) -> BaseException:
    """``exc`` when its text holds nothing to mask, else an error of the same type name whose
    message is masked. Raise it ``from None``: the original's text and causes are dropped."""
    if isinstance(exc, dg.Failure):
        # Dagster reads a Failure's fields (retries, metadata): keep it a Failure, masked.
        return dg.Failure(
            description=scrub(exc.description or ""),
            metadata=scrub_metadata({k: v.value for k, v in exc.metadata.items()}),
            allow_retries=exc.allow_retries,
        )
    text = str(exc)
    clean = scrub(text)
    # A cause or context would be serialized with the error (Dagster walks the chain), so an
    # error that has one is replaced even when its own text is clean.
    if clean == text and exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__):
        return exc
    return _error_type(type(exc).__name__)(clean)


def scrub_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata with its string values masked (other values are numbers, tables, schemas)."""
    return {k: scrub(v) if isinstance(v, str) else v for k, v in metadata.items()}
