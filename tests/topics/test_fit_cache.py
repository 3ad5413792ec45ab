"""The default classifier's fit kept on disk (topics/classifiers/fit_cache.py): a later command
loads it instead of fitting, classifies exactly as a fresh fit does, and never reads a fit made
for other inputs or a damaged file."""

from __future__ import annotations

import fcntl
import logging
import pickle
import threading
import time
from pathlib import Path

import pytest

from chitty_pipelines.topics.classifiers import Limits, fit_cache
from chitty_pipelines.topics.classifiers import prototype as proto
from chitty_pipelines.topics.prototypes import Example
from chitty_pipelines.topics.taxonomy import load_taxonomy

TEXTS = [
    "the login token expires and the refresh endpoint returns 401 for every user",
    "deploy the worker to production with wrangler and roll back if the health check fails",
    "write pytest fixtures for the sync job and make the flaky integration test deterministic",
    "",
]


def _topics(clf: proto.PrototypeClassifier) -> list[list[tuple[str, float]]]:
    return [[(t.topic_id, round(t.confidence, 9)) for t in row] for row in clf.classify(TEXTS)]


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch):
    """Each call is a new process as far as the in-memory cache goes; counts the real fits."""
    fits: list[int] = []
    real_fit = proto.PrototypeClassifier._fit

    def counting_fit(self: proto.PrototypeClassifier) -> None:
        fits.append(1)
        real_fit(self)

    monkeypatch.setattr(proto.PrototypeClassifier, "_fit", counting_fit)

    def build(cache_dir: Path | None, labels: tuple[Example, ...] = ()) -> proto.PrototypeClassifier:
        proto.cached.cache_clear()
        return proto.cached(load_taxonomy(None), Limits(), None, labels, cache_dir)

    yield build, fits
    proto.cached.cache_clear()


def test_a_later_command_loads_the_fit_and_classifies_the_same(tmp_path: Path, fresh) -> None:
    build, fits = fresh
    without_disk = _topics(build(None))
    first = build(tmp_path)
    assert len(fits) == 2 and len(list(tmp_path.glob("prototype-*.pkl"))) == 1
    second = build(tmp_path)
    assert len(fits) == 2, "the second command fitted again instead of loading"
    assert _topics(first) == _topics(second) == without_disk
    # the embedder's 34 MB matrix is not in the file; the loaded classifier has it back
    assert tmp_path.joinpath(next(tmp_path.glob("prototype-*.pkl")).name).stat().st_size < 10_000_000
    assert second.embedder is first.embedder


def test_labels_are_part_of_the_key_and_taught_classifiers_are_kept_too(tmp_path: Path, fresh) -> None:
    build, fits = fresh
    base = build(tmp_path)
    label = (Example(TEXTS[2], "testing", "label:s1"),)
    taught = base.with_labels(label)
    assert taught.labels and taught.cache_dir == tmp_path
    assert len(fits) == 2 and len(list(tmp_path.glob("prototype-*.pkl"))) == 2
    again = build(tmp_path, label)
    assert len(fits) == 2 and _topics(again) == _topics(taught)
    assert again.label == taught.label  # the label set is named the same way after loading


def test_a_damaged_file_is_fitted_again_and_replaced(tmp_path: Path, fresh, caplog) -> None:
    build, fits = fresh
    expected = _topics(build(tmp_path))
    (path,) = tmp_path.glob("prototype-*.pkl")
    path.write_bytes(path.read_bytes()[:1000])  # a write cut short by a full disk, say
    with caplog.at_level(logging.WARNING):
        clf = build(tmp_path)
    assert len(fits) == 2 and "unreadable" in caplog.text and _topics(clf) == expected
    assert pickle.loads(path.read_bytes()).categories == clf.categories  # whole again


def test_an_unwritable_folder_costs_only_the_speed(tmp_path: Path, fresh, caplog) -> None:
    build, fits = fresh
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING):
        clf = build(blocked / "topics")
    assert len(fits) == 1 and clf.classify(TEXTS[:1])[0]
    assert "not written" in caplog.text


def test_only_the_newest_fits_are_kept(tmp_path: Path, fresh) -> None:
    build, _ = fresh
    for i in range(6):
        build(tmp_path, (Example(f"{TEXTS[0]} {i}", "auth", f"label:s{i}"),))
    assert len(list(tmp_path.glob("prototype-*.pkl"))) == 4
    assert not list(tmp_path.glob(".tmp-*"))


def test_a_second_process_waits_for_the_fit_under_way_and_loads_it(tmp_path: Path, fresh) -> None:
    """One fit at a time per folder: a sync that needs the fit while another process is fitting it
    (here: this test, holding the lock) waits and loads the result instead of fitting again."""
    build, fits = fresh
    taxonomy = load_taxonomy(None)
    result: list[proto.PrototypeClassifier] = []
    with (tmp_path / ".fitting.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        waiter = threading.Thread(target=lambda: result.append(build(tmp_path)))
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive() and fits == [], "it fitted instead of waiting for the lock holder"
        theirs = proto.PrototypeClassifier(taxonomy, Limits())  # the other process's fit
        key = proto._key(taxonomy, Limits(), proto.PrototypeParams(), ())
        fit_cache._store(tmp_path, fit_cache.cache_path(tmp_path, "prototype", key), theirs)
        fcntl.flock(lock, fcntl.LOCK_UN)
    waiter.join(timeout=60)
    assert len(fits) == 1 and result and _topics(result[0]) == _topics(theirs)
