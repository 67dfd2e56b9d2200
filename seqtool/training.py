"""The training loop: steps, budgets, checkpoints, metrics - for any task.

The trainer knows nothing about terminals: it reports through a ``Callbacks`` object and writes
the run directory (metrics.jsonl, best.pt, last.pt). What is trained on comes from a task object:
``seqtool.tasks.lm.LMTask`` (teacher forcing with truncated BPTT over id streams) or
``seqtool.tasks.labels.LabelTask`` (classification and tagging). A task says how many steps make an
epoch, gives the loss of step ``window`` of the epoch (and a state to carry to the next one),
validates, and names its metrics; the trainer does the rest the same way for all of them:
learning-rate schedule, clipping, NaN checks, budgets, best/last checkpoints, exact resume.
On a distributed run (torchrun; ``dist``, a ``seqtool.distributed.Dist``) every process runs this
loop on its share of the task, the model under DDP; the loss and token counts of a step are summed
over the processes (the loss reported is the global mean), the decision to stop is agreed after
every step (a signal, the time budget on any process), and only process 0 writes files.
"""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch

from seqtool.averaging import WeightAverage
from seqtool.callbacks import Callbacks, layer_grad_norms
from seqtool.checkpoint import save_checkpoint
from seqtool.devices import set_up_precision
from seqtool.errors import CheckpointError, SeqtoolError
from seqtool.models.state import state_to
from seqtool.optim import clip_grad_norm, make_optimizer
from seqtool.run_writer import RunWriter
from seqtool.schedule import LRSchedule
from seqtool.train_config import TrainConfig
from seqtool.train_meter import Meter


class TrainingDiverged(SeqtoolError):
    """The loss or the gradient became NaN or infinite (more often than --skip-nonfinite allows)."""

    same_on_every_process = True  # a distributed run checks the global loss and gradient norm


