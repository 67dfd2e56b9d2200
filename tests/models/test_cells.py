"""Custom cells against direct per-step implementations of their equations, and limiting cases.

Every reference below is an explicit loop over time with plain tensor ops on weights copied out
of the module under test; it shares no code with seqtool.models.cells.
"""
import math

import pytest
import torch
from torch import nn

from seqtool.models.cells import TDNN, JordanRNN, LayerNormLSTM, LeakyRNN, SkipRNN

torch.set_num_threads(2)

T, B, D, H = 9, 3, 5, 6


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _ref_leaky(x, h0, layers):
    """layers: list of (W, U, b, tau); h(t) = (1 - 1/tau) h(t-1) + (1/tau) tanh(W x(t) + U h(t-1) + b)."""
    finals = []
    for k, (w, u, b, tau) in enumerate(layers):
        h, outs = h0[k], []
        for t in range(x.shape[0]):
            h = (1 - 1 / tau) * h + (1 / tau) * torch.tanh(x[t] @ w.T + h @ u.T + b)
            outs.append(h)
        x = torch.stack(outs)
        finals.append(h)
    return x, torch.stack(finals)


def _leaky_weights(cell, layers):
    out = []
    for k in range(layers):
        if cell.learn_tau:
            tau = 1 + torch.log1p(torch.exp(getattr(cell, f"tau_raw_l{k}")))  # softplus, written out
        else:
            tau = getattr(cell, f"tau_l{k}")
        out.append((getattr(cell, f"weight_ih_l{k}"), getattr(cell, f"weight_hh_l{k}"), getattr(cell, f"bias_l{k}"), tau))
    return out


@pytest.mark.parametrize("learn_tau", [False, True])
def test_leaky_matches_its_equation(learn_tau):
    cell = LeakyRNN(D, H, num_layers=2, tau_min=1.0, tau_max=20.0, learn_tau=learn_tau)
    x, h0 = torch.randn(T, B, D), torch.randn(2, B, H)
    out, hT = cell(x, h0)
    ref_out, ref_hT = _ref_leaky(x, h0, _leaky_weights(cell, 2))
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(hT, ref_hT)


def test_leaky_time_constants_are_log_uniform_and_at_least_one():
    cell = LeakyRNN(D, 5, tau_min=1.0, tau_max=10_000.0)
    tau = cell.tau(0).double()
    torch.testing.assert_close(tau, torch.tensor([1.0, 10.0, 100.0, 1000.0, 10_000.0], dtype=torch.float64), rtol=1e-5, atol=0)
    learned = LeakyRNN(D, 5, tau_min=1.0, tau_max=10_000.0, learn_tau=True)
    torch.testing.assert_close(learned.tau(0)[1:].double(), tau[1:], rtol=1e-4, atol=0)
    with torch.no_grad():
        learned.tau_raw_l0.fill_(-1e4)  # whatever the optimiser does, tau stays >= 1
    assert bool((learned.tau(0) >= 1.0).all())
    assert learned.tau_raw_l0.requires_grad and not any("tau" in n for n, _ in cell.named_parameters())


def _rnn_copy(rnn: nn.RNN, cell, extra=None):
    """Copy nn.RNN weights into a custom cell (b = b_ih + b_hh); extra: names to zero."""
    with torch.no_grad():
        for k in range(rnn.num_layers):
            getattr(cell, f"weight_ih_l{k}").copy_(getattr(rnn, f"weight_ih_l{k}"))
            getattr(cell, f"weight_hh_l{k}").copy_(getattr(rnn, f"weight_hh_l{k}"))
            getattr(cell, f"bias_l{k}").copy_(getattr(rnn, f"bias_ih_l{k}") + getattr(rnn, f"bias_hh_l{k}"))
            for name in extra or ():
                getattr(cell, f"{name}_l{k}").zero_()


@pytest.mark.parametrize("layers", [1, 2])
def test_leaky_with_tau_one_is_the_tanh_rnn(layers):
    rnn = nn.RNN(D, H, layers, nonlinearity="tanh")
    cell = LeakyRNN(D, H, num_layers=layers, tau_min=1.0, tau_max=1.0)
    _rnn_copy(rnn, cell)
    x, h0 = torch.randn(T, B, D), torch.randn(layers, B, H)
    out, hT = cell(x, h0)
    ref_out, ref_hT = rnn(x, h0)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(hT, ref_hT)
    # and a real spread of time constants is something else
    slow = LeakyRNN(D, H, num_layers=layers, tau_min=2.0, tau_max=50.0)
    _rnn_copy(rnn, slow)
    assert not torch.allclose(slow(x, h0)[0], ref_out, atol=1e-3)


def _ref_skip(x, hist0, layers, d):
    """hist0: (L, d, B, H) = h(t-d)..h(t-1); h(t) = tanh(b + U x(t) + W1 h(t-1) + Wd h(t-d))."""
    finals = []
    for k, (u, w1, wd, b) in enumerate(layers):
        hist = [hist0[k, i] for i in range(d)]
        for t in range(x.shape[0]):
            hist.append(torch.tanh(b + x[t] @ u.T + hist[-1] @ w1.T + hist[-d] @ wd.T))
        x = torch.stack(hist[d:])
        finals.append(torch.stack(hist[-d:]))
    return x, torch.stack(finals)


