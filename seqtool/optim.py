"""The update of a training step: the optimizer (SGD, Adam or AdamW as ``--optimizer`` names it, Adam's update fused
into one kernel where torch has one) and gradient-norm clipping.

torch's default Adam on a CPU runs about eleven elementwise ops per parameter tensor, one after the
other (``_single_tensor_adam``): on a classifier with a 15,000-word embedding that was a fifth of the
training step. The fused kernel (CPU since torch 2.4, and CUDA) reads and writes each parameter and its
two moments once; it is the same Adam (Kingma & Ba 2015; AdamW: Loshchilov & Hutter 2019), equal to the
reference up to float rounding (tests/test_optim.py), and not lazy: every row of the embedding is updated.
"""
from __future__ import annotations

import torch

#: Device types with torch's fused Adam/AdamW kernel.
FUSED_DEVICES = ("cpu", "cuda")


def fused_ok(params: list[torch.Tensor]) -> bool:
    """Whether the fused kernel takes these parameters: dense floating-point tensors on one CPU or CUDA device."""
    devices = {p.device for p in params}
    return (len(devices) == 1 and next(iter(devices)).type in FUSED_DEVICES
            and all(p.is_floating_point() and p.layout == torch.strided for p in params))


def make_optimizer(params: list[torch.Tensor], name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The optimizer ``name`` (sgd, adam, adamw) over ``params``. A checkpoint's optimizer state keeps the kernel it
    was saved with (torch's ``load_state_dict`` restores the ``fused`` flag), so a resumed run repeats its own arithmetic."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    if fused_ok(params):
        try:
            return cls(params, lr=lr, weight_decay=weight_decay, fused=True)
        except RuntimeError:  # a torch build without the kernel for this device or dtype
            pass
    return cls(params, lr=lr, weight_decay=weight_decay)


def clip_grad_norm(params: list[torch.Tensor], max_norm: float, host_check: bool) -> torch.Tensor:
    """torch's ``clip_grad_norm_``, the same norm and gradients bit for bit; returns the norm before clipping.

    torch rescales every gradient by min(1, max_norm / (norm + 1e-6)) on every step, to spare a GPU the host
    sync that deciding would take. ``host_check`` (tensors on the CPU, where reading the norm is free) skips
    that pass over all gradients when the factor is 1, i.e. when the step is not clipped: x * 1.0 == x.
    """
    norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    if not host_check or not bool(max_norm / (norm + 1e-6) >= 1.0):  # a NaN norm rescales, as torch does
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)
    return norm
