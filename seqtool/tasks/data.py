"""From read corpora to batches: vocabularies, ids, a stratified validation split, and
length-bucketed padded batches.

Sentences differ in length; padding every batch to its longest member wastes the recurrence's
time on pad tokens. ``bucket_batches`` sorts indices by length inside pools of ``pool`` batches
(randomly drawn each epoch), cuts batches from each sorted pool, and shuffles the batches: each
batch holds sentences of similar length, and the order of examples still changes every epoch.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from seqtool.errors import CorpusError
from seqtool.text.vocab import Vocabulary

OOV = "<unk>"


def label_set(labels: Sequence[str]) -> list[str]:
    """The label vocabulary: numeric labels in numeric order ('2' before '10'), others sorted."""
    uniq = set(labels)
    if all(lab.lstrip("-").isdigit() for lab in uniq):
        return sorted(uniq, key=int)
    return sorted(uniq)


def check_classes(labels: Sequence[str], source: str) -> None:
    if len(set(labels)) < 2:
        only = next(iter(set(labels)), "none")
        raise CorpusError(f"{source}: every example has the label {only!r}; a classifier needs at least two classes")


def token_vocab(sentences: Sequence[Sequence[str]], lower: bool = False, min_freq: int = 1, num_words: int | None = None) -> Vocabulary:
    """Word vocabulary of tokenized sentences, with an OOV token for words training never saw."""
    counts: Counter = Counter()
    for sent in sentences:
        counts.update([t.lower() for t in sent] if lower else sent)
    return Vocabulary.build(counts, specials=[("oov", OOV)], num_words=num_words, min_freq=min_freq)


def encode_tokens(vocab: Vocabulary, tokens: Sequence[str], lower: bool = False) -> np.ndarray:
    get, oov = vocab.index.get, vocab.oov_id
    return np.fromiter((get(t.lower() if lower else t, oov) for t in tokens), dtype=np.int64, count=len(tokens))


def stratified_split(labels: Sequence[str], fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): about ``fraction`` of every class held out, at least one
    example of each class that has two or more, so validation sees every class training sees."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_class.setdefault(lab, []).append(i)
    train, val = [], []
    for lab in sorted(by_class):
        idx = np.array(by_class[lab])
        rng.shuffle(idx)
        k = int(round(fraction * len(idx)))
        k = min(max(k, 1 if len(idx) > 1 else 0), len(idx) - 1)
        val.extend(idx[:k].tolist())
        train.extend(idx[k:].tolist())
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(val, dtype=np.int64))


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """'Balanced' weights n / (C * n_c): each class contributes equally to the loss."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return np.where(counts > 0, len(labels) / (num_classes * np.maximum(counts, 1)), 0.0)


def bucket_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator | None = None, pool: int = 50) -> list[np.ndarray]:
    """Index batches of similar lengths; every index once. ``rng=None``: no shuffling (evaluation order)."""
    order = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    lengths = np.asarray(lengths)
    batches = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    if rng is not None:
        rng.shuffle(batches)
    return batches


def pad_batch(seqs: Sequence[np.ndarray], idx: np.ndarray, pad: int = 0):
    """ids (L, B) padded with ``pad`` after each sequence, and lengths (B,), as torch tensors."""
    import torch

    lens = np.array([len(seqs[i]) for i in idx], dtype=np.int64)
    out = np.full((int(lens.max()), len(idx)), pad, dtype=np.int64)
    for col, i in enumerate(idx):
        out[: lens[col], col] = seqs[i]
    return torch.from_numpy(out), torch.from_numpy(lens)