@pytest.mark.parametrize("delay", [2, 3, 12])
def test_skip_matches_its_equation(delay):
    cell = SkipRNN(D, H, num_layers=2, delay=delay)
    x, state = torch.randn(T, B, D), torch.randn(2, delay, B, H)
    out, new_state = cell(x, state)
    weights = [tuple(getattr(cell, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "weight_hd", "bias")) for k in range(2)]
    ref_out, ref_state = _ref_skip(x, state, weights, delay)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(new_state, ref_state)
    assert new_state.shape == (2, delay, B, H)


@pytest.mark.parametrize("layers", [1, 2])
def test_skip_with_zero_skip_weights_is_the_tanh_rnn(layers):
    rnn = nn.RNN(D, H, layers, nonlinearity="tanh")
    cell = SkipRNN(D, H, num_layers=layers, delay=3)
    _rnn_copy(rnn, cell, extra=["weight_hd"])
    x, h0 = torch.randn(T, B, D), torch.randn(layers, B, H)
    state = torch.randn(layers, 3, B, H)
    state[:, -1] = h0  # h(t-1) as nn.RNN's h0; the older entries only reach the output through Wd = 0
    out, new_state = cell(x, state)
    ref_out, ref_hT = rnn(x, h0)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(new_state[:, -1], ref_hT)


def test_jordan_matches_its_equation():
    V = 7
    cell = JordanRNN(D, H, V, num_layers=2)
    x, y_prev = torch.randn(T, B, D), torch.randint(0, V, (T, B))
    out, state = cell(x, y_prev)
    assert state == ()
    y_onehot = torch.zeros(T, B, V).scatter_(2, y_prev.unsqueeze(-1), 1.0)
    ref = x
    for k in range(2):
        u, b = getattr(cell, f"weight_ih_l{k}"), getattr(cell, f"bias_l{k}")
        w = getattr(cell, f"weight_fb_l{k}").T  # (H, V): W acting on one-hot outputs
        # column-vector form, one step at a time: h(t) = tanh(b + W y(t-1) + U x(t))
        ref = torch.stack([torch.tanh(b[:, None] + w @ y_onehot[t].T + u @ ref[t].T).T for t in range(T)])
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("window", [1, 2, 4])
def test_tdnn_matches_its_equation(window):
    cell = TDNN(D, H, num_layers=2, window=window)
    x = torch.randn(T, B, D)
    out, state = cell(x)
    ref = x
    for k in range(2):
        kernel, b = getattr(cell, f"weight_l{k}"), getattr(cell, f"bias_l{k}")  # (H, Din, window)
        steps = []
        for t in range(T):
            a = b.expand(B, H).clone()
            for j in range(window):  # tap j sees x(t - (window - 1) + j); zeros before the start
                s = t - (window - 1) + j
                if s >= 0:
                    a = a + ref[s] @ kernel[:, :, j].T
            steps.append(torch.tanh(a))
        prev, ref = ref, torch.stack(steps)
        expected_state = torch.cat([torch.zeros(window - 1, B, prev.shape[2]), prev])[-(window - 1):] if window > 1 else prev[:0]
        torch.testing.assert_close(state[k], expected_state)
    torch.testing.assert_close(out, ref)


def test_tdnn_depends_on_exactly_window_inputs():
    cell = TDNN(D, H, num_layers=1, window=3)
    x = torch.randn(T, B, D, requires_grad=True)
    out, _ = cell(x)
    out[6].sum().backward()
    touched = [t for t in range(T) if x.grad[t].abs().sum() > 0]
    assert touched == [4, 5, 6]


@pytest.mark.parametrize("cls, kwargs", [(LeakyRNN, {}), (SkipRNN, {}), (TDNN, {"window": 2}), (LayerNormLSTM, {})])
def test_dropout_between_layers_only_in_training(cls, kwargs):
    x = torch.randn(T, B, D)
    cell = cls(D, H, num_layers=3, dropout=0.5, **kwargs)
    cell.eval()
    a = cell(x)[0]
    torch.testing.assert_close(cell(x)[0], a)
    cell.train()
    assert not torch.allclose(cell(x)[0], a)
    one = cls(D, H, num_layers=1, dropout=0.5, **kwargs).train()  # nothing between layers to drop
    torch.manual_seed(1)
    c = one(x)[0]
    torch.manual_seed(2)
    torch.testing.assert_close(one(x)[0], c)


