"""LanguageModel: shapes, carried state, truncated BPTT, learning, fused cells vs their equations."""
import functools
import json

import pytest
import torch
import torch.nn.functional as F

from seqtool.errors import ConfigError, UsageError
from seqtool.models import CELLS, LanguageModel, ModelConfig, build_model

torch.set_num_threads(1)  # tiny tensors: one thread avoids contention and is fastest

V, T, B = 11, 12, 3


def _model(cell, *, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = ModelConfig(**{"vocab_size": V, "cell": cell, "hidden": 8, "layers": 2, "window": 3, "delay": 3, **kw})
    return build_model(cfg)


def _ids(seed=1, t=T, b=B):
    return torch.randint(0, V, (t, b), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("embed_dim", [0, 6])
@pytest.mark.parametrize("cell", CELLS)
def test_forward_shapes_and_state_none_means_zeros(cell, embed_dim):
    model = _model(cell, embed_dim=embed_dim).eval()
    ids = _ids()
    logits, state = model(ids)
    assert logits.shape == (T, B, V)
    again, _ = model(ids, model.init_state(B, torch.device("cpu")))
    torch.testing.assert_close(again, logits)
    with pytest.raises(ValueError, match="time-major"):
        model(ids[:, 0])


@pytest.mark.parametrize("embed_dim", [0, 6])
@pytest.mark.parametrize("cell", CELLS)
def test_sequence_at_once_equals_token_by_token_with_carried_state(cell, embed_dim):
    model = _model(cell, embed_dim=embed_dim).eval()
    ids = _ids()
    with torch.no_grad():
        full, full_state = model(ids)
        state, steps = None, []
        for t in range(T):
            logits, state = model(ids[t : t + 1], state)  # (1, B, V)
            steps.append(logits)
    torch.testing.assert_close(torch.cat(steps), full)
    for a, b in zip(_flat(state), _flat(full_state)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cell", CELLS)
def test_ragged_chunks_with_detached_state_equal_one_run(cell):
    # Truncated BPTT: chunks of any length, state detached between them, give the same logits.
    model = _model(cell).eval()
    ids = _ids(t=14)
    full, _ = model(ids)
    state, pieces, start = None, [], 0
    for size in (2, 1, 5, 6):
        logits, state = model(ids[start : start + size], state)
        state = LanguageModel.detach_state(state)
        pieces.append(logits)
        start += size
    torch.testing.assert_close(torch.cat(pieces), full)


def _flat(state):
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for s in state for t in _flat(s)]


@pytest.mark.parametrize("cell", CELLS)
def test_detach_state_keeps_values_structure_and_cuts_the_graph(cell):
    model = _model(cell)
    _, state = model(_ids())
    detached = LanguageModel.detach_state(state)
    assert type(detached) is type(state)
    flat, flat_detached = _flat(state), _flat(detached)
    assert len(flat) == len(flat_detached)
    if cell != "jordan":  # jordan carries nothing; its state is an empty tuple
        assert flat and any(t.requires_grad for t in flat)
    for a, b in zip(flat, flat_detached):
        assert b.grad_fn is None and not b.requires_grad
        torch.testing.assert_close(a.detach(), b)
    init = model.init_state(B, torch.device("cpu"))
    assert [t.shape for t in _flat(init)] == [t.shape for t in flat]
    assert LanguageModel.detach_state(None) is None


def test_jordan_training_steps_are_independent_of_each_other():
    # Design 2 under teacher forcing: permuting the time order permutes the logits identically.
    model = _model("jordan", embed_dim=5).eval()
    ids = _ids(t=10)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(3))
    logits, _ = model(ids)
    permuted, _ = model(ids[perm])
    torch.testing.assert_close(permuted, logits[perm])
    # ... which a recurrent cell does not do
    rnn = _model("rnn", embed_dim=5).eval()
    assert not torch.allclose(rnn(ids[perm])[0], rnn(ids)[0][perm])


# ------------------------------------------------------------------ tie weights


def test_tie_weights_shares_one_parameter():
    model = _model("lstm", embed_dim=8, hidden=8, tie_weights=True)
    assert model.decoder.weight is model.encoder.weight
    untied = _model("lstm", embed_dim=8, hidden=8)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(untied) - n(model) == V * 8
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    logits, _ = model(_ids())
    F.cross_entropy(logits.reshape(-1, V), _ids(seed=2).reshape(-1)).backward()
    opt.step()
    assert model.decoder.weight is model.encoder.weight


def test_mismatched_tie_weights_and_unknown_cell_raise_usage_error():
    with pytest.raises(UsageError, match="--tie-weights"):
        build_model(ModelConfig(vocab_size=V, hidden=16, embed_dim=8, tie_weights=True))
    with pytest.raises(UsageError, match="--cell"):
        build_model(ModelConfig(vocab_size=V, cell="elman"))
    with pytest.raises(UsageError, match="--cell"):
        LanguageModel(ModelConfig(vocab_size=V, cell="elman"))


# ------------------------------------------------------------------ fused cells vs equations


def _lstm_reference(model, ids):
    """LSTM equations, gate order (i, f, g, o) as torch documents, weights read out of nn.LSTM."""
    x = model.encoder(ids)
    for k in range(model.cfg.layers):
        w_ih, w_hh = getattr(model.rnn, f"weight_ih_l{k}"), getattr(model.rnn, f"weight_hh_l{k}")
        b = getattr(model.rnn, f"bias_ih_l{k}") + getattr(model.rnn, f"bias_hh_l{k}")
        wi, wf, wg, wo = w_ih.chunk(4)
        ui, uf, ug, uo = w_hh.chunk(4)
        bi, bf, bg, bo = b.chunk(4)
        h = c = torch.zeros(ids.shape[1], model.cfg.hidden)
        outs = []
        for t in range(ids.shape[0]):
            i = torch.sigmoid(x[t] @ wi.T + h @ ui.T + bi)  # input gate
            f = torch.sigmoid(x[t] @ wf.T + h @ uf.T + bf)  # forget gate
            g = torch.tanh(x[t] @ wg.T + h @ ug.T + bg)  # candidate cell
            o = torch.sigmoid(x[t] @ wo.T + h @ uo.T + bo)  # output gate
            c = f * c + i * g
            h = o * torch.tanh(c)
            outs.append(h)
        x = torch.stack(outs)
    return model.decoder(x)


def _gru_reference(model, ids):
    """GRU equations, gate order (r, z, n) as torch documents, weights read out of nn.GRU."""
    x = model.encoder(ids)
    for k in range(model.cfg.layers):
        wr, wz, wn = getattr(model.rnn, f"weight_ih_l{k}").chunk(3)
        ur, uz, un = getattr(model.rnn, f"weight_hh_l{k}").chunk(3)
        bir, biz, bin_ = getattr(model.rnn, f"bias_ih_l{k}").chunk(3)
        bhr, bhz, bhn = getattr(model.rnn, f"bias_hh_l{k}").chunk(3)
        h = torch.zeros(ids.shape[1], model.cfg.hidden)
        outs = []
        for t in range(ids.shape[0]):
            r = torch.sigmoid(x[t] @ wr.T + bir + h @ ur.T + bhr)  # reset gate
            z = torch.sigmoid(x[t] @ wz.T + biz + h @ uz.T + bhz)  # update gate
            n = torch.tanh(x[t] @ wn.T + bin_ + r * (h @ un.T + bhn))  # candidate
            h = (1 - z) * n + z * h
            outs.append(h)
        x = torch.stack(outs)
    return model.decoder(x)


def _rnn_reference(model, ids):
    """Design 1: a = b + W h(t-1) + U x(t), h = tanh(a), o = c + V h; one-hot x."""
    x = F.one_hot(ids, V).float()
    for k in range(model.cfg.layers):
        u, w = getattr(model.rnn, f"weight_ih_l{k}"), getattr(model.rnn, f"weight_hh_l{k}")
        b = getattr(model.rnn, f"bias_ih_l{k}") + getattr(model.rnn, f"bias_hh_l{k}")
        h, outs = torch.zeros(ids.shape[1], model.cfg.hidden), []
        for t in range(ids.shape[0]):
            h = torch.tanh(b + h @ w.T + x[t] @ u.T)
            outs.append(h)
        x = torch.stack(outs)
    return x @ model.decoder.weight.T + model.decoder.bias


@pytest.mark.parametrize(
    "cell, reference, kw",
    [("lstm", _lstm_reference, {"embed_dim": 5}), ("gru", _gru_reference, {"embed_dim": 5}), ("rnn", _rnn_reference, {})],
)
def test_fused_cells_equal_their_equations(cell, reference, kw):
    model = _model(cell, **kw).eval()
    ids = _ids()
    with torch.no_grad():
        torch.testing.assert_close(model(ids)[0], reference(model, ids))


# ------------------------------------------------------------------ learning


PATTERN = [1, 4, 5, 2, 4, 5, 3, 4, 5]  # "a X Y b X Y c X Y": after Y, the next token is fixed by 3 tokens back


def _entropies(ids):
    """Unigram entropy and conditional entropy H(next | current) of a stream, in nats."""
    p = torch.bincount(ids).double()
    p = p[p > 0] / p.sum()
    unigram = float(-(p * p.log()).sum())
    pairs = torch.zeros(ids.max() + 1, ids.max() + 1, dtype=torch.float64)
    pairs.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1, dtype=torch.float64), accumulate=True)
    joint = pairs / pairs.sum()
    cond = joint / joint.sum(1, keepdim=True).clamp_min(1e-30)
    bigram = float(-(joint[joint > 0] * cond[joint > 0].log()).sum())
    return unigram, bigram