class Trainer:
    def __init__(
        self,
        model: torch.nn.Module,
        cfg: TrainConfig,
        task,
        run_dir: Path,
        checkpoint_extra: dict,
        device: torch.device,
        callbacks: Callbacks | None = None,
        dist=None,
    ):
        self.model, self.cfg, self.run_dir, self.device = model, cfg.validate(), Path(run_dir), device
        self.extra = checkpoint_extra  # model_config, tokenizer, data description: saved in every checkpoint
        self.cb = callbacks or Callbacks()
        self.dist = dist
        self.is_main = dist is None or dist.is_main
        self.net = model  # what the task's loss runs: the model, or the model under DDP once fit starts
        self.stop_requested = False
        self.task = task
        self.windows = task.per_epoch  # steps in one epoch
        self.total_steps = cfg.max_steps
        if cfg.epochs is not None:
            by_epochs = cfg.epochs * self.windows
            self.total_steps = by_epochs if self.total_steps is None else min(self.total_steps, by_epochs)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(self.params, cfg.optimizer, cfg.lr, cfg.weight_decay)  # Adam fused where torch can
        self.schedule = LRSchedule(cfg.schedule, cfg.warmup, self.total_steps, cfg.time_budget)
        self.bf16_kernel, self.autocast, self.precision_note = set_up_precision(
            model, cfg.precision, device, lambda: task.probe(model), cfg.batch_size)
        # Position and carried state; restored exactly on resume.
        self.step = 0
        self.epoch = 0
        self.window = 0  # the step within the epoch
        self.best_val = math.inf  # the task's validation criterion, lower is better
        self.bad_evals = 0
        self.elapsed_before = 0.0
        self.skipped = 0  # steps with a NaN/inf loss or gradient left out (--skip-nonfinite)
        self.tokens_seen: int | None = 0  # up to the last log line (None: resumed from a checkpoint that did not count them)
        self.saved_step: int | None = None  # the step of the last.pt on disk, when this trainer knows one
        self.eval_every = cfg.eval_every or self.windows
        self.meter = Meter(device, cfg.clip_norm if cfg.clip_norm > 0 else math.inf)  # the log interval under way
        self.writer = RunWriter(self.run_dir, self.is_main)  # metrics.jsonl
        self.average = WeightAverage(cfg.average_weights, cfg.ema_decay) if cfg.average_weights != "off" else None
        self._average_time_reached = False  # --average-start reached by the time budget (agreed by every process)

    def param_count(self) -> int:
        """Every parameter of the model, trainable or frozen."""
        return sum(p.numel() for p in self.model.parameters())

    # ---------------------------------------------------------------- checkpoints

    def state(self) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            **self.extra,
            "train_config": self.cfg.to_dict(),
            # The model the user gets: the averaged weights once averaging has started; the raw ones go on training.
            "model_state": self.average.state_dict_of(self.model) if self.average else {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            **(self.average.checkpoint(self.model) if self.average else {}),
            "optimizer_state": self.optimizer.state_dict(),
            "schedule_state": self.schedule.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "window": self.window,
            "hidden": state_to(self.task.checkpoint_carry(self.model), "cpu"),  # all columns, whatever the process count
            "best_val": self.best_val,
            "bad_evals": self.bad_evals,
            "elapsed": self.elapsed_before + self._elapsed(),
            "rng": rng,
            "meter": self.meter.state_dict(),
            "skipped_steps": self.skipped,
            "tokens_seen": self.tokens_seen,
            "average_time_reached": self._average_time_reached,
        }

    def restore(self, ckpt: dict) -> None:
        """Continue exactly where ``ckpt`` stopped (weights, optimizer, schedule, position, state, RNG)."""
        self.model.load_state_dict(ckpt["model_state"])
        if self.average is not None:  # the average is model_state; the raw weights come back from train_weights
            self.average.restore(ckpt, self.model)
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.schedule.load_state_dict(ckpt["schedule_state"])
        self.step, self.epoch, self.window = int(ckpt["step"]), int(ckpt["epoch"]), int(ckpt["window"])
        self.task.restore_carry(state_to(ckpt.get("hidden"), self.device), self.model)
        self.best_val, self.bad_evals = float(ckpt["best_val"]), int(ckpt["bad_evals"])
        self.elapsed_before = float(ckpt.get("elapsed", 0.0))
        self._average_time_reached = bool(ckpt.get("average_time_reached", False))
        self.skipped, self.saved_step = int(ckpt.get("skipped_steps", 0)), self.step
        self.tokens_seen = None if ckpt.get("tokens_seen") is None else int(ckpt["tokens_seen"])
        if "meter" in ckpt:  # the steps since the last log line: the resumed run logs the line the whole run would
            self.meter.load_state_dict(ckpt["meter"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if "cuda" in ckpt["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])

    def trim_metrics(self) -> None:
        """metrics.jsonl as it was at the restored step (see RunWriter.trim)."""
        self.writer.trim(self.step)

    def save(self, name: str, metrics: dict, directory: Path | None = None) -> Path | None:
        """Write ``name``.pt to the run directory (or ``directory``: a run still being staged)."""
        state = self.state()  # on every process: a distributed run gathers the carried state
        if not self.is_main:
            return None
        path = Path(directory or self.run_dir) / f"{name}.pt"
        try:
            save_checkpoint(path, {**state, "metrics": metrics})
        except CheckpointError:
            if not path.parent.is_dir():
                raise self.writer.failure(path, None) from None
            raise
        if name == "last":
            self._saved_at, self.saved_step = time.monotonic(), self.step
        return path

    def _save_due(self) -> bool:
        """--save-every: a step count or a time since last.pt was last written (by any save)."""
        steps, seconds = self.cfg.save_interval()
        if steps is not None:
            return self.step % steps == 0
        return seconds is not None and time.monotonic() - self._saved_at >= seconds

    # ---------------------------------------------------------------- evaluation

    def evaluate(self) -> tuple[float, float, dict]:
        """The task's validation: (loss, criterion to minimise, metrics fields), in eval mode, of the
        averaged weights once --average-weights has started."""
        self.model.eval()
        try:
            with self.average.swapped_in(self.model) if self.average else contextlib.nullcontext():
                loss, criterion, fields = self.task.validate(self.model, self.autocast)
            return loss, criterion, {**fields, **({"averaged_steps": self.average.count} if self.average and self.average.started else {})}
        finally:
            self.model.train()

    # ---------------------------------------------------------------- the loop

    def _elapsed(self) -> float:
        return time.monotonic() - self._t0 if hasattr(self, "_t0") else 0.0

    def fit(self) -> dict:
        """Train until a budget, early stopping or an interrupt; the summary. Why it stopped is also added
        to metrics.jsonl's last line as ``stopped`` (``diverged`` when it raises TrainingDiverged)."""
        try:
            return self._fit()
        except TrainingDiverged:
            self._mark_end("diverged", must=False)
            raise
        except (RuntimeError, SeqtoolError) as e:  # a collective (DDP's all-reduce in backward, ours) when another process died or hangs
            from seqtool.distributed import DistributedError, is_comm_error, lost_peer

            if self.dist is None or not (isinstance(e, DistributedError) or (isinstance(e, RuntimeError) and is_comm_error(e))):
                raise
            kept = f"{self.run_dir / 'last.pt'} (step {self.saved_step:,})" if self.saved_step is not None else "no checkpoint"
            raise lost_peer(e, kept, self.run_dir) from None

    def _fit(self) -> dict:
        cfg = self.cfg
        self._t0 = self._saved_at = time.monotonic()
        self.meter.start_clock(self._t0)  # the first line's speed counts from here, not from when the trainer was built
        self.model.train()
        if self.dist is not None:
            self.net = self.dist.wrap(self.model, self.device)
        eval_every = self.eval_every
        self.cb.on_start({
            "step": self.step, "total_steps": self.total_steps, "windows_per_epoch": self.windows, "task": self.task.kind,
            "tokens_per_step": self.task.tokens_per_step, "device": str(self.device), "time_budget": cfg.time_budget, "run_dir": str(self.run_dir),
            "params": self.param_count(),
            "precision": self.precision, "precision_note": self.precision_note, "precision_by_auto": cfg.precision == "auto",
        })
        meter = self.meter
        last: dict | None = None  # the latest validation's fields
        last_rec: dict = {}
        stop_reason = None
        while stop_reason is None:
            lr = self._train_step(meter)
            just_evaluated = False
            rec = None
            if self.step % cfg.log_every == 0 or self.step % eval_every == 0:
                rec = last_rec = self._record(meter, lr)
            if self.step % eval_every == 0:
                last = self._validate(rec)
                just_evaluated = True
                if cfg.patience is not None and self.bad_evals >= cfg.patience:
                    stop_reason = f"early stopping: no validation improvement in {cfg.patience} evaluations"
            elif rec is not None:
                self.writer.append(rec)
                self.cb.on_log(self._with_layer_norms(rec))
            save_due = not just_evaluated and self._save_due()  # bounds what a kill (SIGKILL, power loss) can take
            if stop_reason is None:
                stop_reason, save_due = self._agree(save_due)
            if save_due and stop_reason != "interrupted":  # an interrupted run saves below
                self._refuse_spoiled_weights(lr)
                self.save("last", {"val_loss": last and last["val_loss"]})
        if stop_reason == "interrupted":  # agreed by every process (a signal that came later on one does not count)
            path = self.save("last", {"val_loss": last and last["val_loss"]})
            return self._end(self._summary(stop_reason, last, path))
        if not just_evaluated:
            # Steps since the last log line are reported with the final validation; when the last step
            # was just logged, its line gains the validation figures.
            last = self._validate(self._record(meter, lr) if meter.steps else last_rec)
        return self._end(self._summary(stop_reason, last, self.run_dir / "last.pt"))

    def _end(self, summary: dict) -> dict:
        self._mark_end(summary["stopped"])
        self.cb.on_end(summary)
        return summary

    def _mark_end(self, reason: str, must: bool = True) -> None:
        self.writer.mark_end({"stopped": reason, "params": self.param_count()}, self.step, must)

    def _train_step(self, meter: "Meter") -> float:
        """One step of the task (an LM window, a batch of labelled examples): forward, backward, clip,
        update. Returns the learning rate used."""
        cfg = self.cfg
        lr = cfg.lr * self.schedule.factor(self.step, self.elapsed_before + self._elapsed())
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        with torch.autocast(**self.autocast):
            loss, carry, tokens = self.task.loss(self.net, self.window, self.epoch)  # a mean over its tokens/examples
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # under DDP: the gradients averaged over the processes
        if self.dist is not None:
            loss, tokens = self.dist.step_totals(loss, tokens)
        # Clip the global gradient norm (Pascanu et al. 2013): exploding gradients, the RNN lecture's (see
        # README) "Vanishing and Exploding Gradient Problem". The norm is returned before clipping.
        norm = clip_grad_norm(self.params, meter.clip, host_check=self.device.type == "cpu")
        skipped = self._check_now() and not bool(torch.isfinite(loss.detach()) & torch.isfinite(norm))  # one host sync for both
        if skipped:
            self._skip_or_stop(loss, norm, lr)
            self.optimizer.zero_grad(set_to_none=True)  # skipped: no update, and this step's carried state is dropped
            self.task.drop()
            meter.skip(tokens)
        else:
            self.optimizer.step()
            self.task.keep(self.model, carry)
            meter.add(loss, norm, tokens)
        self.step += 1
        if self.average is not None and not skipped and (self.average.started or self._average_due()):
            self.average.update(self.model)
        self.window += 1
        if self.window >= self.windows:
            self.window = 0
            self.epoch += 1
        return lr

    def _check_now(self) -> bool:
        """Whether this step's loss and gradient norm are checked before the update.

        Always on CPU, where the check is free, and when bad steps are to be skipped. On a GPU the check
        is a host sync, so otherwise only before a step that is logged, validated or saved: a bad step in
        between spoils the weights, and the next check stops the run before they reach a file.
        """
        if self.device.type == "cpu" or self.cfg.skip_nonfinite:
            return True
        upcoming = self.step + 1
        return any(n and upcoming % n == 0 for n in (self.cfg.log_every, self.eval_every, self.cfg.save_interval()[0]))

    def _refuse_spoiled_weights(self, lr: float) -> None:
        """Before a time-based save on a GPU: steps since the last check that were not checked one by one
        (``_check_now``) must not have had a NaN/inf loss or gradient, or the save would keep spoiled weights."""
        m = self.meter
        if self.device.type != "cpu" and not self.cfg.skip_nonfinite and m.steps and not bool(torch.isfinite(m.loss + m.norm)):
            self._skip_or_stop(m.loss / m.steps, m.norm / m.steps, lr, since=self.step - m.steps)

    def _skip_or_stop(self, loss: torch.Tensor, norm: torch.Tensor, lr: float, since: int | None = None) -> None:
        """Count a step with a NaN/inf loss or gradient as skipped, or raise TrainingDiverged once --skip-nonfinite is spent."""
        allowed = self.cfg.skip_nonfinite
        if self.skipped < allowed:
            self.skipped += 1
            return
        value = float(loss.detach())
        what = f"the loss became {value}" if not math.isfinite(value) else f"the gradient norm became {float(norm)} (the loss was {value:.4g})"
        skipped = f"; {self.skipped} bad step{'s' if self.skipped != 1 else ''} skipped already" if allowed else ""
        kept = (f"the last good checkpoint, {self.run_dir / 'last.pt'} (step {self.saved_step}), is kept" if self.saved_step is not None
                else "no checkpoint had been saved yet")
        where = f"at step {self.step + 1}" if since is None else f"at one of steps {since + 1}-{self.step} (checked together on this device)"
        raise TrainingDiverged(f"{what} {where} ({kept}{skipped})",
                               fixes=(f"lower --lr (now {lr:.3g})", f"set --clip-norm (now {self.cfg.clip_norm:g})",
                                      f"skip a few such steps with --skip-nonfinite N (now {allowed})"))

    def _record(self, meter: "Meter", lr: float) -> dict:
        """One metrics.jsonl line for the steps since the previous one (the meter starts over)."""
        if self.tokens_seen is not None:
            self.tokens_seen += meter.tokens
        train_loss, tokens_per_sec, grad_norm, clipped_frac = meter.take()
        return {
            "step": self.step, "epoch": round(self.epoch + self.window / self.windows, 4),
            "train_loss": train_loss, **self.task.train_fields(train_loss),
            "tokens_per_sec": tokens_per_sec, "grad_norm": grad_norm, "clipped_frac": clipped_frac, "lr": lr,
            "skipped_steps": self.skipped, "elapsed": round(self.elapsed_before + self._elapsed(), 3),
            **({"tokens": self.tokens_seen} if self.tokens_seen is not None else {}),
        }

    def _with_layer_norms(self, payload: dict) -> dict:
        """A callback payload, with each layer's gradient norm when a callback asked for them."""
        return {**payload, "layer_grad_norms": layer_grad_norms(self.model)} if getattr(self.cb, "wants_layer_grad_norms", False) else payload

    def _validate(self, rec: dict) -> dict:
        """Validate, log, keep best.pt and last.pt; the validation's fields."""
        _, criterion, fields = self.evaluate()
        rec = {**rec, **fields}
        self.schedule.on_validation(criterion)
        improved = criterion < self.best_val
        if improved:
            self.best_val, self.bad_evals = criterion, 0
        else:
            self.bad_evals += 1
        self.writer.append(rec)
        if improved:
            self.save("best", rec)
        self.save("last", rec)
        self.cb.on_eval(self._with_layer_norms({**rec, "best_val": self.best_val, "improved": improved}))
        return fields

    def budget_used(self) -> str | None:
        """Why training would stop before its next step (a reached step, epoch or time budget), or None."""
        return self._budget_reason()

    def _agree(self, save_due: bool) -> tuple[str | None, bool]:
        """(why to stop after this step or None, whether to save last.pt now), the same on every process of a
        distributed run, from one all_reduce a step: a signal to any process stops them all, the time budget
        running out on any one does too, and a --save-every interval due on any one saves on all (a save gathers
        the carried state: a collective). Only the reduced flags decide: a signal that lands after the
        all_reduce is counted at the next step, never by this process alone."""
        if self.dist is None:
            self._average_time_reached = self._average_time_reached or self._time_fraction() >= self.cfg.average_start
            return self._budget_reason(), save_due
        interrupted, late, save, average = self.dist.sum([float(self.stop_requested), float(self._time_up()), float(save_due),
                                                         float(self._time_fraction() >= self.cfg.average_start)], self.device)
        self._average_time_reached = self._average_time_reached or average > 0
        if interrupted > 0:  # only ever set here: a signal handler may have set it during the all_reduce
            self.stop_requested = True
        return self._budget_reason(interrupted=interrupted > 0, time_up=late > 0), save > 0

    def _time_fraction(self) -> float:
        """How much of --time-budget is used (0 without one)."""
        return (self.elapsed_before + self._elapsed()) / self.cfg.time_budget if self.cfg.time_budget else 0.0

    def _average_due(self) -> bool:
        """--average-start reached: by steps (or epochs) now, or by time at the end of an earlier step (the
        same step on every process, so all of them average the same weights)."""
        by_steps = self.total_steps is not None and self.step >= self.cfg.average_start * self.total_steps
        return by_steps or self._average_time_reached

    def _time_up(self) -> bool:
        return self.cfg.time_budget is not None and self.elapsed_before + self._elapsed() >= self.cfg.time_budget  # across resumes

    def _budget_reason(self, interrupted: bool | None = None, time_up: bool | None = None) -> str | None:
        if self.stop_requested if interrupted is None else interrupted:
            return "interrupted"
        if self.total_steps is not None and self.step >= self.total_steps:
            return "epochs done" if self.cfg.epochs is not None and self.step >= self.cfg.epochs * self.windows else "max steps reached"
        if self._time_up() if time_up is None else time_up:
            return "time budget used"
        return None

    def _summary(self, reason: str | None, last_fields: dict | None, last_path) -> dict:
        return {
            "stopped": reason, "task": self.task.kind, "steps": self.step, "epochs": round(self.epoch + self.window / self.windows, 4),
            "elapsed": round(self.elapsed_before + self._elapsed(), 2),
            **self.task.summary_fields(last_fields, self.best_val if math.isfinite(self.best_val) else None),
            "precision": self.precision, "run_dir": str(self.run_dir), "last": str(last_path),
        }

    @property
    def precision(self) -> str:
        """What the matmuls run in: bf16 (autocast or seqtool's bf16 kernel) or fp32."""
        return "bf16" if self.autocast["enabled"] or self.bf16_kernel else "fp32"