def test_gradient_reaches_h_t_minus_d_directly_through_skip():
    # With W1 = 0 the only route from h(0) to h(d) is the skip weight Wd: d steps in one hop.
    d = 4
    cell = SkipRNN(D, H, delay=d)
    with torch.no_grad():
        cell.weight_hh_l0.zero_()
    x = torch.randn(T, B, D)
    state = torch.randn(1, d, B, H, requires_grad=True)
    out, _ = cell(x, state)
    out[0].sum().backward()  # h(0) sees h(-1) via W1 (zero) and h(-d) via Wd
    grads = state.grad[0].abs().sum(dim=(1, 2))
    assert grads[0] > 0 and float(grads[1:].sum()) == 0.0
    assert math.isfinite(float(grads[0]))


def _ref_norm(v, gain, shift=0.0, eps=1e-5):
    """(v - mean) / sqrt(var + eps) over the last dimension, the biased variance, then gain and shift."""
    mean = v.sum(-1, keepdim=True) / v.shape[-1]
    var = ((v - mean) ** 2).sum(-1, keepdim=True) / v.shape[-1]
    return gain * (v - mean) / torch.sqrt(var + eps) + shift


def _ref_lnlstm(x, h0, c0, layers):
    """layers: list of (W, U, b, a_x, a_h, a_c, b_c); Ba et al.'s LN-LSTM one step at a time."""
    fh, fc = [], []
    for k, (w, u, b, a_x, a_h, a_c, b_c) in enumerate(layers):
        h, c, outs = h0[k], c0[k], []
        for t in range(x.shape[0]):
            z = _ref_norm(x[t] @ w.T, a_x) + _ref_norm(h @ u.T, a_h) + b
            n = h.shape[1]
            i, f, g, o = (z[:, j * n:(j + 1) * n] for j in range(4))
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(_ref_norm(c, a_c, b_c))
            outs.append(h)
        x = torch.stack(outs)
        fh.append(h)
        fc.append(c)
    return x, torch.stack(fh), torch.stack(fc)


def _randomise_norms(cell):
    # Gains and shifts away from their 1 / 0 start, so a test sees whether each one is used where it belongs.
    with torch.no_grad():
        for name, p in cell.named_parameters():
            if name.startswith(("ln_", "bias")):
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if "weight" in name else 0.0))


@pytest.mark.parametrize("layers", [1, 2])
def test_lnlstm_matches_its_equation(layers):
    cell = LayerNormLSTM(D, H, num_layers=layers)
    _randomise_norms(cell)
    x = torch.randn(T, B, D)
    h0, c0 = torch.randn(layers, B, H), torch.randn(layers, B, H)
    out, (h, c) = cell(x, (h0, c0))
    ref_out, ref_h, ref_c = _ref_lnlstm(x, h0, c0, [cell.layer(k) for k in range(layers)])
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h, ref_h, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(c, ref_c, rtol=1e-5, atol=1e-5)


def test_lnlstm_in_pieces_equals_one_run():
    # The carried (h, c) is the whole state: two halves with the state passed on give the run in one piece.
    cell = LayerNormLSTM(D, H, num_layers=2)
    x = torch.randn(T, B, D)
    whole, _ = cell(x)
    first, state = cell(x[:4])
    second, _ = cell(x[4:], state)
    torch.testing.assert_close(torch.cat([first, second]), whole)


def test_lnlstm_ignores_the_scale_of_its_weight_matrices():
    # Layer normalisation's point (Ba et al. 2016, sec. 5): the gates see W x and U h at a fixed scale,
    # so multiplying W and U by any positive factor changes nothing. A plain LSTM saturates instead.
    # Exact but for LN's epsilon (1e-5, added to each variance), whose weight shrinks with the square of the
    # scale: so the test compares the weights scaled by 100 and by 10,000, where it is negligible.
    cell = LayerNormLSTM(D, H, num_layers=2).double()
    _randomise_norms(cell)
    x = torch.randn(T, B, D, dtype=torch.float64)

    def scaled(factor):
        with torch.no_grad():
            for name, p in cell.named_parameters():
                if name.startswith(("weight_ih", "weight_hh")):
                    p.mul_(factor)
        return cell(x)[0]

    at_100 = scaled(100.0)
    at_10000 = scaled(100.0)  # 100 times more again
    torch.testing.assert_close(at_10000, at_100, rtol=1e-5, atol=1e-6)
    lstm = nn.LSTM(D, H, num_layers=2).double()
    plain = lstm(x)[0]
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("weight"):
                p.mul_(7.0)
    assert (lstm(x)[0] - plain).abs().max() > 0.1


def test_lnlstm_gradients_match_finite_differences():
    cell = LayerNormLSTM(3, 2, num_layers=2).double()
    _randomise_norms(cell)
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 2, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 2, 2, dtype=torch.float64, requires_grad=True)
    params = [p for _, p in sorted(cell.named_parameters())]

    def run(x, h0, c0, *ps):
        swapped = dict(zip(sorted(n for n, _ in cell.named_parameters()), ps))
        out, (h, c) = torch.func.functional_call(cell, swapped, (x, (h0, c0)))
        return out, h, c

    assert torch.autograd.gradcheck(run, (x, h0, c0, *params), eps=1e-6, atol=1e-5)

