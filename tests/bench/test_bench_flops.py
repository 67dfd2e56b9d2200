"""benchmarks/bench_flops.py's FLOP count: against a hand count, and against torch's count of the matmuls the
bf16 kernel's training step runs (no timing)."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.bench_flops import step_flops
from seqtool.models.config import ModelConfig
from seqtool.models.lm import LanguageModel


def test_lstm_one_hot_two_layers_by_hand():
    # T B = 4 x 2 = 8 rows, 4 gates x H 3 = 12 columns; one-hot input of width V 5.
    f = step_flops("lstm", vocab=5, embed_dim=0, hidden=3, layers=2, batch=2, bptt=4)
    assert f["forward"] == {"input_projection": 2 * 8 * 5 * 12 + 2 * 8 * 3 * 12,  # 960 + 576
                            "recurrent": 2 * (2 * 8 * 3 * 12),  # 1152
                            "decoder": 2 * 8 * 3 * 5}  # 240
    assert f["train"]["recurrent"] == 3 * 1152 and f["train_total"] == 3 * 2928 and f["tokens"] == 8


def test_gru_with_an_embedding_by_hand():
    f = step_flops("gru", vocab=7, embed_dim=4, hidden=2, layers=1, batch=1, bptt=3)  # 3 rows, 3 gates x 2
    assert f["forward"] == {"input_projection": 2 * 3 * 4 * 6, "recurrent": 2 * 3 * 2 * 6, "decoder": 2 * 3 * 2 * 7}
    assert f["train_total"] == 3 * (144 + 72 + 84)


@pytest.mark.parametrize("cell, embed_dim", [("lstm", 0), ("gru", 4), ("rnn", 0)])
def test_count_matches_the_matmuls_the_bf16_kernel_runs(cell, embed_dim):
    """torch's FlopCounterMode over a real step: the count, less the first layer's input gradient for one-hot
    inputs (nothing below them to train; an embedding needs it)."""
    V, H, L, B, T = 9, 5, 2, 3, 6
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=V, cell=cell, hidden=H, layers=L, embed_dim=embed_dim, tie_weights=False).validate())
    model.use_bf16_matmuls(True)
    ids = torch.randint(1, V, (T + 1, B))
    with FlopCounterMode(display=False) as counter:
        loss, _ = model.loss(ids[:-1], ids[1:])
        loss.backward()
    f = step_flops(cell, V, embed_dim, H, L, B, T)
    first_dx = 2 * T * B * V * {"lstm": 4, "gru": 3, "rnn": 1}[cell] * H if embed_dim == 0 else 0
    assert counter.get_total_flops() == f["train_total"] - first_dx
