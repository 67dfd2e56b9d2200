"""TrainConfig: the typed, validated description of how to train, saved with every run.

Its job is to hold the training options in plain values that round-trip through JSON and to
reject impossible ones once, with a message naming the option; ``parse_duration`` reads
``--time-budget``. This module does not import torch, so the CLI reads its defaults for ``--help``
without paying for it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from seqtool.errors import UsageError
from seqtool.models.config import FLOAT32_MAX
from seqtool.schedule import SCHEDULES

OPTIMIZERS = ("adam", "adamw", "sgd")
PRECISIONS = ("auto", "fp32", "bf16")  # resolved for a device by seqtool.devices
AVERAGES = ("off", "ema", "swa")  # seqtool.averaging


@dataclass
class TrainConfig:
    """How to train; saved in every run directory and checkpoint."""

    batch_size: int = 32
    bptt: int = 64
    epochs: int | None = None
    max_steps: int | None = None
    time_budget: float | None = None  # seconds
    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup: int = 0
    schedule: str = "cosine"
    clip_norm: float = 1.0  # 0 turns clipping off
    patience: int | None = None  # validations without improvement before stopping
    carry_state: bool = True
    log_every: int = 50
    eval_every: int | None = None  # steps; None: once per epoch
    eval_batch_size: int = 16
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # bf16 where it pays (seqtool.devices.resolve_precision), else fp32
    skip_nonfinite: int = 0  # steps with a NaN/inf loss or gradient to skip before stopping
    save_every: str = "10m"  # last.pt every N steps ("500") or this much time ("10m"); "0": at validations only
    average_weights: str = "off"  # off | ema | swa (seqtool.averaging)
    average_start: float = 0.5  # fraction of the budget (steps, epochs or time) after which averaging starts
    ema_decay: float = 0.999
    scheduled_sampling: float | None = None  # k of the inverse sigmoid decay (seqtool.models.scheduled); language models only

    def validate(self) -> "TrainConfig":
        """Raise UsageError (exit 2) on the first value out of its range; return self so calls can chain.

        Each check is about one option's value; what depends on the corpus (a batch too large for it)
        is checked where the data is known (seqtool.data, seqtool.training).
        """
        def bad(opt: str, v: Any, why: str) -> UsageError:
            return UsageError(f"--{opt} {v}: {why}")

        for name in ("batch_size", "bptt", "log_every", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise bad(name.replace("_", "-"), getattr(self, name), "must be at least 1")
        for name in ("epochs", "max_steps", "eval_every", "patience"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise bad(name.replace("_", "-"), v, "must be at least 1")
        if self.skip_nonfinite < 0:
            raise bad("skip-nonfinite", self.skip_nonfinite, "must be 0 (stop at the first NaN/inf) or more")
        for name in ("lr", "weight_decay", "clip_norm", "time_budget"):  # NaN passes every comparison below
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise bad(name.replace("_", "-"), v, "must be a finite number")
        for name in ("lr", "weight_decay"):  # they scale float32 tensors: a larger number overflows there
            if abs(getattr(self, name)) > FLOAT32_MAX:
                raise bad(name.replace("_", "-"), getattr(self, name), f"must be at most {FLOAT32_MAX:.3g} (the weights are float32)")
        if self.time_budget is not None and self.time_budget <= 0:
            raise bad("time-budget", self.time_budget, "must be positive, e.g. 10m")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", self.optimizer, f"choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", self.schedule, f"choose one of {', '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS:
            raise bad("precision", self.precision, f"choose one of {', '.join(PRECISIONS)}")
        self._validate_extras(bad)
        self.save_interval()  # raises on a value that is neither a step count nor a duration
        if not self.lr > 0:
            raise bad("lr", self.lr, "must be positive")
        if self.weight_decay < 0 or self.warmup < 0 or self.clip_norm < 0:
            raise UsageError("--weight-decay, --warmup and --clip-norm must not be negative")
        return self

    def _validate_extras(self, bad) -> None:
        """Weight averaging and scheduled sampling: NaN fails every range check, so each reads as a positive test."""
        if self.average_weights not in AVERAGES:
            raise bad("average-weights", self.average_weights, f"choose one of {', '.join(AVERAGES)}")
        if not 0 <= self.average_start < 1:
            raise bad("average-start", self.average_start, "must be a fraction of the budget from 0 up to (not including) 1, e.g. 0.5")
        if not 0 < self.ema_decay < 1:
            raise bad("ema-decay", self.ema_decay, "must be between 0 and 1 (not including either), e.g. 0.999")
        k = self.scheduled_sampling
        if k is not None and not (1 <= k and math.isfinite(k)):
            raise bad("scheduled-sampling", k, "must be a finite number k of at least 1 (the schedule's steps scale), e.g. 1000")

    def save_interval(self) -> tuple[int | None, float | None]:
        """``save_every`` as (steps, seconds), at most one of them set; (None, None) when it is "0" (off)."""
        s = str(self.save_every).strip().lower()
        if s.isdigit():
            return (int(s) or None), None
        seconds = parse_duration(s, option="--save-every", example="90s or 10m") if s[-1:] in ("s", "m", "h") else math.nan
        if not (seconds > 0 and math.isfinite(seconds)):  # a bare "1.5" is neither steps nor a duration with its unit
            raise UsageError(f"--save-every {self.save_every}: give a number of steps (500), a duration with its unit (90s, 10m, 1h) or 0 for off")
        return None, seconds

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def parse_duration(s: str, option: str = "--time-budget", example: str = "600, 10m or 1.5h") -> float:
    """'90', '90s', '10m', '1.5h' -> seconds."""
    t = s.strip().lower()
    mult = {"s": 1, "m": 60, "h": 3600}
    try:
        if t and t[-1] in mult:
            return float(t[:-1]) * mult[t[-1]]
        return float(t)
    except ValueError:
        raise UsageError(f"{option} {s}: give a duration such as {example}") from None
