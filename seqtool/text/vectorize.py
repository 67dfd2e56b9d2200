"""Document vectors and padded sequences: the lecture's one-hot section, with Keras semantics.

``texts_to_matrix`` follows Keras ``Tokenizer.sequences_to_matrix`` (binary = multi-hot, count,
freq, tfidf), ``pad_sequences`` follows Keras ``pad_sequences``, and ``one_hot_sequences`` turns
padded ids into one-hot vectors. Memory is estimated before anything big is allocated.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from seqtool.errors import UsageError

MATRIX_MODES = ("binary", "count", "freq", "tfidf")


def document_frequencies(sequences: Sequence[Sequence[int]], dim: int) -> np.ndarray:
    """For each id, the number of documents (sequences) it occurs in."""
    df = np.zeros(dim, dtype=np.int64)
    for seq in sequences:
        df[np.unique(np.asarray(seq, dtype=np.int64))] += 1
    return df


def texts_to_matrix(
    sequences: Sequence[Sequence[int]],
    dim: int,
    mode: str = "binary",
    doc_freq: np.ndarray | None = None,
    n_docs: int | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """One row per sequence, one column per id (column 0, padding, stays zero).

    binary: 1 where the id occurs (``vectorize_sequences([[3, 5]], 10000)`` in the lecture);
    count: occurrences; freq: occurrences / sequence length; tfidf: (1 + log count) *
    log(1 + n_docs / (1 + doc_freq)), with document frequencies from the training documents.
    """
    if mode not in MATRIX_MODES:
        raise UsageError(f"--matrix {mode}: choose one of {', '.join(MATRIX_MODES)}")
    if mode == "tfidf" and (doc_freq is None or n_docs is None):
        raise ValueError("tfidf needs doc_freq and n_docs from the training documents")
    x = out if out is not None else np.zeros((len(sequences), dim), dtype=np.float32)
    for i, seq in enumerate(sequences):
        seq = np.asarray(seq, dtype=np.int64)
        seq = seq[(seq > 0) & (seq < dim)]
        if len(seq) == 0:
            continue
        ids, counts = np.unique(seq, return_counts=True)
        if mode == "binary":
            x[i, ids] = 1.0
        elif mode == "count":
            x[i, ids] = counts
        elif mode == "freq":
            x[i, ids] = counts / len(seq)
        else:
            tf = 1.0 + np.log(counts)
            idf = np.log(1.0 + n_docs / (1.0 + doc_freq[ids]))
            x[i, ids] = tf * idf
    return x


def pad_sequences(
    sequences: Sequence[Sequence[int]],
    maxlen: int | None = None,
    padding: str = "pre",
    truncating: str = "pre",
    value: int = 0,
    dtype=np.int64,
) -> np.ndarray:
    """Keras ``pad_sequences``: pad (and cut) every sequence to ``maxlen`` (default: the longest)."""
    for name, v in (("--padding", padding), ("--truncating", truncating)):
        if v not in ("pre", "post"):
            raise UsageError(f"{name} {v}: choose pre or post")
    if maxlen is None:
        maxlen = max((len(s) for s in sequences), default=0)
    if maxlen < 1:
        raise UsageError(f"--pad-to {maxlen}: must be at least 1")
    x = np.full((len(sequences), maxlen), value, dtype=dtype)
    for i, seq in enumerate(sequences):
        s = list(seq)
        if not s:
            continue
        s = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            x[i, : len(s)] = s
        else:
            x[i, maxlen - len(s) :] = s
    return x


def one_hot_bytes(n_sequences: int, length: int, dim: int) -> int:
    """Bytes a (n_sequences, length, dim) uint8 one-hot array takes."""
    return n_sequences * length * dim


def one_hot_sequences(padded: np.ndarray, dim: int) -> np.ndarray:
    """(N, L) ids to (N, L, dim) uint8 one-hot vectors; padding (id 0) stays all zeros."""
    x = np.zeros(padded.shape + (dim,), dtype=np.uint8)
    n, l = np.nonzero(padded > 0)
    x[n, l, padded[n, l]] = 1
    return x


def parse_bytes(s: str) -> int:
    """'2G', '512M', '1.5GiB', '1000' -> bytes."""
    t = s.strip().upper().replace("IB", "").rstrip("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    try:
        if t and t[-1] in mult:
            return int(float(t[:-1]) * mult[t[-1]])
        return int(float(t))
    except (ValueError, OverflowError):  # OverflowError: an infinite size (1e999)
        raise UsageError(f"--max-memory {s}: give a size such as 2G or 512M") from None


