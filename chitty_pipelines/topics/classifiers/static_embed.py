"""Static word embeddings (WordLlama ``l2_supercat_256``): a text's vector is the mean of its
tokens' vectors, L2-normalised. numpy only: no torch, no model download, ~0.1 ms per session.

The weights (32,000 x 256, float16, 16 MB) and the tokenizer ship inside the ``wordllama`` wheel
(MIT, pinned by hash in pyproject.toml). We read the two files ourselves instead of calling
``WordLlama.load()``: its 0.4.0.post1 loader looks for the tokenizer under ``tokenizer/`` while the
wheel ships it under ``tokenizers/``, and would then try to download it from a model hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "l2_supercat_tokenizer_config.json"
# sha256 of the two files in wordllama 0.4.0.post1 (identical in its cp311-cp313 wheels): the
# figures in bench/results were measured with exactly these; another release must be re-measured.
SHA256 = {
    WEIGHTS: "64b47a2dc493cb8e85944076601189739852d7b64e0e1eedcb1937a251cd9fd5",
    TOKENIZER: "93248f2a9ec36c7b35f700a033d5f36228aae48db61aee31007fa49062cdeb68",
}
MAX_TOKENS = 512  # sessions are <= 2000 characters; longer pasted logs add little past this

INSTALL_HINT = (
    "the default topic classifier needs the 'wordllama' wheel (its embedding weights): run "
    "scripts/setup, or pip install 'wordllama==0.4.0.post1'; or set CHITTY_TOPIC_CLASSIFIER=tfidf"
)


class EmbeddingsUnavailable(RuntimeError):
    pass


def _package_dir() -> Path:
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingsUnavailable(INSTALL_HINT)
    return Path(next(iter(spec.submodule_search_locations)))


class StaticEmbedder:
    """Mean-pooled token embeddings; the same vectors as ``WordLlama.embed(texts, norm=True)``."""

    def __init__(self, weights: Path, tokenizer: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        # float32 once at load: float16 sums lose precision over hundreds of tokens.
        self.matrix = load_file(str(weights))["embedding.weight"].astype(np.float32)
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.dim = int(self.matrix.shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        vocab = self.matrix.shape[0]
        for i, enc in enumerate(self.tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            ids = np.asarray(enc.ids[:MAX_TOKENS], dtype=np.int64)
            ids = ids[(ids >= 0) & (ids < vocab)]
            if ids.size:
                out[i] = self.matrix[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


@lru_cache(maxsize=1)
def wordllama_embedder() -> StaticEmbedder:
    """The embedder from the installed wordllama wheel, loaded once per process (~0.3 s)."""
    root = _package_dir()
    weights = root / WEIGHTS
    # 0.4.0.post1 ships tokenizers/; later releases may fix the loader's tokenizer/ spelling.
    tokenizer = next(
        (p for p in (root / "tokenizers" / TOKENIZER, root / "tokenizer" / TOKENIZER) if p.exists()), None
    )
    if not weights.exists() or tokenizer is None:
        raise EmbeddingsUnavailable(f"wordllama at {root} lacks {WEIGHTS} or its tokenizer: {INSTALL_HINT}")
    for path, key in ((weights, WEIGHTS), (tokenizer, TOKENIZER)):
        if problem := pinned_mismatch(path, SHA256[key]):
            raise EmbeddingsUnavailable(f"{problem}: {INSTALL_HINT}")
    return StaticEmbedder(weights, tokenizer)


def pinned_mismatch(path: Path, want: str) -> str | None:
    """Why ``path`` is not the file whose sha256 was pinned, or None when it is (read streamed:
    the weights are tens of MB)."""
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return None if digest == want else f"{path} has sha256 {digest}, not the pinned {want}"
