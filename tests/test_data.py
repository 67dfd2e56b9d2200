"""Teacher-forced windows for truncated BPTT: layout, targets, and the too-small corpus error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seqtool.data import batchify, get_window, n_windows, tokens_needed
from seqtool.errors import ConfigError


def test_batchify_lays_contiguous_slices_out_as_columns():
    data = batchify(np.arange(10), 3)  # 9 tokens used: columns [0..2], [3..5], [6..8]
    assert data.shape == (3, 3)
    assert data[:, 0].tolist() == [0, 1, 2] and data[:, 2].tolist() == [6, 7, 8]


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
