"""The training loop: teacher forcing with truncated BPTT, budgets, checkpoints, metrics.

The trainer knows nothing about terminals: it reports through a ``Callbacks`` object and writes
the run directory (metrics.jsonl, best.pt, last.pt). It takes a built model and id streams, so a
distributed wrapper (torchrun/DDP) can later build the model, shard the ids by rank and pass
``is_main`` without changing the loop; only the main process writes files.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from seqtool.checkpoint import save_checkpoint
from seqtool.data import batchify, get_window, n_windows, tokens_needed
from seqtool.devices import autocast_failure, resolve_precision
from seqtool.errors import ConfigError, SeqtoolError
from seqtool.fsio import atomic_write_bytes
from seqtool.models.state import state_to
from seqtool.schedule import LRSchedule
from seqtool.train_config import TrainConfig


class TrainingDiverged(SeqtoolError):
    """The loss became NaN or infinite."""




class Callbacks:
    """What the trainer reports; the CLI renders it. Every method may be left as is."""

    def on_start(self, info: dict) -> None: ...
    def on_log(self, record: dict) -> None: ...
    def on_eval(self, record: dict) -> None: ...
    def on_end(self, summary: dict) -> None: ...


def _metrics_step(line: str) -> int | None:
    """The step of one metrics.jsonl line, or None for a line a crash cut short."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None


