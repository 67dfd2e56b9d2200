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
from seqtool.errors import ConfigError, SeqtoolError
from seqtool.train_config import TrainConfig


class TrainingDiverged(SeqtoolError):
    """The loss became NaN or infinite."""


def resolve_device(name: str) -> torch.device:
    """auto -> cuda, then mps, then cpu; an unavailable explicit choice is a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ConfigError("--device mps: Apple MPS is not available here; use --device auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"--device {name}: choose auto, cpu, cuda or mps")
    return torch.device(name)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 autocast on a CUDA device with bf16 support, else fp32.

    Not on CPU: with torch 2.13 on an AVX512-BF16 CPU the output layer's matmuls ran 10x slower in
    bf16 and oneDNN had no bf16 LSTM (benchmarks/RESULTS.md, issue 6); ``--precision bf16`` still asks.
    """
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


class LRSchedule:
    """Learning-rate factor per step: linear warmup, then cosine decay, plateau halving, or constant.

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


class Callbacks:
    """What the trainer reports; the CLI renders it. Every method may be left as is."""

    def on_start(self, info: dict) -> None: ...
    def on_log(self, record: dict) -> None: ...
    def on_eval(self, record: dict) -> None: ...
    def on_end(self, summary: dict) -> None: ...


def _to_device(state, device):
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.to(device)
    return type(state)(_to_device(s, device) for s in state)


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
                f"the training text has {len(train_ids):,} tokens; --batch-size {cfg.batch_size} with --bptt {cfg.bptt} "
                f"needs at least {need:,} (batch_size x (bptt + 1)); use more text or smaller --batch-size/--bptt"
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
        try:
            with torch.autocast(**self.autocast):
                logits, _ = self.model(x[:, :1])
            logits.float().sum().backward()
        except RuntimeError as e:
            self.autocast["enabled"] = False
            first = str(e).strip().splitlines()[0][:100]
            asked = "bf16" if self.cfg.precision == "bf16" else "auto (bf16)"
            self.precision_note = f"--precision {asked} is not supported for this model on {self.device.type} ({first}); training in fp32"
        finally:
            self.model.zero_grad(set_to_none=True)

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
            "hidden": _to_device(self.hidden, "cpu"),
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
        self.hidden = _to_device(ckpt.get("hidden"), self.device)
        self.best_val, self.bad_evals = float(ckpt["best_val"]), int(ckpt["bad_evals"])
        self.elapsed_before = float(ckpt.get("elapsed", 0.0))
        torch.set_rng_state(ckpt["rng"]["torch"])
        if "cuda" in ckpt["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        if self.is_main and self.metrics_path.exists():  # drop lines logged after this checkpoint
            lines = [ln for ln in self.metrics_path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= self.step]
            self.metrics_path.write_text("".join(ln + "\n" for ln in lines))

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
        tokens_per_step = cfg.batch_size * cfg.bptt
        self.cb.on_start({
            "step": self.step, "total_steps": self.total_steps, "windows_per_epoch": self.windows,
            "tokens_per_step": tokens_per_step, "device": str(self.device), "time_budget": cfg.time_budget,
            "params": sum(p.numel() for p in self.model.parameters()),
            "precision": "bf16" if self.autocast["enabled"] else "fp32", "precision_note": self.precision_note,
        })
        check_every_step = self.device.type == "cpu"  # a .item() per step is free on CPU, a sync on GPU
        loss_sum = torch.zeros((), device=self.device)
        norm_sum = torch.zeros((), device=self.device)
        clipped = torch.zeros((), device=self.device)
        n_log, t_log, tokens_log = 0, time.monotonic(), 0
        last_val: float | None = None
        last_rec: dict = {}
        stop_reason = None
        just_evaluated = False
        clip = cfg.clip_norm if cfg.clip_norm > 0 else math.inf
        while stop_reason is None:
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
            # Clip the global gradient norm (Pascanu et al. 2013): exploding gradients, lecture
            # "Vanishing and Exploding Gradient Problem". The norm is returned before clipping.
            norm = torch.nn.utils.clip_grad_norm_(self.params, clip)
            if check_every_step or (self.step + 1) % cfg.log_every == 0:
                if not math.isfinite(float(loss.detach())):
                    raise TrainingDiverged(
                        f"the loss became {float(loss.detach())} at step {self.step + 1}; lower --lr (now {lr:.3g}) or set --clip-norm "
                        f"(now {cfg.clip_norm:g}); the last good checkpoint in {self.run_dir} is kept"
                    )
            self.optimizer.step()
            # Truncated BPTT: keep the state's values for the next window, cut its graph.
            self.hidden = self.model.detach_state(hidden)
            loss_sum += loss.detach()
            norm_sum += norm.detach()
            clipped += (norm > clip).float()
            n_log += 1
            tokens_log += y.numel()
            self.step += 1
            self.window += 1
            just_evaluated = False
            if self.window >= self.windows:
                self.window = 0
                self.epoch += 1
            rec = None
            if self.step % cfg.log_every == 0 or self.step % eval_every == 0:
                now = time.monotonic()
                rec = self._record(float(loss_sum) / n_log, tokens_log / max(now - t_log, 1e-9), float(norm_sum) / n_log, float(clipped) / n_log, lr)
                loss_sum.zero_(), norm_sum.zero_(), clipped.zero_()
                n_log, t_log, tokens_log = 0, now, 0
                last_rec = rec
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
            if n_log:  # steps since the last log line: report them with the final validation
                now = time.monotonic()
                rec = self._record(float(loss_sum) / n_log, tokens_log / max(now - t_log, 1e-9), float(norm_sum) / n_log, float(clipped) / n_log, lr)
            else:  # the last step was just logged: its line gains the validation figures
                rec = last_rec
            last_val = self._validate(rec)
        summary = self._summary(stop_reason, last_val, self.run_dir / "last.pt")
        self.cb.on_end(summary)
        return summary

    def _record(self, train_loss: float, tokens_per_sec: float, grad_norm: float, clipped_frac: float, lr: float) -> dict:
        """One metrics.jsonl line for the steps since the previous one."""
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

    def _budget_reason(self) -> str | None:
        if self.stop_requested:
            return "interrupted"
        if self.total_steps is not None and self.step >= self.total_steps:
            return "epochs done" if self.cfg.epochs is not None and self.step >= self.cfg.epochs * self.windows else "max steps reached"
        if self.cfg.time_budget is not None and self._elapsed() >= self.cfg.time_budget:
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


def _ppl(loss: float) -> float:
    return math.exp(min(loss, 700.0))
