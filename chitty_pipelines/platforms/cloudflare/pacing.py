"""Pacing of v4 API calls across threads and processes.

The 1,200 requests / 5 min budget belongs to the token, and going over blocks it for 5 minutes.
Under Dagster's multiprocess executor the KV and D1 steps run in separate processes, so an
in-process pacer each would together spend twice the budget. ``FilePacer`` keeps the next free
slot in a small file under ``$CHITTY_HOME`` guarded by ``flock``: every process on the machine
that uses the same account and base URL draws from one schedule.

With the PostgreSQL warehouse (``CHITTY_WAREHOUSE_URL``) the schedule lives in its
``ops.api_pacing`` table instead (``PgPacer``, under an advisory lock): workers on other machines
draw from the same budget, and nothing is kept on local disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
import time
from pathlib import Path

from chitty_pipelines import config
from chitty_pipelines.kernel.retry import Pacer
from chitty_pipelines.warehouse.opstore_pg import PgPacer

_MAX_AHEAD_S = 120.0  # a slot further ahead than this is stale (clock jump, crashed writer)
_local: dict[tuple[str, str, float], Pacer] = {}
_local_lock = threading.Lock()


class FilePacer:
    """Spaces calls at least ``1/rate`` seconds apart across threads and processes."""

    def __init__(self, rate_per_s: float, path: Path):
        self.interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self.path = path
        self._lock = threading.Lock()
        if self.interval:
            path.parent.mkdir(parents=True, exist_ok=True)

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock, open(self.path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(0)
                raw = fh.read().strip()
                now = time.time()
                try:
                    slot = float(raw) if raw else 0.0
                except ValueError:
                    slot = 0.0
                if slot - now > _MAX_AHEAD_S:
                    slot = 0.0
                start = max(now, slot)
                fh.seek(0)
                fh.truncate()
                fh.write(repr(start + self.interval).encode())
                fh.flush()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        if start > now:
            time.sleep(start - now)


def pacer_for(
    base_url: str, account_id: str, rate_per_s: float, state_dir: Path | None
) -> Pacer | FilePacer | PgPacer:
    """The pacer for this account and API: shared through the PostgreSQL warehouse when there is
    one, machine-wide through a file when a state folder is given, else one shared by the threads
    of this process."""
    digest = hashlib.sha1(f"{base_url}\x1f{account_id}".encode()).hexdigest()[:16]
    url = config.env("CHITTY_WAREHOUSE_URL")
    if url and state_dir is not None:
        return PgPacer(rate_per_s, url, f"cloudflare-api-{digest}")
    if state_dir is not None:
        return FilePacer(rate_per_s, state_dir / f"cloudflare-api-{digest}.pace")
    with _local_lock:
        key = (base_url, account_id, rate_per_s)
        if key not in _local:
            _local[key] = Pacer(rate_per_s)
        return _local[key]
