"""ab_bidir_dense's dense fused call computes the two-stack model exactly on equal-length batches, so its A/B
compares two ways of running the same model (outputs and every gradient; lstm, gru, rnn; 1 and 2 layers)."""
from __future__ import annotations

import pytest
import torch

from benchmarks.ab_bidir_dense import dense_encode
from seqtool.models.config import ModelConfig
from seqtool.models.heads import SequenceClassifier


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 2])
def test_dense_fused_call_equals_the_two_stacks_on_equal_lengths(cell, layers):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=30, cell=cell, hidden=6, layers=layers, embed_dim=5)
    model = SequenceClassifier(cfg, 3, pool="max", bidirectional=True).eval()  # eval: no dropout to draw
    ids, lengths = torch.randint(1, 30, (7, 4)), torch.full((4,), 7)
    results = []
    for encode in (model.encode, lambda *a: dense_encode(model, *a)):
        model.zero_grad()
        h = encode(ids, lengths)  # (L, B, 2H)
        (h.pow(2).sum() + h.amax(0).sum()).backward()
        results.append((h.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (h_two, g_two), (h_dense, g_dense) = results
    torch.testing.assert_close(h_dense, h_two, atol=1e-5, rtol=1e-5)
    assert g_dense.keys() == g_two.keys() and any(n.startswith("rnn_bwd") for n in g_two)
    for name in g_two:
        torch.testing.assert_close(g_dense[name], g_two[name], atol=1e-5, rtol=1e-5, msg=name)
