"""seqtool.gradients: gradient flow measured against analytic cases, brute-force Jacobians and the
model's own forward pass."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqtool import grad_subjects, gradients as G
from seqtool.grad_explain import explain
from seqtool.errors import CorpusError, UsageError
from seqtool.models import CELLS, ModelConfig, build_model
from seqtool.models.cells import LayerStepper

V = 7


def model_of(cell, hidden=6, layers=2, embed_dim=0, seed=0, **kw):
    torch.manual_seed(seed)
    return build_model(ModelConfig(vocab_size=V, cell=cell, hidden=hidden, layers=layers, embed_dim=embed_dim, delay=3, window=3, **kw)).eval()


def windows_of(T, B, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, V, (T + 1, B), generator=g)


def opts(**kw):
    return G.GradOptions(**{"steps": 12, "windows": 3, "jacobian_steps": 4, "batch_size": 4, "bptt": 8, **kw})


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("embed_dim", [0, 5])
def test_step_by_step_unroll_reproduces_the_models_logits(cell, embed_dim):
    m = model_of(cell, embed_dim=embed_dim)
    ids = windows_of(9, 3)[:-1]
    _, hidden, _, _ = G.unroll(m, ids)
    ours = torch.stack([m.decoder(h) for h in hidden[-1]])
    torch.testing.assert_close(ours, m(ids)[0], rtol=1e-5, atol=1e-6)


def linear_layer(lam: float, H: int) -> LayerStepper:
    """h(t) = W h(t-1) + U x(t) with W = lam I and no activation: the lecture's W^t argument exactly."""
    torch.manual_seed(1)
    U = torch.randn(H, V)

    def init(b, device, dtype):
        return (torch.zeros(b, H, device=device, dtype=dtype),)

    def step(x, state):
        h = lam * state[0] + F.linear(x, U)
        return h, (h,)

    return LayerStepper("linear", init, step, blocks={"W": lam * torch.eye(H)}, main="W")


@pytest.mark.parametrize("lam", [0.5, 0.9, 1.1])
def test_linear_rnn_with_diagonal_w_decays_as_lambda_to_the_lag(monkeypatch, lam):
    H, T = 6, 30
    m = model_of("rnn", hidden=H, layers=1)
    monkeypatch.setattr(G, "layer_steppers", lambda model: [linear_layer(lam, H)])
    flows, _ = G.measure_flow(m, windows_of(T, 4), opts(steps=T))
    f = flows[0]
    norms = np.array(f.grad_norm_by_lag)
    lags = np.arange(T)
    np.testing.assert_allclose(norms / norms[0], lam ** lags, rtol=1e-4)  # ||dh_T/dh_t|| = lambda^(T-t)
    assert f.decay_per_step == pytest.approx(lam, rel=1e-4)
    assert f.exploding is (lam > 1)
    expected = math.floor(math.log(1e-3) / math.log(lam)) + 1 if lam < 1 else None
    if expected is not None and expected >= T:
        expected = None
    assert f.horizon == expected
    assert f.spectral_radius == pytest.approx(lam) and f.singular_values == pytest.approx([lam] * H)
    assert f.step_jacobian_norm["mean"] == pytest.approx(lam, rel=1e-5)  # J = lam I


def brute_force_hidden(model, window):
    """||dL_T/dh_t|| for a 1-layer fused tanh RNN: restart nn.RNN from h_t and differentiate with
    torch.autograd.functional.jacobian (no code shared with seqtool.gradients)."""
    ids, target = window[:-1], window[-1]
    x = model.inputs(ids)  # (T, 1, V)
    out, _ = model.rnn(x)
    T = ids.shape[0]
    norms = []
    for t in range(T):
        def loss_from(h_t):
            rest, _ = model.rnn(x[t + 1:], h_t.view(1, 1, -1)) if t + 1 < T else (h_t.view(1, 1, -1), None)
            return F.cross_entropy(model.decoder(rest[-1]), target)
        norms.append(torch.autograd.functional.jacobian(loss_from, out[t].detach()).norm().item())
    return np.array(norms[::-1])  # by lag


