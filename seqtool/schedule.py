"""The learning-rate schedule: a factor per step for the trainer to multiply its base rate by.

Linear warmup, then cosine decay over the step or time budget, division by 4 after a validation
that did not improve (plateau), or constant; its state is saved with every checkpoint.
"""
from __future__ import annotations

import math

SCHEDULES = ("cosine", "plateau", "none")


class LRSchedule:
    """Learning-rate factor per step: linear warmup, then cosine decay, division by 4 on a plateau, or constant.

    Cosine decays to 10% of the base rate (Loshchilov & Hutter 2017) over the step budget, or over
    the time budget when that is what ends the run. Plateau divides the rate by 4 after a
    validation that did not improve (as pytorch/examples word_language_model does).
    """

    def __init__(self, kind: str, warmup: int, total_steps: int | None, time_budget: float | None):
        self.kind, self.warmup, self.total_steps, self.time_budget = kind, warmup, total_steps, time_budget
        self.scale, self.best = 1.0, math.inf

    def factor(self, step: int, elapsed: float) -> float:
        w = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        if self.kind == "cosine":
            fracs = [step / self.total_steps if self.total_steps else 0.0, elapsed / self.time_budget if self.time_budget else 0.0]
            frac = min(1.0, max(fracs))
            return w * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * frac)))
        if self.kind == "plateau":
            return w * self.scale
        return w

    def on_validation(self, val_loss: float) -> None:
        if self.kind != "plateau":
            return
        if val_loss < self.best - 1e-4:
            self.best = val_loss
        else:
            self.scale /= 4.0

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best}

    def load_state_dict(self, d: dict) -> None:
        self.scale, self.best = float(d["scale"]), float(d["best"])
