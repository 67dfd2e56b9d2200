"""The fused bidirectional path (one packed kernel call, seqtool/models/bidir.py) against the
reversed-pass path with the same weights: outputs and gradients for lstm/gru/rnn, 1 and 2 layers,
lengths down to 1, every pool, a tagger with and without a CRF and character features; padding
never changes a result; which path a model takes by default (fused on CUDA only; never with bf16
matmuls or another cell)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seqtool.models import ModelConfig
from seqtool.models.bidir import FUSED_CELLS, fused_pays, run_bidirectional
from seqtool.models.charfeat import CharEncoder, char_alphabet, form_table
from seqtool.models.heads import POOLS, SequenceClassifier, SequenceTagger, valid_mask
from seqtool.tasks.batches import TaskData

torch.set_num_threads(1)
LENGTHS = [4, 1, 6, 3]  # unsorted, with a length-1 sequence
TOL = dict(rtol=1e-5, atol=1e-5)


def _cfg(cell, layers):
    return ModelConfig(vocab_size=13, cell=cell, hidden=5, layers=layers, embed_dim=4, dropout=0.0)


def _batch(seed=0, pad=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(LENGTHS)
    ids = torch.randint(1, 13, (max(LENGTHS), len(LENGTHS)), generator=g)
    return ids.masked_fill(~valid_mask(lengths, ids.shape[0]), pad), lengths


def _pair(make):
    """The same model twice, weights copied: the reversed-pass path (old) and the fused one (new)."""
    torch.manual_seed(0)
    old = make()
    old.fuse_directions = False
    torch.manual_seed(1)
    new = make()
    new.load_state_dict(old.state_dict())
    new.fuse_directions = True  # the default takes it on CUDA only
    return old.eval(), new.eval()


def _outputs_and_grads(model, ids, lengths, chars=None):
    """The model's outputs at valid positions, and the gradients of a fixed random projection of them
    with respect to every parameter and to the word vectors (the saliency path)."""
    model.zero_grad()
    x = model.inputs(ids).detach().requires_grad_(True)
    out = model(ids, lengths, chars, x)
    if out.dim() == 3:  # a tagger's (L, B, T): padded positions are read by nobody
        out = out[valid_mask(lengths, out.shape[0])]
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(7))
    (out * weights).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out.detach(), grads, x.grad[valid_mask(lengths, ids.shape[0])]


def _assert_same(old, new, ids, lengths, chars=None):
    out_o, grads_o, dx_o = _outputs_and_grads(old, ids, lengths, chars)
    out_n, grads_n, dx_n = _outputs_and_grads(new, ids, lengths, chars)
    torch.testing.assert_close(out_n, out_o, **TOL)
    torch.testing.assert_close(dx_n, dx_o, **TOL)
    assert grads_n.keys() == grads_o.keys() and any("rnn_bwd" in n for n in grads_n)
    for name in grads_o:
        torch.testing.assert_close(grads_n[name], grads_o[name], **TOL, msg=name)


@pytest.mark.parametrize("cell", FUSED_CELLS)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("pool", POOLS)
def test_fused_classifier_equals_the_reversed_pass_outputs_and_gradients(cell, layers, pool):
    old, new = _pair(lambda: SequenceClassifier(_cfg(cell, layers), 3, pool, bidirectional=True))
    _assert_same(old, new, *_batch())


@pytest.mark.parametrize("cell", FUSED_CELLS)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("crf", [False, True])
def test_fused_tagger_equals_the_reversed_pass_outputs_gradients_and_paths(cell, layers, crf):
    old, new = _pair(lambda: SequenceTagger(_cfg(cell, layers), 4, bidirectional=True, crf=crf))
    ids, lengths = _batch()
    _assert_same(old, new, ids, lengths)
    tags = torch.randint(0, 4, ids.shape, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(new.loss(ids, lengths, tags), old.loss(ids, lengths, tags), **TOL)
    assert new.decode(ids, lengths) == old.decode(ids, lengths)


def test_fused_tagger_with_character_features_equals_the_reversed_pass():
    sents = [["Oh", "the", "cat"], ["x"], ["cats", "Catted", "ran", "far", "away"]]
    alphabet = char_alphabet(w for s in sents for w in s)
    forms, form_ids = form_table(sents, alphabet)
    seqs = [np.arange(1, len(s) + 1) for s in sents]
    data = TaskData(seqs, [np.zeros(len(s), dtype=np.int64) for s in sents], "tag", forms, form_ids)
    b = data.batch(np.arange(3))
    old, new = _pair(lambda: SequenceTagger(_cfg("lstm", 2), 4, bidirectional=True, chars=CharEncoder("lstm", len(alphabet), 3, 2)))
    _assert_same(old, new, b.ids, b.lengths, b.chars)


@pytest.mark.parametrize("cell", FUSED_CELLS)
@pytest.mark.parametrize("fuse", [True, False])
def test_padding_ids_never_change_a_result(cell, fuse):
    torch.manual_seed(0)
    models = [SequenceClassifier(_cfg(cell, 2), 3, pool, bidirectional=True).eval() for pool in POOLS]
    tagger = SequenceTagger(_cfg(cell, 2), 4, bidirectional=True).eval()
    for m in [*models, tagger]:
        m.fuse_directions = fuse
    (ids0, lengths), (ids9, _) = _batch(pad=0), _batch(pad=9)
    assert not torch.equal(ids0, ids9)
    mask = valid_mask(lengths, ids0.shape[0])
    with torch.no_grad():
        for m in models:
            torch.testing.assert_close(m(ids9, lengths), m(ids0, lengths), rtol=0, atol=0)
        torch.testing.assert_close(tagger(ids9, lengths)[mask], tagger(ids0, lengths)[mask], rtol=0, atol=0)


def test_the_kernel_returns_zeros_at_padding_and_the_stacks_own_halves():
    torch.manual_seed(0)
    fwd, bwd = torch.nn.GRU(3, 4, 2), torch.nn.GRU(3, 4, 2)
    x, lengths = torch.randn(5, 2, 3), torch.tensor([5, 2])
    h = run_bidirectional(fwd, bwd, x, lengths)  # (5, 2, 8)
    assert h.shape == (5, 2, 8) and torch.all(h[2:, 1] == 0)
    alone = x[:2, 1:2]
    torch.testing.assert_close(h[:2, 1, :4], fwd(alone)[0][:, 0], **TOL)
    torch.testing.assert_close(h[:2, 1, 4:], bwd(alone.flip(0))[0].flip(0)[:, 0], **TOL)


def test_the_fused_path_is_the_default_on_cuda_only_and_never_for_bf16_or_other_cells(monkeypatch):
    calls = []
    monkeypatch.setattr("seqtool.models.heads.run_bidirectional", lambda *a: calls.append(a) or run_bidirectional(*a))
    ids, lengths = _batch()
    torch.manual_seed(0)
    fused = SequenceClassifier(_cfg("lstm", 1), 3, "mean", bidirectional=True).eval()
    assert fused_pays(torch.device("cuda")) and not fused_pays(torch.device("cpu"))
    with torch.no_grad():
        fused(ids, lengths)
        assert not calls  # the CPU default: the reversed pass, which keeps oneDNN's LSTM
        fused.fuse_directions = True
        fp32 = fused(ids, lengths)
        assert len(calls) == 1
        fused.use_bf16_matmuls()
        bf16 = fused(ids, lengths)
        other = SequenceClassifier(_cfg("leaky", 1), 3, "mean", bidirectional=True).eval()
        other.fuse_directions = True
        other(ids, lengths)
    assert len(calls) == 1
    torch.testing.assert_close(bf16, fp32, rtol=0, atol=5e-2)
    assert not torch.equal(bf16, fp32)  # the bf16 kernel did run


def test_fused_equals_the_reversed_pass_in_training_mode_too():
    old, new = _pair(lambda: SequenceTagger(_cfg("lstm", 2), 4, bidirectional=True))
    old.train(), new.train()  # the kernel is told it trains; with dropout 0 nothing else changes
    _assert_same(old, new, *_batch())