def brute_force_inputs(model, window):
    """||dL_T/dx_t||: replace x_t and run the model's own (fused or looped) forward."""
    ids, target = window[:-1], window[-1]
    x = model.inputs(ids).detach()
    T = ids.shape[0]
    norms = []
    for t in range(T):
        def loss_from(x_t):
            xs = torch.cat([x[:t], x_t.unsqueeze(0), x[t + 1:]])
            out, _ = model.rnn(xs, ids, None) if model.cfg.cell == "jordan" else model.rnn(xs, None)
            return F.cross_entropy(model.decoder(out[-1]), target)
        norms.append(torch.autograd.functional.jacobian(loss_from, x[t]).norm().item())
    return np.array(norms[::-1])


def test_tanh_rnn_hidden_gradients_equal_a_brute_force_jacobian():
    m = model_of("rnn", hidden=5, layers=1)
    window = windows_of(8, 1, seed=3)
    flows, _ = G.measure_flow(m, window, opts(steps=8, windows=1))
    np.testing.assert_allclose(flows[0].grad_norm_by_lag, brute_force_hidden(m, window), rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("cell", CELLS)
def test_input_gradients_equal_a_brute_force_jacobian_through_the_models_own_forward(cell):
    m = model_of(cell, hidden=5, layers=2, embed_dim=4)
    window = windows_of(8, 1, seed=4)
    flows, _ = G.measure_flow(m, window, opts(steps=8, windows=1))
    np.testing.assert_allclose(flows[0].input_grad_norm_by_lag, brute_force_inputs(m, window), rtol=1e-4, atol=1e-9)


def test_rnn_step_jacobian_is_diag_tanh_prime_times_w():
    m = model_of("rnn", hidden=5, layers=1)
    ids = windows_of(6, 2)[:-1]
    _, hidden, _, records = G.unroll(m, ids, record_at={3})
    layer = G.layer_steppers(m)[0]
    got = G.step_jacobian_norms(layer, records[0])
    h3 = hidden[0][3].detach()
    W = m.rnn.weight_hh_l0.detach()
    expected = [torch.linalg.matrix_norm(torch.diag(1 - h3[b] ** 2) @ W, ord=2).item() for b in range(2)]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_leaky_units_with_a_large_tau_reach_further_than_the_same_weights_with_tau_one():
    fast = model_of("leaky", hidden=8, layers=1, tau_min=1.0, tau_max=1.0)
    slow = model_of("leaky", hidden=8, layers=1, tau_min=20.0, tau_max=20.0)
    slow.load_state_dict({k: v for k, v in fast.state_dict().items() if not k.startswith("rnn.tau")}, strict=False)
    window = windows_of(60, 4)
    f_fast = G.measure_flow(fast, window, opts(steps=60))[0][0]
    f_slow = G.measure_flow(slow, window, opts(steps=60))[0][0]
    assert f_fast.horizon is not None
    assert f_slow.horizon is None or f_slow.horizon > 2 * f_fast.horizon
    assert f_slow.decay_per_step > f_fast.decay_per_step
    assert f_slow.keep_fraction == pytest.approx(1 - 1 / 20) and f_fast.keep_fraction == pytest.approx(0.0)


def test_cells_without_hidden_recurrence_reach_exactly_their_receptive_field():
    tdnn = model_of("tdnn", layers=2)  # window 3, two layers: inputs x(T-4) .. x(T)
    flows, _ = G.measure_flow(tdnn, windows_of(12, 2), opts())
    x = np.array(flows[0].input_grad_norm_by_lag)
    assert (x[:5] > 0).all() and (x[5:] == 0).all()
    assert flows[0].input_horizon == 5 and flows[1].horizon == 1
    jordan = model_of("jordan", layers=1)
    flows, _ = G.measure_flow(jordan, windows_of(12, 2), opts())
    assert flows[0].horizon == 1 and flows[0].input_horizon == 1 and flows[0].spectral_radius is None


def test_lstm_reports_its_gates_and_cell_path():
    m = model_of("lstm", layers=1)
    f = G.measure_flow(m, windows_of(12, 3), opts())[0][0]
    assert set(f.gate_spectral_radius) == set("ifgo")
    assert f.spectral_radius == f.gate_spectral_radius["g"]
    assert f.keep_gate.startswith("forget") and 0 < f.keep_fraction < 1
    assert len(f.cell_grad_norm_by_lag) == 12 and f.cell_grad_norm_by_lag[1] > 0


def test_report_has_finite_numbers_and_a_clip_suggestion_from_total_norms():
    m = model_of("gru", hidden=8, layers=2, embed_dim=4)
    ids = np.random.default_rng(0).integers(1, V, 400)
    r = G.grad_report(m, ids, opts(windows=1), "gru", "init")
    d = r.to_dict()
    for layer in d["layers"]:
        for key in ("grad_norm_by_lag", "input_grad_norm_by_lag", "singular_values"):
            assert len(layer[key]) > 0 and all(math.isfinite(v) for v in layer[key])
        assert math.isfinite(layer["decay_per_step"]) and math.isfinite(layer["spectral_radius"])
    # one batch: the total norm is the root sum of squares of the per-parameter norms
    total = math.sqrt(sum(v * v for v in r.param_grad_norms.values()))
    assert r.total_grad_norm["mean"] == pytest.approx(total)
    assert r.clip_suggestion == float(f"{total:.2g}")
    assert set(r.param_grad_norms) == {n for n, _ in m.named_parameters()}
    assert not m.training  # left in eval mode


def test_trained_forget_gates_lengthen_the_lstm_horizon():
    """Opening the forget gate (bias +4, as training on long dependencies does) must lengthen the reach."""
    closed = model_of("lstm", hidden=8, layers=1)
    opened = model_of("lstm", hidden=8, layers=1)
    with torch.no_grad():
        opened.rnn.bias_ih_l0[8:16] += 4.0
    window = windows_of(80, 4)
    a = G.measure_flow(closed, window, opts(steps=80))[0][0]
    b = G.measure_flow(opened, window, opts(steps=80))[0][0]
    assert b.keep_fraction > 0.9 > a.keep_fraction
    assert (b.horizon or 80) > 2 * a.horizon


def test_horizon_and_decay_helpers():
    assert G.horizon(np.array([1.0, 0.1, 0.01, 1e-4]), 1e-3) == 3
    assert G.horizon(np.array([1.0, 0.5, 0.3]), 1e-3) is None
    assert G.horizon(np.array([0.0, 1.0]), 1e-3) is None
    assert G.decay_per_step(np.array([1.0, 0.0, 0.0])) == 0.0
    assert G.decay_per_step(2.0 ** -np.arange(10.0)) == pytest.approx(0.5)


def test_explain_names_the_longer_reach():
    m1, m2 = model_of("rnn", layers=1), model_of("leaky", layers=1, tau_min=30.0, tau_max=30.0)
    ids = np.random.default_rng(0).integers(1, V, 300)
    reports = [G.grad_report(m, ids, opts(steps=40, windows=2), n, "init") for m, n in ((m1, "rnn"), (m2, "leaky"))]
    text = explain(reports)
    assert "rnn" in text and "leaky" in text and "spectral radius" in text
    assert f"rnn can learn from about {reports[0].horizon} tokens back" in text


def test_bad_options_and_short_data():
    with pytest.raises(UsageError, match="--timesteps 1"):
        G.GradOptions(steps=1).validate()
    with pytest.raises(UsageError, match="--threshold"):
        G.GradOptions(threshold=2.0).validate()
    with pytest.raises(CorpusError, match="fewer than one window"):
        G.grad_report(model_of("rnn"), np.arange(1, 6) % V, opts(steps=10), "rnn", "init")
    with pytest.raises(Exception, match="--compare"):
        grad_subjects.check_compare(["lstm", "transformer"])


def test_measuring_does_not_change_the_model():
    m = model_of("skip", hidden=6, layers=2, embed_dim=4)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    G.grad_report(m, np.random.default_rng(0).integers(1, V, 300), opts(), "skip", "init")
    for k, v in m.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    assert all(p.grad is None for p in m.parameters())


def test_fresh_subjects_share_everything_but_the_cell():
    from seqtool.text import TokenizerOptions

    subs = grad_subjects.fresh_subjects(["rnn", "lstm"], {"hidden": 8, "layers": 1}, TokenizerOptions(level="char"), "abc abd\n" * 50, 0, "cpu")
    assert [s.name for s in subs] == ["rnn (init)", "lstm (init)"]
    assert [s.model.cfg.cell for s in subs] == ["rnn", "lstm"]
    assert dataclasses.replace(subs[0].model.cfg, cell="lstm") == subs[1].model.cfg
    assert (subs[0].batch_size, subs[0].bptt) == (32, 128)  # the char level's training shape
