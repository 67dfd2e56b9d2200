"""Weight averaging over the last part of a run: Polyak/EMA or SWA, kept beside the weights being trained.

Training goes on with the raw weights; the average is what validation, best.pt and the run's result use
once averaging has started (``swapped_in``). Polyak & Juditsky 1992 (an exponential moving average,
a' = d a + (1 - d) w) and SWA, Izmailov et al. 2018 (the equal-weight mean of the weights after each step
from the start point on). Both are one lerp per tensor: a' = a + t (w - a), with t = 1 - d for EMA and
t = 1 / (n + 1) for SWA, n the steps averaged so far; the first update copies the weights. seqtool's
models have no BatchNorm, so no statistics need re-estimating afterwards.
"""
from __future__ import annotations

import contextlib

import torch


class WeightAverage:
    """The running average of a model's floating-point state (parameters and float buffers) and how many
    updates it holds; ``count == 0``: not started, the raw weights are the model."""

    def __init__(self, kind: str, decay: float):
        self.kind, self.decay = kind, decay
        self.avg: dict[str, torch.Tensor] = {}
        self.count = 0

    @property
    def started(self) -> bool:
        return self.count > 0

    @staticmethod
    def _floats(model: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current (raw) weights into the average."""
        weights = self._floats(model)
        if not self.avg:
            self.avg = {k: v.detach().clone() for k, v in weights.items()}
        else:
            t = 1.0 - self.decay if self.kind == "ema" else 1.0 / (self.count + 1)
            keys = list(self.avg)
            torch._foreach_lerp_([self.avg[k] for k in keys], [weights[k] for k in keys], t)
        self.count += 1

    def state_dict_of(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The model's state dict with the averaged tensors in place of the raw ones (none before averaging starts), on the CPU."""
        return {k: self.avg.get(k, v).detach().cpu().clone() for k, v in model.state_dict().items()}

    @contextlib.contextmanager
    def swapped_in(self, model: torch.nn.Module):
        """Within the block the model holds the averaged weights (when averaging has started); the raw
        weights are put back after it, bit for bit."""
        if not self.started:
            yield
            return
        live = self._floats(model)
        raw = {k: v.clone() for k, v in live.items()}
        with torch.no_grad():
            for k, v in self.avg.items():
                live[k].copy_(v)
        try:
            yield
        finally:
            with torch.no_grad():
                for k, v in raw.items():
                    live[k].copy_(v)

    def checkpoint(self, model: torch.nn.Module) -> dict:
        """What last.pt needs to go on exactly: the raw weights being trained and the count (the average is
        the checkpoint's model_state). Empty before averaging starts."""
        if not self.started:
            return {}
        return {"average": {"kind": self.kind, "count": self.count},
                "train_weights": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}

    def restore(self, ckpt: dict, model: torch.nn.Module) -> None:
        """From a checkpoint written by ``checkpoint``: the average from its model_state (already loaded into
        ``model``), then the raw weights back into ``model``."""
        if "average" not in ckpt:
            self.avg, self.count = {}, 0
            return
        self.avg = {k: v.detach().clone() for k, v in self._floats(model).items()}
        self.count = int(ckpt["average"]["count"])
        model.load_state_dict(ckpt["train_weights"])
