"""A labelled dataset as the trainer sees it: encoded examples, an epoch of bucketed batches in a
seeded order, and a position that a checkpoint can save and restore exactly.

``TaskData`` holds token ids per example and its target: one class id (classify) or one tag id
per token (tag), and with character features each token's word form (seqtool/models/charfeat.py).
``EpochBatches`` walks it batch by batch; epoch e's order depends only on (seed, e), so resuming at
(epoch, index) replays exactly the batches an uninterrupted run sees. Its word dropout is seeded
by (seed, epoch, index) too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from seqtool.tasks.data import bucket_batches, pad_batch


class Batch(NamedTuple):
    ids: Any  # (L, B) token ids, padded with 0
    lengths: Any  # (B,)
    targets: Any  # classify (B,); tag (L, B) padded with 0
    chars: Any = None  # a CharBatch with character features, else None

    def to(self, device) -> "Batch":
        return Batch(*(t.to(device) for t in self[:3]), None if self.chars is None else self.chars.to(device))


@dataclass
class TaskData:
    seqs: list[np.ndarray]  # token ids of each example
    targets: list  # classify: class ids (ints); tag: one array of tag ids per example
    kind: str  # "classify" or "tag"
    forms: np.ndarray | None = None  # character features: (F, MAX_CHARS) char ids of each distinct word form
    form_ids: list[np.ndarray] | None = None  # ... and each token's row in it, aligned with seqs

    def __post_init__(self) -> None:
        if len(self.seqs) != len(self.targets):
            raise ValueError(f"{len(self.seqs)} examples but {len(self.targets)} targets")
        if self.form_ids is not None and [len(f) for f in self.form_ids] != [len(s) for s in self.seqs]:
            raise ValueError("form_ids must give one word form per token")
        if any(len(s) == 0 for s in self.seqs):
            raise ValueError("every example needs at least one token")
        self.lengths = np.array([len(s) for s in self.seqs], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.seqs)

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())

    def batch(self, idx: np.ndarray) -> Batch:
        """The Batch of examples ``idx``: targets (B,) for classify, (L, B) padded with 0 for tag."""
        import torch

        ids, lengths = pad_batch(self.seqs, idx)
        chars = None
        if self.forms is not None:
            from seqtool.models.charfeat import batch_chars

            chars = batch_chars(self.forms, self.form_ids, idx)
        if self.kind == "classify":
            return Batch(ids, lengths, torch.tensor([self.targets[i] for i in idx], dtype=torch.long), chars)
        tags, _ = pad_batch(self.targets, idx)
        return Batch(ids, lengths, tags, chars)

    def in_order(self, batch_size: int) -> list[np.ndarray]:
        """Batches for evaluation: bucketed by length, no shuffling."""
        return bucket_batches(self.lengths, batch_size)


class EpochBatches:
    """Training batches, epoch after epoch; ``epoch`` and ``index`` say where the next one comes from.

    ``word_dropout`` p: each token id becomes ``oov_id`` with probability p, so the model learns what
    to make of unknown words from their other features (the characters); uniform p, not the
    frequency-based alpha / (alpha + count) of Kiperwasser & Goldberg 2016.
    """

    def __init__(self, data: TaskData, batch_size: int, seed: int, word_dropout: float = 0.0, oov_id: int | None = None):
        if word_dropout > 0 and oov_id is None:
            raise ValueError("word dropout needs the vocabulary's OOV id")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.word_dropout, self.oov_id = word_dropout, oov_id
        self.epoch, self.index = 0, 0
        self._order: list[np.ndarray] | None = None

    def _plan(self) -> list[np.ndarray]:
        if self._order is None:
            self._order = bucket_batches(self.data.lengths, self.batch_size, np.random.default_rng([self.seed, self.epoch]))
        return self._order

    @property
    def per_epoch(self) -> int:
        return len(self._plan())

    def next(self) -> Batch:
        """The next Batch, then the position moves on (to the next epoch at the end)."""
        plan = self._plan()
        out = self.data.batch(plan[self.index])
        if self.word_dropout > 0:
            out = out._replace(ids=self._drop_words(out.ids, out.lengths))
        self.index += 1
        if self.index >= len(plan):
            self.epoch, self.index, self._order = self.epoch + 1, 0, None
        return out

    def _drop_words(self, ids, lengths):
        import torch

        rng = np.random.default_rng([self.seed, self.epoch, self.index, 1])  # the position decides: resume is exact
        drop = rng.random(tuple(ids.shape)) < self.word_dropout  # (L, B)
        drop &= np.arange(ids.shape[0])[:, None] < lengths.numpy()[None, :]  # padding stays padding
        return ids.masked_fill(torch.from_numpy(drop), self.oov_id)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, d: dict) -> None:
        if int(d["epoch"]) != self.epoch:  # an epoch's order depends only on (seed, epoch): keep it within the epoch
            self._order = None
        self.epoch, self.index = int(d["epoch"]), int(d["index"])
