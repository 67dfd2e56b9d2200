"""The optimizer: Adam/AdamW fused into one kernel where torch has it, the same steps as torch's reference Adam."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from seqtool.optim import clip_grad_norm, make_optimizer


def _tiny_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Embedding(20, 6), nn.Flatten(), nn.Linear(18, 5))


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int = 6) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    for _ in range(steps):
        x, y = torch.randint(0, 20, (4, 3), generator=g), torch.randint(0, 5, (4,), generator=g)
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name, reference", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_the_chosen_optimizer_steps_as_torchs_reference_adam(name, reference):
    ours, ref = _tiny_model(0), _tiny_model(0)
    chosen = make_optimizer(list(ours.parameters()), name, lr=0.05, weight_decay=0.01)
    assert chosen.param_groups[0]["fused"] is True  # float32 parameters on the CPU take torch's fused kernel
    got = _train(ours, chosen)
    want = _train(ref, reference(ref.parameters(), lr=0.05, weight_decay=0.01, foreach=False))  # the per-tensor reference
    assert any((a - b).abs().max() > 0 for a, b in zip(got, [p.detach() for p in _tiny_model(0).parameters()]))  # it moved
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_the_resumed_optimizer_keeps_the_kernel_its_checkpoint_was_saved_with():
    model = _tiny_model(0)
    old = torch.optim.Adam(model.parameters(), lr=0.05)  # a checkpoint from before the fused kernel was chosen
    _train(model, old, steps=2)
    resumed = make_optimizer(list(model.parameters()), "adam", lr=0.05, weight_decay=0.0)
    resumed.load_state_dict(old.state_dict())
    assert not resumed.param_groups[0]["fused"]  # the same arithmetic as before the checkpoint: resume stays exact


@pytest.mark.parametrize("params", [
    lambda: [nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(3, device="meta"))],  # two devices
    lambda: [nn.Parameter(torch.zeros(3, device="meta"))],  # a device without the kernel
], ids=["two devices", "no fused kernel"])
def test_parameters_the_fused_kernel_cannot_take_get_torchs_default_adam(params):
    opt = make_optimizer(params(), "adam", lr=0.1, weight_decay=0.0)
    assert isinstance(opt, torch.optim.Adam) and not opt.param_groups[0]["fused"]


def test_sgd_is_plain_sgd():
    opt = make_optimizer([nn.Parameter(torch.zeros(2))], "sgd", lr=0.1, weight_decay=0.0)
    assert type(opt) is torch.optim.SGD and opt.defaults["lr"] == 0.1


def _with_grads(scale: float) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(5)
    params = [nn.Parameter(torch.zeros(7, 3)), nn.Parameter(torch.zeros(4))]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * scale
    return params


@pytest.mark.parametrize("scale, max_norm", [(0.01, 1.0), (10.0, 1.0), (1.0, math.inf)], ids=["below", "above", "off"])
@pytest.mark.parametrize("host_check", [True, False])
def test_clipping_gives_torchs_norm_and_gradients_exactly(scale, max_norm, host_check):
    ours, ref = _with_grads(scale), _with_grads(scale)
    norm = clip_grad_norm(ours, max_norm, host_check)
    want = torch.nn.utils.clip_grad_norm_(ref, max_norm)
    assert torch.equal(norm, want)
    for a, b in zip(ours, ref):
        assert torch.equal(a.grad, b.grad)
    if scale > 1:
        assert torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in ours])) < 1.001  # it did clip


def test_clipping_on_a_host_skips_the_rescale_pass_when_its_factor_is_one(monkeypatch):
    def rescaled(*a, **k):
        raise AssertionError("rescaled by a factor of 1")

    monkeypatch.setattr(torch.nn.utils, "clip_grads_with_norm_", rescaled)
    clip_grad_norm(_with_grads(0.01), 1.0, host_check=True)  # no pass over the gradients
    with pytest.raises(AssertionError):
        clip_grad_norm(_with_grads(0.01), 1.0, host_check=False)  # a GPU: deciding would cost a host sync
