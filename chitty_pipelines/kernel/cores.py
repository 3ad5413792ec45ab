"""How many cores this process may use: the worker count of every parallel step."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """One per core this process may use (its CPU affinity on Linux)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
