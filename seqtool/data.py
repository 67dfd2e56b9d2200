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

import mmap
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


class Columns:
    """A 1-D id stream laid out as (steps, batch) columns without copying it: column b is the b-th contiguous
    slice of the stream, and rows are read (and widened to int64) only when a window is taken. A memory-mapped
    stream (``load_ids``) stays on disk, so a corpus bigger than RAM trains; a process of a distributed run
    keeps only its columns, a view of its own slice of the file."""

    def __init__(self, ids: np.ndarray, steps: int, columns: tuple[int, int], device: torch.device | str):
        lo, hi = columns
        self.ids, self.first, self.device = ids, lo * steps, torch.device(device)
        self.cols = ids[lo * steps : hi * steps].reshape(hi - lo, steps)  # (B', S): a view
        self.shape = (steps, hi - lo)

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, start: int, stop: int) -> torch.Tensor:
        """Rows [start, stop) of every column: (T, B') int64 on the device."""
        block = np.ascontiguousarray(self.cols[:, start:stop].T, dtype=np.int64)  # reads T x B' ids, nothing more
        return torch.from_numpy(block).to(self.device)

    def largest_id(self, chunk: int = 1 << 22) -> int:
        """The largest id of these columns, read in chunks; from a memory map's file with plain reads, so its pages
        do not stay in this process's resident memory."""
        n, dtype = self.cols.size, self.cols.dtype
        if isinstance(self.ids, np.memmap) and self.ids.filename and isinstance(self.ids.base, mmap.mmap):  # the file's own map
            with open(self.ids.filename, "rb") as f:
                f.seek(self.ids.offset + self.first * dtype.itemsize)
                return max(int(np.fromfile(f, dtype, min(chunk, n - a)).max()) for a in range(0, n, chunk))  # a chunk at a time
        flat = self.ids[self.first : self.first + n]
        return max(int(flat[a : a + chunk].max()) for a in range(0, n, chunk))


def batchify(ids: np.ndarray, batch_size: int, device: torch.device | str = "cpu", columns: tuple[int, int] | None = None) -> Columns:
    """Lay a 1-D stream out as (steps, batch_size) ``Columns``, dropping the remainder that does not fit;
    ``columns`` = (lo, hi) keeps only columns lo..hi-1 (one process's share of a distributed run)."""
    steps = len(ids) // batch_size
    if steps < 2:
        raise ConfigError(
            f"{len(ids)} tokens are too few for --batch-size {batch_size}; need at least {2 * batch_size}"
        )
    return Columns(ids if isinstance(ids, np.ndarray) else np.asarray(ids), steps, columns or (0, batch_size), device)


def n_windows(data: Columns, bptt: int) -> int:
    """Windows in one pass over batchified ``data`` (the last may be shorter than bptt)."""
    return (len(data) - 1 + bptt - 1) // bptt


def get_window(data: Columns, i: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Window ``i``: inputs (T, B) = rows [i*bptt, i*bptt+T), targets = the next row of each (T, B)."""
    start = i * bptt
    t = min(bptt, len(data) - 1 - start)
    rows = data.rows(start, start + t + 1)  # (T + 1, B)
    return rows[:-1], rows[1:]  # the true tokens (teacher forcing), and the same stream shifted by one
