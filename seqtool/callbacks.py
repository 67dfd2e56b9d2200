"""What the trainer reports, and to whom: the Callbacks it calls, several as one, and per-layer gradient norms for those that ask."""
from __future__ import annotations

import re

import torch


class Callbacks:
    """What the trainer reports; the CLI renders it. Every method may be left as is.

    A callback that sets ``wants_layer_grad_norms`` also gets ``layer_grad_norms`` in on_log and on_eval:
    the gradient norm of each layer (parameters grouped by module and RNN layer) at the step just taken.
    """

    wants_layer_grad_norms = False

    def on_start(self, info: dict) -> None: ...
    def on_log(self, record: dict) -> None: ...
    def on_eval(self, record: dict) -> None: ...
    def on_end(self, summary: dict) -> None: ...


class AllOf(Callbacks):
    """Several callbacks as one, called in order."""

    def __init__(self, *callbacks: Callbacks):
        self.callbacks = callbacks
        self.wants_layer_grad_norms = any(getattr(c, "wants_layer_grad_norms", False) for c in callbacks)  # duck-typed callbacks too

    def _each(self, method: str, payload: dict) -> None:
        for c in self.callbacks:
            getattr(c, method)(payload)

    def on_start(self, info: dict) -> None:
        self._each("on_start", info)

    def on_log(self, record: dict) -> None:
        self._each("on_log", record)

    def on_eval(self, record: dict) -> None:
        self._each("on_eval", record)

    def on_end(self, summary: dict) -> None:
        self._each("on_end", summary)


def layer_grad_norms(model: torch.nn.Module) -> dict[str, float]:
    """The gradient norm of each layer: parameters grouped by module, and nn.RNN/LSTM/GRU's by layer
    ('rnn.weight_hh_l1' -> 'rnn.l1'); parameters without a gradient are left out."""
    sq: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters():
        if p.grad is not None:
            head, _, last = name.rpartition(".")
            m = re.search(r"_l(\d+)(_reverse)?$", last)
            group = f"{head}.l{m[1]}{m[2] or ''}" if m else (head or last)
            sq[group] = sq.get(group, 0.0) + p.grad.detach().float().pow(2).sum()
    return {k: float(v) ** 0.5 for k, v in sq.items()}
