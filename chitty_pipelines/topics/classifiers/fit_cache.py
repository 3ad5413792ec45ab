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

import hashlib
import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
FORMAT = 1  # bump when the cached objects change shape in a way the digests cannot see
KEEP = 4  # newest files kept: a user switching between two taxonomies or label sets reuses both
_LIBRARIES = ("scikit-learn", "numpy", "scipy", "wordllama", "tokenizers")


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
    now and stored there. ``folder=None`` fits without the disk."""
    if folder is None:
        return fit()
    path = cache_path(folder, kind, key)
    try:
        with path.open("rb") as fh:
            obj = pickle.load(fh)
        os.utime(path)  # pruning keeps the files in use, newest first
        return obj
    except FileNotFoundError:
        pass
    except Exception as exc:  # a truncated or foreign file: fit again and replace it
        log.warning("topic classifier cache %s is unreadable (%s): fitting again", path, type(exc).__name__)
    obj = fit()
    _store(folder, path, obj)
    return obj


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