@functools.lru_cache(maxsize=None)
def _trained(cell, steps=300, t=16, b=8):
    """Train on the pattern with carried, detached state (truncated BPTT); return eval loss and data."""
    torch.manual_seed(0)
    vocab = max(PATTERN) + 1
    n = 20 * t
    data = torch.tensor((PATTERN * (b * n // len(PATTERN) + 2))[: b * n + 1])
    inputs = data[:-1].view(b, n).t()  # (n, B): B parallel streams, like word_language_model's batchify
    targets = data[1:].view(b, n).t()
    model = build_model(ModelConfig(vocab_size=vocab, cell=cell, hidden=32, layers=2, window=4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    state, i = None, 0
    for _ in range(steps):
        if i + t > n:
            i, state = 0, None
        logits, state = model(inputs[i : i + t], state)
        state = LanguageModel.detach_state(state)
        loss = F.cross_entropy(logits.reshape(-1, vocab), targets[i : i + t].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        i += t
    model.eval()
    with torch.no_grad():
        logits, _ = model(inputs)
        warm = 8  # the first tokens of each stream lack the context the pattern needs
        final = F.cross_entropy(logits[warm:].reshape(-1, vocab), targets[warm:].reshape(-1))
    return float(final), data


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_learns_a_repeated_pattern(cell):
    loss, data = _trained(cell)
    unigram, _ = _entropies(data)
    assert unigram > 1.4  # the baseline is not trivial
    assert loss < 0.5 * unigram, f"{cell}: loss {loss:.3f} vs unigram entropy {unigram:.3f}"


def test_jordan_is_a_bigram_model_and_memory_cells_beat_it():
    # "Design 2 requires that the output capture all information of the past": with the token fed
    # back, it cannot beat H(next | current token). Cells with memory see 3 tokens back and can.
    loss, data = _trained("jordan")
    _, bigram = _entropies(data)
    assert bigram > 0.3
    assert bigram - 0.01 < loss < bigram + 0.1
    for cell in ("lstm", "gru", "tdnn"):
        assert _trained(cell)[0] < 0.5 * bigram, cell


@pytest.mark.parametrize("cell", ["lstm", "jordan", "tdnn"])
def test_hidden_states_are_what_the_decoder_reads(cell):
    model = _model(cell).eval()
    ids = _ids()
    hidden, state = model.hidden_states(ids)
    assert hidden.shape == (T, B, 8)
    logits, _ = model(ids)
    torch.testing.assert_close(model.decoder(hidden), logits)


def test_forget_bias_opens_every_layers_forget_gate_and_nothing_else():
    torch.manual_seed(0)
    plain = build_model(ModelConfig(vocab_size=9, cell="lstm", hidden=4, layers=2))
    torch.manual_seed(0)
    opened = build_model(ModelConfig(vocab_size=9, cell="lstm", hidden=4, layers=2, forget_bias=3.0))
    for k in range(2):
        b = getattr(opened.rnn, f"bias_ih_l{k}") + getattr(opened.rnn, f"bias_hh_l{k}")  # (4H,) gates i, f, g, o
        torch.testing.assert_close(b[4:8], torch.full((4,), 3.0))
        for name in ("bias_ih", "bias_hh"):
            mine, theirs = getattr(opened.rnn, f"{name}_l{k}"), getattr(plain.rnn, f"{name}_l{k}")
            torch.testing.assert_close(mine[:4], theirs[:4])
            torch.testing.assert_close(mine[8:], theirs[8:])


def test_forget_bias_opens_the_lnlstm_forget_gates_only():
    opened = build_model(ModelConfig(vocab_size=9, cell="lnlstm", hidden=4, layers=2, forget_bias=2.0))
    for k in range(2):
        b = getattr(opened.rnn, f"bias_l{k}")  # (4H,) gates i, f, g, o; zeros elsewhere
        torch.testing.assert_close(b, torch.cat([torch.zeros(4), torch.full((4,), 2.0), torch.zeros(8)]))


def _adaptive(seed=0, **kw):
    torch.manual_seed(seed)
    return build_model(ModelConfig(vocab_size=40, cell="lstm", hidden=16, layers=1, embed_dim=6, adaptive_cutoffs=(5, 20), **kw))


def test_adaptive_softmax_gives_a_normalised_distribution_and_the_exact_loss():
    m = _adaptive().eval()
    ids = torch.randint(1, 40, (7, 3))
    targets = torch.randint(1, 40, (7, 3))
    logits, _ = m(ids)
    assert logits.shape == (7, 3, 40)
    torch.testing.assert_close(logits.logsumexp(-1), torch.zeros(7, 3), atol=1e-5, rtol=0)  # log-probabilities
    # the cheap training loss is the cross-entropy of the full distribution
    loss, _ = m.loss(ids, targets)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(-1, 40), targets.reshape(-1)), rtol=1e-5, atol=1e-6)
    total, _ = m.loss(ids, targets, reduction="sum")
    torch.testing.assert_close(total, loss * targets.numel(), rtol=1e-5, atol=1e-5)


def test_loss_equals_cross_entropy_of_forward_for_the_full_softmax():
    torch.manual_seed(0)
    m = build_model(ModelConfig(vocab_size=30, cell="gru", hidden=8, layers=2, embed_dim=8, tie_weights=True)).eval()
    ids, targets = torch.randint(0, 30, (5, 2)), torch.randint(0, 30, (5, 2))
    loss, state = m.loss(ids, targets)
    logits, state2 = m(ids)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(-1, 30), targets.reshape(-1)))
    torch.testing.assert_close(state, state2)


def test_adaptive_softmax_learns_and_checks_its_cutoffs():
    m = _adaptive()
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    seq = torch.arange(1, 31).repeat(8).view(-1, 1)  # a cycle through ids of every band
    first = None
    for _ in range(60):
        loss, _ = m.loss(seq[:-1], seq[1:])
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * first
    with pytest.raises(UsageError, match="needs --hidden of at least 16"):
        ModelConfig(vocab_size=40, hidden=8, adaptive_cutoffs=(5, 20)).validate()
    with pytest.raises(UsageError, match="cutoffs must increase"):
        ModelConfig(vocab_size=40, adaptive_cutoffs=(20, 5)).validate()
    with pytest.raises(ConfigError, match="minus 2"):
        ModelConfig(vocab_size=40, adaptive_cutoffs=(5, 39)).validate()
    with pytest.raises(UsageError, match="no-tie-weights"):
        ModelConfig(vocab_size=40, embed_dim=8, hidden=8, tie_weights=True, adaptive_cutoffs=(5,)).validate()
    cfg = ModelConfig(vocab_size=40, adaptive_cutoffs=(5, 20))
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # JSON turns the tuple into a list
