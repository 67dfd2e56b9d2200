"""bf16 inference for generation (seqtool/models/bf16_step.py): the same logits as the training kernel's
bf16 forward, a window in one call equal to token by token, and fp32 logits within bf16's tolerance."""
import pytest
import torch

from seqtool.models import ModelConfig, build_model
from seqtool.models.bf16_step import Bf16Runner

# bf16 keeps 8 significant bits (u = 2^-9); logits of a 2-layer stack over 7 steps carry some 10 u of their
# magnitude (see tests/models/test_bf16_rnn.py), observed at most 1e-3 on these cases.
BF16_TOL = 3e-2
V, T, B = 11, 7, 3


def tiny(cell: str, embed_dim: int, **kw):
    torch.manual_seed(0)
    return build_model(ModelConfig(vocab_size=V, cell=cell, hidden=16, layers=2, embed_dim=embed_dim, **kw)).eval()


def ids():
    return torch.randint(1, V, (T, B), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("embed_dim", [0, 8])  # one-hot inputs pick columns; an embedding multiplies
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@torch.inference_mode()
def test_runner_gives_the_training_kernels_bf16_logits_in_one_call_or_token_by_token(cell, embed_dim):
    model, x = tiny(cell, embed_dim), ids()
    runner = Bf16Runner(model)
    whole, final = runner(x)
    state, steps = None, []
    for t in range(T):  # token by token with the carried state, as generation runs
        logits, state = runner(x[t : t + 1], state)
        steps.append(logits)
    model.use_bf16_matmuls(True)
    kernel, kernel_final = model(x)
    torch.testing.assert_close(torch.cat(steps), whole, rtol=0, atol=0)
    torch.testing.assert_close(whole, kernel, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(final, kernel_final, rtol=1e-6, atol=1e-6)
    assert whole.dtype == torch.float32


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@torch.inference_mode()
def test_runner_logits_stay_within_bf16_tolerance_of_fp32_and_are_not_fp32(cell):
    model, x = tiny(cell, 0), ids()
    fp32, _ = model(x)
    bf16, _ = Bf16Runner(model)(x)
    torch.testing.assert_close(bf16, fp32, rtol=0, atol=BF16_TOL * fp32.abs().max().item())
    assert not torch.equal(bf16, fp32)  # the matmuls really ran in bf16


@torch.inference_mode()
def test_adaptive_softmax_decoder_stays_fp32_and_tied_weights_work():
    adaptive = tiny("lstm", 8, adaptive_cutoffs=(4,))
    x = ids()
    out, _ = Bf16Runner(adaptive).hidden_states(x)
    torch.testing.assert_close(Bf16Runner(adaptive).logits(out), adaptive.logits(out), rtol=0, atol=0)
    tied = tiny("gru", 16, tie_weights=True)
    ref = tied(x)[0]
    torch.testing.assert_close(Bf16Runner(tied)(x)[0], ref, rtol=0, atol=BF16_TOL * ref.abs().max().item())


def test_runner_refuses_a_cell_without_a_bf16_kernel():
    with pytest.raises(ValueError, match="leaky"):
        Bf16Runner(tiny("leaky", 0))