class Trainer:
    def __init__(
        self,
        model: torch.nn.Module,
        cfg: TrainConfig,
        train_ids: np.ndarray,
        val_ids: np.ndarray,
        run_dir: Path,
        checkpoint_extra: dict,
        device: torch.device,
        callbacks: Callbacks | None = None,
        is_main: bool = True,
    ):
        self.model, self.cfg, self.run_dir, self.device = model, cfg.validate(), Path(run_dir), device
        self.extra = checkpoint_extra  # model_config, tokenizer, data description: saved in every checkpoint
        self.cb = callbacks or Callbacks()
        self.is_main = is_main
        self.stop_requested = False
        need = tokens_needed(cfg.batch_size, cfg.bptt)
        if len(train_ids) < need:
            raise ConfigError(
                f"the training text has {len(train_ids):,} tokens, and --batch-size {cfg.batch_size} with --bptt {cfg.bptt} "
                f"needs at least {need:,} (batch_size x (bptt + 1))", fixes=("use more text", "smaller --batch-size/--bptt")
            )
        eval_b = max(1, min(cfg.eval_batch_size, len(val_ids) // 2))
        if len(val_ids) < 2 * eval_b or len(val_ids) < 2:
            raise ConfigError(f"the validation text has {len(val_ids)} tokens; it needs at least 2; give more validation text")
        self.train_data = batchify(train_ids, cfg.batch_size, device)  # (S, B)
        self.val_data = batchify(val_ids, eval_b, device)  # (S', B')
        self.windows = n_windows(self.train_data, cfg.bptt)
        self.total_steps = cfg.max_steps
        if cfg.epochs is not None:
            by_epochs = cfg.epochs * self.windows
            self.total_steps = by_epochs if self.total_steps is None else min(self.total_steps, by_epochs)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = self._make_optimizer()
        self.schedule = LRSchedule(cfg.schedule, cfg.warmup, self.total_steps, cfg.time_budget)
        self.autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=resolve_precision(cfg.precision, device) == "bf16")
        self.precision_note = None
        if self.autocast["enabled"]:
            self._check_autocast()
        # Position and carried state; restored exactly on resume.
        self.step = 0
        self.epoch = 0
        self.window = 0
        self.hidden = None
        self.best_val = math.inf
        self.bad_evals = 0
        self.elapsed_before = 0.0
        self.metrics_path = self.run_dir / "metrics.jsonl"

    def _check_autocast(self) -> None:
        """Fall back to fp32 where this device has no bf16 kernel for the model (e.g. oneDNN's LSTM on some CPUs)."""
        x, _ = get_window(self.train_data, 0, min(self.cfg.bptt, 2))
        first = autocast_failure(self.model, x[:, :1], self.autocast)
        if first is not None:
            self.autocast["enabled"] = False
            asked = "bf16" if self.cfg.precision == "bf16" else "auto (bf16)"
            self.precision_note = f"--precision {asked} is not supported for this model on {self.device.type} ({first}); training in fp32"

    def _make_optimizer(self) -> torch.optim.Optimizer:
        c = self.cfg
        if c.optimizer == "sgd":
            return torch.optim.SGD(self.params, lr=c.lr, weight_decay=c.weight_decay)
        if c.optimizer == "adamw":
            return torch.optim.AdamW(self.params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.Adam(self.params, lr=c.lr, weight_decay=c.weight_decay)

    # ---------------------------------------------------------------- checkpoints

    def state(self) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            **self.extra,
            "train_config": self.cfg.to_dict(),
            "model_state": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer_state": self.optimizer.state_dict(),
            "schedule_state": self.schedule.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "window": self.window,
            "hidden": state_to(self.hidden, "cpu"),
            "best_val": self.best_val,
            "bad_evals": self.bad_evals,
            "elapsed": self.elapsed_before + self._elapsed(),
            "rng": rng,
        }

    def restore(self, ckpt: dict) -> None:
        """Continue exactly where ``ckpt`` stopped (weights, optimizer, schedule, position, state, RNG)."""
        self.model.load_state_dict(ckpt["model_state"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.schedule.load_state_dict(ckpt["schedule_state"])
        self.step, self.epoch, self.window = int(ckpt["step"]), int(ckpt["epoch"]), int(ckpt["window"])
        self.hidden = state_to(ckpt.get("hidden"), self.device)
        self.best_val, self.bad_evals = float(ckpt["best_val"]), int(ckpt["bad_evals"])
        self.elapsed_before = float(ckpt.get("elapsed", 0.0))
        torch.set_rng_state(ckpt["rng"]["torch"])
        if "cuda" in ckpt["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        if self.is_main and self.metrics_path.exists():  # drop lines logged after this checkpoint, and a torn last append
            lines = [ln for ln in self.metrics_path.read_text(errors="replace").splitlines() if _metrics_step(ln) in range(self.step + 1)]
            atomic_write_bytes(self.metrics_path, "".join(ln + "\n" for ln in lines).encode())

    def save(self, name: str, metrics: dict) -> Path | None:
        if not self.is_main:
            return None
        path = self.run_dir / f"{name}.pt"
        save_checkpoint(path, {**self.state(), "metrics": metrics})
        return path

    # ---------------------------------------------------------------- evaluation

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean validation loss (nats/token), run in bptt windows with the state carried through."""
        self.model.eval()
        total, count, hidden = 0.0, 0, None
        for i in range(n_windows(self.val_data, self.cfg.bptt)):
            x, y = get_window(self.val_data, i, self.cfg.bptt)
            with torch.autocast(**self.autocast):
                loss, hidden = self.model.loss(x, y, hidden, reduction="sum")
            total += float(loss)
            count += y.numel()
        self.model.train()
        return total / count

    # ---------------------------------------------------------------- the loop

    def _elapsed(self) -> float:
        return time.monotonic() - self._t0 if hasattr(self, "_t0") else 0.0

    def _write_metrics(self, rec: dict) -> None:
        if self.is_main:
            with open(self.metrics_path, "a") as f:
                f.write(json.dumps(rec) + "\n")

    def fit(self) -> dict:
        cfg = self.cfg
        self._t0 = time.monotonic()
        self.model.train()
        eval_every = cfg.eval_every or self.windows
        self.cb.on_start({
            "step": self.step, "total_steps": self.total_steps, "windows_per_epoch": self.windows,
            "tokens_per_step": cfg.batch_size * cfg.bptt, "device": str(self.device), "time_budget": cfg.time_budget,
            "params": sum(p.numel() for p in self.model.parameters()),
            "precision": "bf16" if self.autocast["enabled"] else "fp32", "precision_note": self.precision_note,
        })
        meter = _Meter(self.device, cfg.clip_norm if cfg.clip_norm > 0 else math.inf)
        last_val: float | None = None
        last_rec: dict = {}
        stop_reason = None
        while stop_reason is None:
            lr = self._train_step(meter)
            just_evaluated = False
            rec = None
            if self.step % cfg.log_every == 0 or self.step % eval_every == 0:
                rec = last_rec = self._record(meter, lr)
            if self.step % eval_every == 0:
                last_val = self._validate(rec)
                just_evaluated = True
                if cfg.patience is not None and self.bad_evals >= cfg.patience:
                    stop_reason = f"early stopping: no validation improvement in {cfg.patience} evaluations"
            elif rec is not None:
                self._write_metrics(rec)
                self.cb.on_log(rec)
            if stop_reason is None:
                stop_reason = self._budget_reason()
        if self.stop_requested:
            path = self.save("last", {"val_loss": last_val})
            summary = self._summary(stop_reason, last_val, path)
            self.cb.on_end(summary)
            return summary
        if not just_evaluated:
            # Steps since the last log line are reported with the final validation; when the last step
            # was just logged, its line gains the validation figures.
            last_val = self._validate(self._record(meter, lr) if meter.steps else last_rec)
        summary = self._summary(stop_reason, last_val, self.run_dir / "last.pt")
        self.cb.on_end(summary)
        return summary

    def _train_step(self, meter: "_Meter") -> float:
        """One window of truncated BPTT: forward, backward, clip, update. Returns the learning rate used."""
        cfg = self.cfg
        if self.window == 0 or not cfg.carry_state:
            self.hidden = None  # a new pass over the columns starts from a zero state
        x, y = get_window(self.train_data, self.window, cfg.bptt)  # (T, B) each
        lr = cfg.lr * self.schedule.factor(self.step, self.elapsed_before + self._elapsed())
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        with torch.autocast(**self.autocast):
            loss, hidden = self.model.loss(x, y, self.hidden)  # mean cross-entropy over (T, B)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Clip the global gradient norm (Pascanu et al. 2013): exploding gradients, the RNN lecture's (see
        # README) "Vanishing and Exploding Gradient Problem". The norm is returned before clipping.
        norm = torch.nn.utils.clip_grad_norm_(self.params, meter.clip)
        # A .item() per step is free on CPU, a sync on GPU: there the loss is checked at log steps only.
        if self.device.type == "cpu" or (self.step + 1) % cfg.log_every == 0:
            if not math.isfinite(float(loss.detach())):
                kept = (f"the last good checkpoint in {self.run_dir} is kept" if (self.run_dir / "last.pt").is_file()
                        else "no checkpoint had been saved yet")
                raise TrainingDiverged(
                    f"the loss became {float(loss.detach())} at step {self.step + 1} ({kept})",
                    fixes=(f"lower --lr (now {lr:.3g})", f"set --clip-norm (now {cfg.clip_norm:g})"),
                )
        self.optimizer.step()
        # Truncated BPTT: keep the state's values for the next window, cut its graph.
        self.hidden = self.model.detach_state(hidden)
        meter.add(loss, norm, y.numel())
        self.step += 1
        self.window += 1
        if self.window >= self.windows:
            self.window = 0
            self.epoch += 1
        return lr

    def _record(self, meter: "_Meter", lr: float) -> dict:
        """One metrics.jsonl line for the steps since the previous one (the meter starts over)."""
        train_loss, tokens_per_sec, grad_norm, clipped_frac = meter.take()
        return {
            "step": self.step, "epoch": round(self.epoch + self.window / self.windows, 4),
            "train_loss": train_loss, "train_ppl": _ppl(train_loss), "train_bits_per_token": train_loss / math.log(2),
            "tokens_per_sec": tokens_per_sec, "grad_norm": grad_norm, "clipped_frac": clipped_frac, "lr": lr,
            "elapsed": round(self.elapsed_before + self._elapsed(), 3),
        }

    def _validate(self, rec: dict) -> float:
        val = self.evaluate()
        rec = {**rec, "val_loss": val, "val_ppl": _ppl(val), "val_bits_per_token": val / math.log(2)}
        self.schedule.on_validation(val)
        improved = val < self.best_val
        if improved:
            self.best_val, self.bad_evals = val, 0
        else:
            self.bad_evals += 1
        self._write_metrics(rec)
        if improved:
            self.save("best", rec)
        self.save("last", rec)
        self.cb.on_eval({**rec, "best_val": self.best_val, "improved": improved})
        return val

    def budget_used(self) -> str | None:
        """Why training would stop before its next step (a reached step, epoch or time budget), or None."""
        return self._budget_reason()

    def _budget_reason(self) -> str | None:
        if self.stop_requested:
            return "interrupted"
        if self.total_steps is not None and self.step >= self.total_steps:
            return "epochs done" if self.cfg.epochs is not None and self.step >= self.cfg.epochs * self.windows else "max steps reached"
        if self.cfg.time_budget is not None and self.elapsed_before + self._elapsed() >= self.cfg.time_budget:  # across resumes
            return "time budget used"
        return None

    def _summary(self, reason: str | None, last_val: float | None, last_path) -> dict:
        return {
            "stopped": reason, "steps": self.step, "epochs": round(self.epoch + self.window / self.windows, 4),
            "elapsed": round(self.elapsed_before + self._elapsed(), 2),
            "val_loss": last_val, "val_ppl": _ppl(last_val) if last_val is not None else None,
            "val_bits_per_token": last_val / math.log(2) if last_val is not None else None,
            "best_val_loss": self.best_val if math.isfinite(self.best_val) else None,
            "best_val_ppl": _ppl(self.best_val) if math.isfinite(self.best_val) else None,
            "run_dir": str(self.run_dir), "last": str(last_path),
        }


class _Meter:
    """Loss, gradient norm, clipped steps and tokens between two log lines.

    The sums stay on the device, so a step costs no host sync; ``take`` reads them once per log line.
    """

    def __init__(self, device: torch.device, clip: float):
        self.clip = clip  # the gradient-norm threshold; math.inf when clipping is off
        self.loss = torch.zeros((), device=device)
        self.norm = torch.zeros((), device=device)
        self.clipped = torch.zeros((), device=device)
        self.steps, self.tokens, self.since = 0, 0, time.monotonic()

    def add(self, loss: torch.Tensor, norm: torch.Tensor, tokens: int) -> None:
        self.loss += loss.detach()
        self.norm += norm.detach()
        self.clipped += (norm > self.clip).float()
        self.steps += 1
        self.tokens += tokens

    def take(self) -> tuple[float, float, float, float]:
        """(mean loss, tokens/s, mean gradient norm, clipped fraction) since the last take; then start over."""
        now = time.monotonic()
        n = self.steps
        figures = (float(self.loss) / n, self.tokens / max(now - self.since, 1e-9), float(self.norm) / n, float(self.clipped) / n)
        self.loss.zero_(), self.norm.zero_(), self.clipped.zero_()
        self.steps, self.tokens, self.since = 0, 0, now
        return figures


def _ppl(loss: float) -> float:
    return math.exp(min(loss, 700.0))
