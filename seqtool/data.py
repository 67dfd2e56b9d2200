"""Token ids -> teacher-forced (input, target) windows for truncated back-propagation through time.

The corpus is one long stream of ids laid out as ``batch_size`` parallel columns (``batchify``);
training walks down the columns in windows of ``bptt`` steps. Inputs are the true tokens and
targets are the same stream shifted by one: teacher forcing (lecture, "Teacher Forcing": the
correct previous output is fed as the next input, so every step is trained from the truth).
Because column b of window k+1 continues column b of window k, the hidden state can be carried
from one window to the next and only the gradient is cut (truncated BPTT; Williams & Peng 1990,
as in pytorch/examples word_language_model).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seqtool.errors import ConfigError, CorpusError


def load_ids(path: Path) -> np.ndarray:
    """A 1-D id array written by ``seqtool tokenize`` (memory-mapped, not copied)."""
    try:
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":  # else numpy reads it as a pickle and suggests loading it unsafely
                raise CorpusError(f"{path}: not a .npy file of token ids (no numpy header); re-run seqtool tokenize")
        a = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise CorpusError(f"{path}: cannot read token ids ({e}); re-run seqtool tokenize") from None
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise CorpusError(f"{path}: not a 1-D array of token ids; re-run seqtool tokenize")
    return a


def tokens_needed(batch_size: int, bptt: int) -> int:
    """The fewest tokens that give one full training window: batch_size columns of bptt + 1."""
    return batch_size * (bptt + 1)


def batchify(ids: np.ndarray, batch_size: int, device: torch.device | str = "cpu", columns: tuple[int, int] | None = None) -> torch.Tensor:
    """Lay a 1-D stream out as (steps, batch_size) columns, dropping the remainder that does not fit.

    Column b holds the b-th contiguous slice of the corpus. Stored as int32 (the stream may be
    large); windows are widened to int64 when they are taken. ``columns`` = (lo, hi) keeps only
    columns lo..hi-1 (one process's share of a distributed run), reading only their slice of ``ids``
    (a memory map stays on disk elsewhere).
    """
    steps = len(ids) // batch_size
    if steps < 2:
        raise ConfigError(
            f"{len(ids)} tokens are too few for --batch-size {batch_size}; need at least {2 * batch_size}"
        )
    lo, hi = columns or (0, batch_size)
    cols = np.asarray(ids[lo * steps : hi * steps], dtype=np.int32).reshape(hi - lo, steps)  # (B, S)
    return torch.from_numpy(np.ascontiguousarray(cols.T)).to(device)  # (S, B)


def n_windows(data: torch.Tensor, bptt: int) -> int:
    """Windows in one pass over batchified ``data`` (the last may be shorter than bptt)."""
    return (len(data) - 1 + bptt - 1) // bptt


def get_window(data: torch.Tensor, i: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Window ``i``: inputs (T, B) = rows [i*bptt, i*bptt+T), targets = the next row of each (T, B)."""
    start = i * bptt
    t = min(bptt, len(data) - 1 - start)
    x = data[start : start + t].long()  # (T, B) true tokens: teacher forcing
    y = data[start + 1 : start + 1 + t].long()  # (T, B) the same stream shifted by one
    return x, y
