"""Teacher-forced windows for truncated BPTT: layout, targets, and the too-small corpus error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seqtool.data import batchify, get_window, load_ids, n_windows, tokens_needed
from seqtool.errors import ConfigError


def test_batchify_lays_contiguous_slices_out_as_columns():
    data = batchify(np.arange(10), 3)  # 9 tokens used: columns [0..2], [3..5], [6..8]
    assert data.shape == (3, 3) and len(data) == 3
    rows = data.rows(0, 3)
    assert rows[:, 0].tolist() == [0, 1, 2] and rows[:, 2].tolist() == [6, 7, 8]


def test_windows_are_inputs_and_targets_shifted_by_one():
    data = batchify(np.arange(40), 2)  # (20, 2)
    assert n_windows(data, 8) == 3  # 19 usable steps: 8 + 8 + 3
    x, y = get_window(data, 0, 8)
    assert x.dtype == torch.int64 and x.shape == (8, 2)
    torch.testing.assert_close(y, x + 1)
    x, y = get_window(data, 2, 8)
    assert x.shape == (3, 2) and y[-1].tolist() == [19, 39]


def test_consecutive_windows_continue_each_column():
    data = batchify(np.arange(40), 2)
    x0, _ = get_window(data, 0, 8)
    x1, _ = get_window(data, 1, 8)
    assert (x1[0] == x0[-1] + 1).all()  # so carrying the hidden state across windows is right


def test_too_few_tokens():
    assert tokens_needed(4, 10) == 44
    with pytest.raises(ConfigError, match="--batch-size 8"):
        batchify(np.arange(10), 8)


def test_a_process_reads_only_its_columns_through_the_memory_map(tmp_path):
    """Data bigger than RAM: the ids stay on disk, a view of the memory map, and a process's columns are a view of its
    slice of the file alone; a window is read when it is taken."""
    np.save(tmp_path / "train.npy", np.arange(1000, dtype=np.uint16))
    ids = load_ids(tmp_path / "train.npy")
    data = batchify(ids, 4, columns=(2, 4))  # 250 steps: columns 2 and 3 are ids[500:1000]
    assert data.shape == (250, 2)
    assert np.shares_memory(data.cols, ids[500:]) and not np.shares_memory(data.cols, ids[:500])  # no copy, no other columns
    x, y = get_window(data, 1, 8)
    assert x.dtype == torch.int64 and x[:, 0].tolist() == list(range(508, 516)) and y[:, 1].tolist() == list(range(759, 767))


def test_the_largest_id_of_a_process_is_read_from_its_columns_only(tmp_path):
    ids = np.arange(1000, dtype=np.uint16)
    ids[10] = 60_000  # in column 0 only
    np.save(tmp_path / "train.npy", ids)
    mapped = load_ids(tmp_path / "train.npy")
    assert batchify(mapped, 4, columns=(0, 2)).largest_id(chunk=64) == 60_000
    assert batchify(mapped, 4, columns=(2, 4)).largest_id(chunk=64) == 999  # read from the file in chunks of 64 ids
    assert batchify(ids, 4, columns=(1, 4)).largest_id(chunk=7) == 999  # an array in memory
