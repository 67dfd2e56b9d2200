"""Classifier and tagger heads: a padded batch equals each sequence run alone (every cell, both
directions, every readout), the backward stack is the cell on the reversed sequence, and the
tagger's CRF path is the CRF's."""
from __future__ import annotations

import pytest
import torch

from seqtool.models import CELLS, ModelConfig
from seqtool.models.heads import POOLS, SequenceClassifier, SequenceTagger, reverse_within, valid_mask

torch.set_num_threads(1)
LENGTHS = [5, 3, 1]


def _batch(vocab=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (max(LENGTHS), len(LENGTHS)), generator=g)
    lengths = torch.tensor(LENGTHS)
    ids = ids.masked_fill(~valid_mask(lengths, ids.shape[0]), 0)  # padding id 0 after each sequence
    return ids, lengths


def _cfg(cell, **kw):
    return ModelConfig(vocab_size=11, cell=cell, hidden=6, layers=2, embed_dim=kw.pop("embed_dim", 5), dropout=0.0, **kw)


def test_reverse_within_keeps_padding_and_is_its_own_inverse():
    x = torch.arange(12).view(4, 3)  # (L, B)
    lengths = torch.tensor([4, 2, 1])
    r = reverse_within(x, lengths)
    assert r[:, 0].tolist() == [9, 6, 3, 0] and r[:, 1].tolist() == [4, 1, 7, 10] and r[:, 2].tolist() == [2, 5, 8, 11]
    assert torch.equal(reverse_within(r, lengths), x)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_batch_equals_each_sequence_alone(cell, bidirectional):
    torch.manual_seed(0)
    models = [SequenceClassifier(_cfg(cell), 3, pool, bidirectional).eval() for pool in POOLS]
    tagger = SequenceTagger(_cfg(cell), 4, bidirectional).eval()
    ids, lengths = _batch()
    with torch.no_grad():
        for m in [*models, tagger]:
            batch = m(ids, lengths)
            for b, n in enumerate(LENGTHS):
                alone = m(ids[:n, b : b + 1], lengths[b : b + 1])
                if isinstance(m, SequenceTagger):
                    torch.testing.assert_close(batch[:n, b], alone[:, 0])
                else:
                    torch.testing.assert_close(batch[b], alone[0])


def test_the_backward_stack_is_the_cell_reading_the_sequence_reversed():
    torch.manual_seed(0)
    m = SequenceTagger(_cfg("gru"), 4, bidirectional=True).eval()
    ids, lengths = _batch()
    with torch.no_grad():
        feats = m.encode(ids, lengths)
        n = LENGTHS[0]
        rev = ids[:n, :1].flip(0)
        out, _ = m.rnn_bwd(m.inputs(rev), None)
        torch.testing.assert_close(feats[:n, 0, m.cfg.hidden :], out.flip(0)[:, 0])


def test_last_pooling_reads_the_forward_end_and_the_backward_start():
    torch.manual_seed(0)
    m = SequenceClassifier(_cfg("lstm"), 2, "last", bidirectional=True).eval()
    ids, lengths = _batch()
    with torch.no_grad():
        feats, s = m.encode(ids, lengths), m.summary(ids, lengths)
    for b, n in enumerate(LENGTHS):
        torch.testing.assert_close(s[b], torch.cat([feats[n - 1, b, :6], feats[0, b, 6:]]))


def test_crf_tagger_loss_and_decoding_are_the_crfs():
    torch.manual_seed(0)
    m = SequenceTagger(_cfg("lstm"), 4, bidirectional=True, crf=True).eval()
    ids, lengths = _batch()
    tags = torch.randint(0, 4, ids.shape)
    with torch.no_grad():
        scores = m(ids, lengths)
        mask = valid_mask(lengths, ids.shape[0])
        torch.testing.assert_close(m.loss(ids, lengths, tags), m.crf.nll(scores, tags, mask).mean())
        assert m.decode(ids, lengths) == m.crf.viterbi(scores, mask)
    assert [len(p) for p in m.decode(ids, lengths)] == LENGTHS


def test_softmax_tagger_ignores_padding_in_its_loss():
    torch.manual_seed(0)
    m = SequenceTagger(_cfg("rnn"), 4, bidirectional=False).eval()
    ids, lengths = _batch()
    tags = torch.randint(0, 4, ids.shape)
    changed = tags.clone()
    changed[~valid_mask(lengths, ids.shape[0])] = 3 - changed[~valid_mask(lengths, ids.shape[0])]
    with torch.no_grad():
        torch.testing.assert_close(m.loss(ids, lengths, tags), m.loss(ids, lengths, changed))


def test_forget_bias_opens_both_directions():
    m = SequenceClassifier(_cfg("lstm", forget_bias=2.0), 2, bidirectional=True)
    for rnn in (m.rnn, m.rnn_bwd):
        assert torch.all(rnn.bias_ih_l0[6:12] == 2.0) and torch.all(rnn.bias_hh_l0[6:12] == 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("pool", POOLS)
def test_a_classifier_learns_which_token_came_first(pool):
    """The label is the first token: 'last' pooling must carry it through the sequence (Design 3)."""
    torch.manual_seed(0)
    m = SequenceClassifier(_cfg("lstm", embed_dim=8), 2, pool, bidirectional=pool != "last")
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    g = torch.Generator().manual_seed(1)
    for _ in range(150):
        ids = torch.randint(3, 11, (6, 32), generator=g)
        labels = torch.randint(0, 2, (32,), generator=g)
        ids[0] = labels + 1  # token 1 or 2 first
        opt.zero_grad()
        m.loss(ids, torch.full((32,), 6), labels).backward()
        opt.step()
    m.eval()
    ids = torch.randint(3, 11, (6, 200), generator=g)
    labels = torch.randint(0, 2, (200,), generator=g)
    ids[0] = labels + 1
    acc = (m(ids, torch.full((200,), 6)).argmax(-1) == labels).float().mean()
    assert acc > 0.95


def _two_lookups(m, ids, lengths):
    """A bidirectional encoding with the word embedding looked up by each direction, as before it was shared."""
    fwd = m._run(m.rnn, ids, None, None)
    return torch.cat([fwd, reverse_within(m._run(m.rnn_bwd, reverse_within(ids, lengths), None, None), lengths)], dim=-1)


@pytest.mark.parametrize("cell", ["lstm", "gru", "leaky"])
def test_both_directions_read_one_embedding_lookup_with_the_same_dropout_and_gradients(cell):
    torch.manual_seed(0)
    m = SequenceClassifier(ModelConfig(vocab_size=11, cell=cell, hidden=6, layers=2, embed_dim=5, dropout=0.3), 3, "max", True).train()
    m.fuse_directions = False
    ids, lengths = _batch()
    lookups = []
    m.encoder.register_forward_hook(lambda *a: lookups.append(1))
    torch.manual_seed(1)
    got = m.encode(ids, lengths)
    assert len(lookups) == 1  # one dense embedding gradient a step, not one per direction to add up
    got.square().sum().backward()
    grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}  # the body's (the head is not used)
    m.zero_grad()
    torch.manual_seed(1)
    want = _two_lookups(m, ids, lengths)
    assert torch.equal(got, want)  # the same dropout masks, drawn in the same order
    want.square().sum().backward()
    assert "encoder.weight" in grads and grads.keys() == {n for n, p in m.named_parameters() if p.grad is not None}
    for n, p in m.named_parameters():
        if n in grads:
            torch.testing.assert_close(grads[n], p.grad, atol=1e-6, rtol=1e-5, msg=n)  # sums in another order only
