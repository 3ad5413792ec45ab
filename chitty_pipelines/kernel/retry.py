"""Retries with backoff that honour Retry-After, and client-side pacing, for every API platform.

Each platform's resource supplies two small functions: which exceptions are worth retrying and
what Retry-After (seconds) an exception carries. The policy itself lives here only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_random_exponential

log = logging.getLogger(__name__)
T = TypeVar("T")


class _WaitHonouringRetryAfter:
    def __init__(self, retry_after: Callable[[BaseException], float | None], max_wait: float):
        self.retry_after = retry_after
        self.backoff = wait_random_exponential(multiplier=0.5, max=max_wait)
        self.max_wait = max_wait

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = self.retry_after(exc) if exc is not None else None
        if hinted is not None:
            return min(max(hinted, 0.0), self.max_wait)
        return self.backoff(state)


def call_with_retry(
    fn: Callable[[], T],
    *,
    retryable: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None] = lambda _exc: None,
    attempts: int = 6,
    max_wait: float = 60.0,
    describe: str = "request",
) -> T:
    """Call ``fn``; on a retryable error wait (Retry-After if given, else jittered exponential
    backoff) and try again, at most ``attempts`` times in all. The last error is re-raised."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        # Only the exception type: messages of client errors can echo request headers.
        log.warning(
            "%s failed (%s), attempt %d/%d; retrying in %.2fs",
            describe,
            type(exc).__name__,
            state.attempt_number,
            attempts,
            state.next_action.sleep if state.next_action else 0.0,
        )

    retrying = Retrying(
        retry=retry_if_exception(retryable),
        wait=_WaitHonouringRetryAfter(retry_after, max_wait),
        stop=stop_after_attempt(attempts),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare in these APIs)."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class Pacer:
    """Spaces calls at least ``1/rate`` seconds apart across threads, so an API's average rate
    limit is respected before it is hit rather than discovered through 429s."""

    def __init__(self, rate_per_s: float):
        self.interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)
