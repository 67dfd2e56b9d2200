"""The layer-normalised LSTM's C steps (seqtool/models/lnlstm_steps.py) against its eager torch loop.

The eager loop (cells._lnlstm_scan, autograd's backward) is held to Ba et al.'s equations and to finite
differences in tests/models/test_cells.py; here the hand-derived backward of the C steps must give the same
outputs, final state and every gradient to 1e-5 in fp32, and its bf16 mode stay within bf16's error.
"""
import copy
import shutil

import pytest
import torch

from seqtool.models import ckernels
from seqtool.models.cells import LayerNormLSTM
from seqtool.models.config import ModelConfig
from seqtool.models.lm import LanguageModel
from tests.models.test_bf16_rnn import BF16_TOL, outputs_and_grads, scaled_error
from tests.models.test_cells import _randomise_norms

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
D, H, B = 5, 6, 3


@pytest.fixture
def c_on(monkeypatch):
    monkeypatch.delenv("SEQTOOL_NO_C_KERNELS", raising=False)
    assert ckernels.kernels() is not None


def case(layers: int, T: int, seed: int):
    torch.manual_seed(seed)
    cell = LayerNormLSTM(D, H, num_layers=layers)
    _randomise_norms(cell)
    x = torch.randn(T, B, D, requires_grad=True)
    state = [torch.randn(layers, B, H, requires_grad=True) for _ in range(2)]
    return cell, x, state, list(cell.parameters())


def run_with(monkeypatch, cell, dtype, c: bool):
    """The cell's forward with the C steps on or off (SEQTOOL_NO_C_KERNELS), matmuls in ``dtype``."""
    def run(x, s):
        with monkeypatch.context() as m:
            m.setenv("SEQTOOL_NO_C_KERNELS", "0" if c else "1")
            return cell(x, s, matmul_dtype=dtype)
    return run


@pytest.mark.parametrize("layers, T", [(1, 1), (1, 7), (2, 7), (2, 20)])
def test_c_steps_in_fp32_equal_the_eager_loop_outputs_state_and_every_gradient(c_on, monkeypatch, layers, T):
    # Against the eager loop in float64 (the loop gradcheck holds to finite differences), as a share of each
    # tensor's largest value: fp32's rounding, amplified by the layer norms' backward, reaches ~2e-5 in both the
    # C steps and the eager loop in fp32; a wrong or missing term would be off by 1e-2 or more.
    cell, x, state, params = case(layers, T, seed=10 * layers + T)
    got = outputs_and_grads(run_with(monkeypatch, cell, None, c=True), x, state, params)
    cell64 = copy.deepcopy(cell).double()
    x64, state64 = x.detach().double().requires_grad_(), [s.detach().double().requires_grad_() for s in state]
    ref = outputs_and_grads(run_with(monkeypatch, cell64, None, c=True), x64, state64, list(cell64.parameters()))
    assert len(got) == len(ref) == 3 + 3 + 7 * layers  # y, h, c; dx, dh0, dc0; W, U, b, a_x, a_h, a_c, b_c per layer
    for g, r in zip(got, ref):
        assert r.abs().max() > 1e-3  # every gradient is live, so an unused input or a dropped term would show
        assert scaled_error(g.double(), r) < 1e-4


def test_c_steps_run_where_the_kernels_build(c_on, monkeypatch):
    # Guard against a silent fallback: the C path must be the one taken (the eager loop would pass the test above).
    import seqtool.models.lnlstm_steps as steps

    calls = []
    real = steps.LNLSTMRecurrence.apply
    monkeypatch.setattr(steps.LNLSTMRecurrence, "apply", lambda *a: calls.append(1) or real(*a))
    cell, x, state, _ = case(2, 3, seed=1)
    cell(x, tuple(state))
    assert len(calls) == 2  # one per layer
    with monkeypatch.context() as m:
        m.setenv("SEQTOOL_NO_C_KERNELS", "1")
        cell(x, tuple(state))
    assert len(calls) == 2
    cell.double()(x.double(), tuple(s.double() for s in state))  # float64 (gradcheck): the eager loop
    assert len(calls) == 2


@pytest.mark.parametrize("layers", [1, 2])
def test_c_steps_in_bf16_do_the_eager_loops_bf16_arithmetic(c_on, monkeypatch, layers):
    # bf16 against fp32 is no tight check here: layer normalisation rescales U h(t-1) and c(t) to unit variance
    # whatever their size, so a rounding of 2^-9 becomes ~1e-2 in h(t) after one step and grows over steps
    # (as any perturbation of the input does: measured at H=384, a 1e-3 input change moved h(31) by 8e-2).
    # So the C steps are held to the eager loop with the same casts: the forward rounds the same operands
    # (measured <= 5e-7 apart), the backward rounds dR(t) where autograd rounds other intermediates (<= 7e-3).
    cell, x, state, params = case(layers, 6, seed=layers)
    got = outputs_and_grads(run_with(monkeypatch, cell, torch.bfloat16, c=True), x, state, params)
    eager = outputs_and_grads(run_with(monkeypatch, cell, torch.bfloat16, c=False), x, state, params)
    fp32 = outputs_and_grads(run_with(monkeypatch, cell, None, c=True), x, state, params)
    assert max(scaled_error(g, e) for g, e in zip(got[:3], eager[:3])) < 1e-5
    assert max(scaled_error(g, e) for g, e in zip(got, eager)) < BF16_TOL
    assert min(scaled_error(g, f) for g, f in zip(got, fp32)) > 1e-4  # every tensor saw the bf16 roundings


def test_language_model_trains_lnlstm_with_bf16_matmuls(c_on):
    # Before, use_bf16_matmuls refused lnlstm; now one step in bf16 lowers the loss as fp32's does.
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=11, embed_dim=8, hidden=16, layers=2, cell="lnlstm")
    ids = torch.randint(0, 11, (12, 4))
    losses = {}
    for bf16 in (False, True):
        torch.manual_seed(0)
        model = LanguageModel(cfg)
        model.use_bf16_matmuls(bf16)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        first = None
        for _ in range(20):
            logits, _ = model(ids[:-1])
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 11).float(), ids[1:].reshape(-1))
            first = first if first is not None else loss.item()
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses[bf16] = (first, loss.item())
    assert losses[True][1] < 0.8 * losses[True][0]
    assert abs(losses[True][1] - losses[False][1]) < 0.05 * losses[False][1]
