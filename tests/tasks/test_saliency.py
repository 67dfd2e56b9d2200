"""seqtool.tasks.saliency: input gradients of classifiers and taggers against brute force (autograd Jacobians of
one example alone, a finite difference), and the lecture's argument as behaviour: with last pooling a tanh RNN's
decision forgets the beginning of a long input; mean and attention pooling and a backward layer do not."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian

from seqtool.gradients import GradOptions
from seqtool.models import ModelConfig
from seqtool.models.heads import SequenceClassifier, SequenceTagger
from seqtool.tasks.batches import TaskData
from seqtool.tasks.saliency import classifier_flow, classifier_gradients, explain, tagger_flow, tagger_gradients

V = 13


def _cfg(cell="gru", **kw):
    return ModelConfig(vocab_size=V, cell=cell, hidden=6, embed_dim=5, layers=1, **kw)


def _data(lengths, kind="classify", seed=0):
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(1, V, size=n).astype(np.int64) for n in lengths]
    targets = [0] * len(seqs) if kind == "classify" else [np.zeros(n, dtype=np.int64) for n in lengths]
    return TaskData(seqs, targets, kind)


def _classifier(pool, bidirectional, cell="gru", seed=0):
    torch.manual_seed(seed)
    return SequenceClassifier(_cfg(cell), 3, pool, bidirectional).double().eval()


def test_given_input_vectors_give_the_model_own_outputs():
    data = _data([7, 3, 5])
    ids, lengths, *_ = data.batch(np.arange(3))
    for model in (_classifier("attention", True), SequenceTagger(_cfg(), 4, bidirectional=True).double().eval()):
        torch.testing.assert_close(model(ids, lengths, x=model.inputs(ids)), model(ids, lengths), rtol=0, atol=0)


@pytest.mark.parametrize("pool, bidirectional", [("last", True), ("mean", False), ("max", True), ("attention", True)])
def test_classifier_gradient_equals_the_jacobian_of_each_example_alone(pool, bidirectional):
    model = _classifier(pool, bidirectional)
    data = _data([7, 3, 5])
    ids, lengths, *_ = data.batch(np.arange(3))  # padded together
    logits, g, x = classifier_gradients(model, ids, lengths)
    for b, n in enumerate(lengths.tolist()):
        one = ids[:n, b : b + 1]
        c = int(logits[b].argmax())
        ref = jacobian(lambda v: model(one, torch.tensor([n]), x=v)[0, c], model.inputs(one))  # (n, 1, D)
        torch.testing.assert_close(g[:n, b], ref[:, 0], rtol=1e-10, atol=1e-12)
        assert torch.count_nonzero(g[n:, b]) == 0  # padding never reaches the decision


def test_gradient_x_input_sums_to_the_derivative_along_the_inputs():
    # sum_t g_t . x_t = d/de score((1 + e) x) at e = 0, and (1 + e) x is the embedding scaled by (1 + e):
    # a central difference through the model's own ids path, no gradient code involved
    model = _classifier("last", True)
    data = _data([9, 4])
    found = explain(model, data, "cpu", batch_size=2)
    weight = model.encoder.weight.detach().clone()
    h = 1e-6
    for i, e in enumerate(found):
        ids, lengths = torch.from_numpy(data.seqs[i]).view(-1, 1), torch.tensor([len(data.seqs[i])])
        score = []
        for eps in (h, -h):
            with torch.no_grad():
                model.encoder.weight.copy_(weight * (1 + eps))
                score.append(float(model(ids, lengths)[0, e.label]))
        with torch.no_grad():
            model.encoder.weight.copy_(weight)
        assert sum(e.grad_x_input) == pytest.approx((score[0] - score[1]) / (2 * h), rel=1e-6, abs=1e-9)
        assert len(e.ids) == len(e.grad_norm) == len(data.seqs[i]) and sum(e.probabilities) == pytest.approx(1.0)


def test_tagger_gradient_equals_the_jacobian_at_every_offset():
    torch.manual_seed(0)
    model = SequenceTagger(_cfg(), 4, bidirectional=True).double().eval()
    data = _data([6, 2], kind="tag")
    ids, lengths, *_ = data.batch(np.arange(2))
    R = 3
    norms, valid = tagger_gradients(model, ids, lengths, R)
    for b, n in enumerate(lengths.tolist()):
        one = ids[:n, b : b + 1]
        scores = model(one, torch.tensor([n]))[:, 0]  # (n, T)
        for t in range(n):
            tag = int(scores[t].argmax())
            ref = jacobian(lambda v: model(one, torch.tensor([n]), x=v)[t, 0, tag], model.inputs(one))[:, 0].norm(dim=-1)  # (n,)
            for k, d in enumerate(range(-R, R + 1)):
                assert bool(valid[t, b, k]) == (0 <= t + d < n)
                if 0 <= t + d < n:
                    assert float(norms[t, b, k]) == pytest.approx(float(ref[t + d]), rel=1e-9, abs=1e-14)
    assert not valid[2:, 1].any()  # past the second sentence's end


def _small_recurrence(model, scale=0.3):
    """A tanh RNN whose recurrent matrices have spectral norm ``scale``: every step shrinks the gradient."""
    with torch.no_grad():
        for rnn in (model.rnn, model.rnn_bwd):
            if rnn is not None:
                w = rnn.weight_hh_l0
                w.mul_(scale / torch.linalg.matrix_norm(w, ord=2))
    return model


def _flow(pool, bidirectional=False):
    model = _small_recurrence(_classifier(pool, bidirectional, cell="rnn"))
    opts = GradOptions(steps=50, windows=8, threshold=1e-3)
    return classifier_flow(model, _data([60, 70, 80, 64]), opts, pool, "init", "cpu")


def test_last_pooling_forgets_the_beginning_of_a_long_input():
    f = _flow("last")
    assert f.first_last_ratio < 1e-6  # each step multiplies by at most 0.3
    assert f.by_decile == sorted(f.by_decile)  # rising towards the end
    assert f.reach is not None and f.reach < 20
    assert all(b <= a for a, b in zip(f.by_distance, f.by_distance[1:]))
    assert f.examples == 4 and f.by_distance_count[0] == 4


@pytest.mark.parametrize("pool", ["mean", "attention"])
def test_pooling_every_position_does_not_decay(pool):
    f = _flow(pool)
    assert 0.5 < f.first_last_ratio < 3
    assert f.reach is None  # every distance measured stays above the threshold


def test_a_backward_layer_with_last_pooling_reads_the_beginning_last():
    f = _flow("last", bidirectional=True)
    assert f.by_decile[0] > 1 and f.by_decile[-1] > 1 and f.by_decile[4] < 0.1  # both ends remembered, the middle not


def test_tagger_context_a_forward_tagger_sees_no_right_context():
    opts = GradOptions(steps=4, windows=5, threshold=1e-3)
    data = _data([8, 6, 9], kind="tag")
    flows = {}
    for bi in (False, True):
        torch.manual_seed(0)
        flows[bi] = tagger_flow(SequenceTagger(_cfg(), 4, bidirectional=bi).double().eval(), data, opts, str(bi), "init", "cpu")
    fwd, both = flows[False], flows[True]
    assert fwd.offsets == list(range(-4, 5)) and fwd.by_offset[4] == 1.0 and fwd.tokens == 23
    assert fwd.by_offset[5:] == [0.0] * 4 and fwd.reach_right == 0
    assert all(v > 0 for v in fwd.by_offset[:4]) and fwd.reach_left is None
    assert all(v > 0 for v in both.by_offset) and both.reach_right is None
    assert fwd.by_offset_count[4] == 23 and fwd.by_offset_count[0] == fwd.by_offset_count[-1] == 23 - 3 * 4


def test_at_most_windows_examples_are_measured_a_seeded_choice():
    model = _classifier("mean", False)
    data = _data([5] * 10 + [9] * 10)
    a = classifier_flow(model, data, GradOptions(steps=5, windows=6, seed=1), "m", "init", "cpu")
    b = classifier_flow(model, data, GradOptions(steps=5, windows=6, seed=1), "m", "init", "cpu")
    assert a.examples == 6 and a == b


def test_tagger_with_character_features_takes_gradients_of_the_word_vectors_with_the_characters_held():
    from seqtool.models.charfeat import CharEncoder, char_alphabet, form_table

    sents = [["Abc", "de", "fgh", "ij"], ["kl", "Abc"]]
    alphabet = char_alphabet(w for s in sents for w in s)
    forms, form_ids = form_table(sents, alphabet)
    rng = np.random.default_rng(0)
    data = TaskData([rng.integers(1, V, size=len(s)).astype(np.int64) for s in sents], [np.zeros(len(s), dtype=np.int64) for s in sents], "tag", forms, form_ids)
    torch.manual_seed(0)
    model = SequenceTagger(_cfg(), 4, bidirectional=True, chars=CharEncoder("cnn", len(alphabet), 4, 3)).double().eval()
    b = data.batch(np.arange(2))
    norms, valid = tagger_gradients(model, b.ids, b.lengths, 2, b.chars)
    scores = model(b.ids, b.lengths, b.chars)
    tag = int(scores[1, 0].argmax())
    ref = jacobian(lambda v: model(b.ids, b.lengths, b.chars, x=v)[1, 0, tag], model.inputs(b.ids))[:, 0].norm(dim=-1)  # (L,)
    for k, d in enumerate(range(-2, 3)):
        if 0 <= 1 + d < 4:
            assert float(norms[1, 0, k]) == pytest.approx(float(ref[1 + d]), rel=1e-9, abs=1e-14)
    assert float(norms[1, 0, 2]) > 0 and float(norms[1, 0, 4]) > 0  # its own word and the one two to the right


def test_a_character_feature_tagger_measured_on_fewer_examples_than_it_has_keeps_the_characters():
    from seqtool.models.charfeat import CharEncoder, char_alphabet, form_table

    sents = [["Abc", "de", "fgh"], ["kl", "Abc"], ["de", "kl", "mn", "o"], ["fgh"]]
    alphabet = char_alphabet(w for s in sents for w in s)
    forms, form_ids = form_table(sents, alphabet)
    data = TaskData([np.arange(1, len(s) + 1, dtype=np.int64) for s in sents], [np.zeros(len(s), dtype=np.int64) for s in sents], "tag", forms, form_ids)
    torch.manual_seed(0)
    model = SequenceTagger(_cfg(), 4, bidirectional=True, chars=CharEncoder("cnn", len(alphabet), 4, 3)).double().eval()
    flow = tagger_flow(model, data, GradOptions(steps=2, windows=2, seed=0), "m", "init", "cpu")
    assert flow.examples == 2 and flow.by_offset[2] == 1.0
