"""MiniLM vectors of the prototype examples, computed once and shipped (prototype_vectors.npz).

Fitting the default classifier encodes ~600 examples: ~6-9 s of CPU with MiniLM, paid by the first
sync on every machine and by every test that fits. The vectors depend only on the example texts,
the model and ``MAX_TOKENS``, so they are stored by text: a fit takes the stored vector of each
text it knows and encodes only the others (an edited example, a custom taxonomy's descriptions).
The store records the model's sha256 and ``MAX_TOKENS``: with another model or length it is not
used. Regenerate after editing prototypes.yaml or the taxonomies (tests/topics fail until then):

    .venv/bin/python -m chitty_pipelines.topics.classifiers.example_vectors
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from chitty_pipelines.topics.classifiers import sentence_embed as se

STORE = "prototype_vectors.npz"


def store_path() -> Path:
    return Path(str(resources.files("chitty_pipelines.topics") / STORE))


def _fingerprint() -> str:
    return f"{se.SHA256[se.WEIGHTS]}:{se.MAX_TOKENS}"


@lru_cache(maxsize=1)
def stored() -> dict[str, np.ndarray]:
    """Text -> unit vector (float32), or nothing when the store is missing or for another model."""
    path = store_path()
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        if str(data["fingerprint"]) != _fingerprint():
            return {}
        vectors = data["vectors"].astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # stored as float16
        return dict(zip((str(t) for t in data["texts"]), vectors, strict=True))


def encode(texts: Sequence[str], load: Callable[[], se.SentenceEncoder]) -> np.ndarray:
    """Vectors of ``texts``: stored ones where known, the rest encoded (``load()`` gives the
    encoder, called only when something is missing)."""
    known = stored()
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    fresh = dict(zip(missing, load().encode(missing), strict=True)) if missing else {}
    out = np.zeros((len(texts), se.DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i] = fresh[text] if text in fresh else known[text]
    return out


def texts_to_store() -> list[str]:
    """Every example of the default and the seeded taxonomy."""
    from chitty_pipelines.topics.prototypes import prototype_examples
    from chitty_pipelines.topics.taxonomy import load_taxonomy

    seeded = Path(str(resources.files("chitty_pipelines.topics") / "taxonomy_seeded.yaml"))
    texts: dict[str, None] = {}
    for taxonomy in (load_taxonomy(None), load_taxonomy(seeded)):
        texts.update(dict.fromkeys(e.text for e in prototype_examples(taxonomy)))
    return list(texts)


def write_store(path: Path | None = None) -> Path:
    path = path or store_path()
    texts = texts_to_store()
    vectors = se.minilm_encoder().encode(texts)
    np.savez_compressed(
        path, texts=np.array(texts), vectors=vectors.astype(np.float16), fingerprint=np.array(_fingerprint())
    )
    stored.cache_clear()
    return path


if __name__ == "__main__":
    written = write_store()
    print(f"wrote {written} ({written.stat().st_size // 1024} KB)")
