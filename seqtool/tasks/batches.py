"""A labelled dataset as the trainer sees it: encoded examples, an epoch of bucketed batches in a
seeded order, and a position that a checkpoint can save and restore exactly.

``TaskData`` holds token ids per example and its target: one class id (classify) or one tag id
per token (tag). ``EpochBatches`` walks it batch by batch; epoch e's order depends only on
(seed, e), so resuming at (epoch, index) replays exactly the batches an uninterrupted run sees.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqtool.tasks.data import bucket_batches, pad_batch


@dataclass
class TaskData:
    seqs: list[np.ndarray]  # token ids of each example
    targets: list  # classify: class ids (ints); tag: one array of tag ids per example
    kind: str  # "classify" or "tag"

    def __post_init__(self) -> None:
        if len(self.seqs) != len(self.targets):
            raise ValueError(f"{len(self.seqs)} examples but {len(self.targets)} targets")
        if any(len(s) == 0 for s in self.seqs):
            raise ValueError("every example needs at least one token")
        self.lengths = np.array([len(s) for s in self.seqs], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.seqs)

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())

    def batch(self, idx: np.ndarray):
        """(ids (L, B), lengths (B,), targets): targets (B,) for classify, (L, B) padded with 0 for tag."""
        import torch

        ids, lengths = pad_batch(self.seqs, idx)
        if self.kind == "classify":
            return ids, lengths, torch.tensor([self.targets[i] for i in idx], dtype=torch.long)
        tags, _ = pad_batch(self.targets, idx)
        return ids, lengths, tags

    def in_order(self, batch_size: int) -> list[np.ndarray]:
        """Batches for evaluation: bucketed by length, no shuffling."""
        return bucket_batches(self.lengths, batch_size)


class EpochBatches:
    """Training batches, epoch after epoch; ``epoch`` and ``index`` say where the next one comes from."""

    def __init__(self, data: TaskData, batch_size: int, seed: int):
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.epoch, self.index = 0, 0
        self._order: list[np.ndarray] | None = None

    def _plan(self) -> list[np.ndarray]:
        if self._order is None:
            self._order = bucket_batches(self.data.lengths, self.batch_size, np.random.default_rng([self.seed, self.epoch]))
        return self._order

    @property
    def per_epoch(self) -> int:
        return len(self._plan())

    def next(self):
        """The next batch (ids, lengths, targets), then the position moves on (to the next epoch at the end)."""
        return self.data.batch(self.next_indices())

    def next_indices(self) -> np.ndarray:
        """The examples of the next batch, then the position moves on (to the next epoch at the end)."""
        plan = self._plan()
        out = plan[self.index]
        self.index += 1
        if self.index >= len(plan):
            self.epoch, self.index, self._order = self.epoch + 1, 0, None
        return out

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, d: dict) -> None:
        if int(d["epoch"]) != self.epoch:  # an epoch's order depends only on (seed, epoch): keep it within the epoch
            self._order = None
        self.epoch, self.index = int(d["epoch"]), int(d["index"])
