"""The running figures of one metrics.jsonl line: loss, gradient norm, clipped and skipped steps, tokens."""
from __future__ import annotations

import time

import torch


class Meter:
    """Loss, gradient norm, clipped steps and tokens between two log lines.

    The sums stay on the device, so a step costs no host sync; ``take`` reads them once per log line.
    They are part of the checkpoint, so a run resumed mid-interval writes the line an uninterrupted run would.
    Steps skipped for a NaN/inf loss or gradient (--skip-nonfinite) count as steps but not in the means.
    """

    def __init__(self, device: torch.device, clip: float):
        self.clip = clip  # the gradient-norm threshold; math.inf when clipping is off
        self.loss = torch.zeros((), device=device)
        self.norm = torch.zeros((), device=device)
        self.clipped = torch.zeros((), device=device)
        self.steps, self.skipped, self.tokens, self.since = 0, 0, 0, time.monotonic()

    def add(self, loss: torch.Tensor, norm: torch.Tensor, tokens: int) -> None:
        self.loss += loss.detach()
        self.norm += norm.detach()
        self.clipped += (norm > self.clip).float()
        self.steps += 1
        self.tokens += tokens

    def skip(self, tokens: int) -> None:
        self.steps += 1
        self.skipped += 1
        self.tokens += tokens

    def start_clock(self, now: float) -> None:
        """Time the interval under way from ``now`` (training starts or resumes): setup is not training."""
        self.since = now

    def state_dict(self) -> dict:
        return {"loss": self.loss.detach().cpu().clone(), "norm": self.norm.detach().cpu().clone(), "clipped": self.clipped.detach().cpu().clone(),
                "steps": self.steps, "skipped": self.skipped, "tokens": self.tokens}

    def load_state_dict(self, d: dict) -> None:
        for name in ("loss", "norm", "clipped"):
            getattr(self, name).copy_(d[name])
        self.steps, self.skipped, self.tokens, self.since = int(d["steps"]), int(d.get("skipped", 0)), int(d["tokens"]), time.monotonic()

    def take(self) -> tuple[float | None, float, float | None, float | None]:
        """(mean loss, tokens/s, mean gradient norm, clipped fraction) since the last take, the means over the
        steps not skipped (None if all were); then start over."""
        now = time.monotonic()
        n = self.steps - self.skipped
        mean = (lambda total: float(total) / n) if n else (lambda total: None)
        figures = (mean(self.loss), self.tokens / max(now - self.since, 1e-9), mean(self.norm), mean(self.clipped))
        self.loss.zero_(), self.norm.zero_(), self.clipped.zero_()
        self.steps, self.skipped, self.tokens, self.since = 0, 0, 0, now
        return figures
