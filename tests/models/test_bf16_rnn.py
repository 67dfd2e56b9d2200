"""The bf16-matmul recurrent kernel against torch's nn.LSTM / nn.GRU / nn.RNN with the same weights.

Three ways: its fp32 mode (no casts) equals torch to 1e-5, which proves the hand-derived backward;
gradcheck in float64; and the bf16 mode within the error bf16 implies.
"""
import pytest
import torch
from torch import nn

from seqtool.models.bf16_rnn import GRULayer, LSTMLayer, RNNLayer, run_stack
from seqtool.models.config import ModelConfig
from seqtool.models.lm import LanguageModel

KINDS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
D, H, B = 5, 6, 3
# bf16 keeps 8 significant bits (unit roundoff u = 2^-9 ~ 2e-3). Every matmul rounds both operands and its
# result, and the errors travel through the steps, the layers and back through the backward: some 10 u of
# the tensor's largest magnitude, ~2e-2. Observed at most 1.0e-2 on these cases.
BF16_TOL = 3e-2


def outputs_and_grads(run, x, state, params):
    """Everything a recurrent stack produces for a loss that reads the outputs and every final state."""
    for t in [x, *state, *params]:
        t.grad = None
    y, final = run(x, state[0] if len(state) == 1 else tuple(state))
    finals = final if isinstance(final, tuple) else (final,)
    weights = [torch.linspace(-1, 1, f.numel()).view_as(f) for f in finals]  # a different dL/d(state) per unit
    loss = (y * y).sum() + sum((f * w).sum() for f, w in zip(finals, weights))
    loss.backward()
    return [y.detach(), *[f.detach() for f in finals]] + [t.grad.clone() for t in [x, *state, *params]]


def case(kind: str, layers: int, T: int, seed: int = 0):
    torch.manual_seed(seed)
    rnn = KINDS[kind](D, H, layers)
    x = torch.randn(T, B, D, requires_grad=True)
    state = [torch.randn(layers, B, H, requires_grad=True) for _ in range(2 if kind == "lstm" else 1)]  # carried h0 (, c0)
    return rnn, x, state, list(rnn.parameters())


def scaled_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    """max |got - ref| over the reference's largest magnitude."""
    return float((got - ref).abs().max() / ref.abs().max())


GRID = [(kind, layers, T) for kind in KINDS for layers in (1, 2) for T in (1, 6)]


@pytest.mark.parametrize("kind, layers, T", GRID)
def test_fp32_mode_equals_torch_outputs_states_and_every_gradient(kind, layers, T):
    rnn, x, state, params = case(kind, layers, T)
    ref = outputs_and_grads(rnn, x, state, params)
    got = outputs_and_grads(lambda x, s: run_stack(rnn, x, s, dtype=None), x, state, params)
    assert len(got) == len(ref) == 1 + len(state) + 1 + len(state) + 4 * layers
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind, layers, T", GRID)
def test_bf16_mode_is_within_the_error_bf16_implies_and_really_rounds(kind, layers, T):
    rnn, x, state, params = case(kind, layers, T)
    ref = outputs_and_grads(rnn, x, state, params)
    got = outputs_and_grads(lambda x, s: run_stack(rnn, x, s, dtype=torch.bfloat16), x, state, params)
    errors = [scaled_error(g, r) for g, r in zip(got, ref)]
    assert max(errors) < BF16_TOL, errors
    assert max(errors) > 1e-4  # the matmuls did run in bf16
    assert all(g.dtype == torch.float32 for g in got)


def test_a_missing_state_is_the_zero_state():
    rnn, x, state, params = case("lstm", 2, 4)
    zeros = torch.zeros(2, B, H)
    y0, (h0, c0) = run_stack(rnn, x, None, dtype=None)
    y1, (h1, c1) = run_stack(rnn, x, (zeros, zeros), dtype=None)
    assert torch.equal(y0, y1) and torch.equal(h0, h1) and torch.equal(c0, c1)


@pytest.mark.parametrize("layer, states", [(LSTMLayer, 2), (GRULayer, 1), (RNNLayer, 1)])
def test_the_hand_derived_backward_passes_gradcheck_in_float64(layer, states):
    torch.manual_seed(0)
    gates = {LSTMLayer: 4, GRULayer: 3, RNNLayer: 1}[layer]
    T, b, d, h = 3, 2, 3, 2
    x = torch.randn(T, b, d, dtype=torch.float64, requires_grad=True)
    state = [torch.randn(b, h, dtype=torch.float64, requires_grad=True) for _ in range(states)]
    shapes = [(gates * h, d), (gates * h, h), (gates * h,), (gates * h,)]
    params = [(0.5 * torch.randn(s, dtype=torch.float64)).requires_grad_() for s in shapes]
    assert torch.autograd.gradcheck(lambda *a: layer.apply(*a, None), (x, *state, *params))


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    rnn = nn.LSTM(D, H, 2, dropout=0.5).eval()
    x = torch.randn(4, B, D)
    torch.testing.assert_close(run_stack(rnn, x, None, dtype=None)[0], rnn(x)[0], rtol=1e-5, atol=1e-5)
    rnn.train()
    assert not torch.allclose(run_stack(rnn, x, None, dtype=None)[0], rnn.eval()(x)[0], atol=1e-3)


def tiny_lm(cell="lstm", **kw) -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(ModelConfig(**{"vocab_size": 11, "cell": cell, "hidden": 8, "layers": 2, "embed_dim": 6, **kw}))


@pytest.mark.parametrize("tie", [False, True])
def test_a_language_model_with_bf16_matmuls_keeps_its_loss_weights_and_checkpoint_layout(tie):
    model = tiny_lm(tie_weights=tie, **({"embed_dim": 8} if tie else {}))
    ids, targets = torch.randint(0, 11, (7, 3)), torch.randint(0, 11, (7, 3))
    keys = {k: v.dtype for k, v in model.state_dict().items()}
    ref = float(model.loss(ids, targets)[0].detach())
    model.use_bf16_matmuls()
    got, _ = model.loss(ids, targets)
    logits, _ = model(ids)
    assert got.dtype == logits.dtype == torch.float32
    assert abs(float(got.detach()) - ref) < BF16_TOL * ref and float(got.detach()) != ref
    got.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
    assert {k: v.dtype for k, v in model.state_dict().items()} == keys  # checkpoints interchangeable with torch's path
    model.use_bf16_matmuls(False)
    assert float(model.loss(ids, targets)[0].detach()) == ref


def test_bf16_matmuls_refuse_a_cell_the_kernel_does_not_run():
    with pytest.raises(ValueError, match="lstm, gru, rnn"):
        tiny_lm("leaky").use_bf16_matmuls()


@pytest.mark.parametrize("kind", KINDS)
def test_a_two_layer_stack_passes_gradcheck_in_float64(kind):
    torch.manual_seed(0)
    rnn = KINDS[kind](3, 2, 2).double()
    x = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)
    state = [torch.randn(2, 2, 2, dtype=torch.float64, requires_grad=True) for _ in range(2 if kind == "lstm" else 1)]

    def run(x, *s):
        y, final = run_stack(rnn, x, s if kind == "lstm" else s[0], dtype=None)
        return (y, *final) if kind == "lstm" else (y, final)

    assert torch.autograd.gradcheck(run, (x, *state))
