"""Language modelling as the trainer's task: teacher-forced windows of truncated BPTT over id streams.

The training ids are laid out as ``batch_size`` parallel columns (``seqtool.data.batchify``); one
step reads the next ``bptt`` rows as input and the same rows shifted by one as targets, and the
recurrent state is carried from window to window with its graph cut (truncated BPTT), starting
from zeros at each epoch. Validation reads the validation ids the same way and reports the mean
loss in nats per token, with perplexity and bits per token; the lowest validation loss is best.

On a distributed run (``seqtool.distributed``) each process takes its contiguous share of the
columns, training and validation alike, and carries the state of its own columns; gradients are
averaged by DDP and validation sums (loss, tokens) are added up over the processes, so N processes
with B/N columns each compute what one process with B columns does. A checkpoint holds the state
of all B columns, gathered, so a run resumes on any number of processes.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from seqtool.data import batchify, get_window, n_windows, tokens_needed
from seqtool.errors import ConfigError, UsageError
from seqtool.models.scheduled import sampling_probability
from seqtool.models.state import map_state, state_batch_dims


def ppl(loss: float) -> float:
    return math.exp(min(loss, 700.0))


def loss_fields(prefix: str, loss: float | None) -> dict:
    """{prefix}_ppl and {prefix}_bits_per_token of a loss in nats/token (None stays None)."""
    return {f"{prefix}_ppl": None if loss is None else ppl(loss), f"{prefix}_bits_per_token": None if loss is None else loss / math.log(2)}


def check_split(batch_size: int, world: int) -> None:
    """A distributed run shares the B columns out evenly: B must be a multiple of the process count."""
    if batch_size % world:
        raise UsageError(f"--batch-size {batch_size} does not split evenly over {world} processes; give a multiple of {world} "
                         "(the global batch, shared out by column)")


class LMTask:
    kind = "lm"

    def __init__(self, cfg, train_ids: np.ndarray, val_ids: np.ndarray, device: torch.device, dist=None):
        need = tokens_needed(cfg.batch_size, cfg.bptt)
        if len(train_ids) < need:
            raise ConfigError(
                f"the training text has {len(train_ids):,} tokens, and --batch-size {cfg.batch_size} with --bptt {cfg.bptt} "
                f"needs at least {need:,} (batch_size x (bptt + 1))", fixes=("use more text", "smaller --batch-size/--bptt")
            )
        eval_b = max(1, min(cfg.eval_batch_size, len(val_ids) // 2))
        if len(val_ids) < 2 * eval_b or len(val_ids) < 2:
            raise ConfigError(f"the validation text has {len(val_ids)} tokens; it needs at least 2; give more validation text")
        if dist is not None:
            check_split(cfg.batch_size, dist.world)
        self.bptt, self.carry_state, self.dist = cfg.bptt, cfg.carry_state, dist
        self.columns = dist.share(cfg.batch_size) if dist else None  # this process's columns [lo, hi) of B
        self.train_data = batchify(train_ids, cfg.batch_size, device, self.columns)  # (S, B) or (S, B/N): a view, read by window
        self.val_data = batchify(val_ids, eval_b, device, dist.share(eval_b) if dist else None)  # (S', B') or a share of B'
        self.per_epoch = n_windows(self.train_data, cfg.bptt)  # steps in one epoch
        self.tokens_per_step = cfg.batch_size * cfg.bptt
        self.carry = None  # the recurrent state carried into the next window (None: zeros)
        self.scheduled_k = cfg.scheduled_sampling  # None: teacher forcing only
        self.sampling_prob: float | None = None  # the latest step's scheduled-sampling probability

    def probe(self, model) -> torch.Tensor:
        """A tiny forward pass (the first token of one column), e.g. to test a precision on this device."""
        return model(get_window(self.train_data, 0, min(self.bptt, 2))[0][:, :1])[0]

    def loss(self, model, window: int, epoch: int):
        """Mean cross-entropy of window ``window`` (of any epoch: they are all the same) and what to
        count: (loss, new state, tokens)."""
        if window == 0 or not self.carry_state:
            self.carry = None  # a new pass over the columns starts from a zero state
        x, y = get_window(self.train_data, window, self.bptt)  # (T, B) each
        if self.scheduled_k is None:
            loss, state = model.loss(x, y, self.carry)
        else:  # every window of an epoch is one step: this is the run's step count
            self.sampling_prob = sampling_probability(epoch * self.per_epoch + window, self.scheduled_k)
            loss, state = model.loss(x, y, self.carry, sampling=self.sampling_prob)
        return loss, state, y.numel()

    def keep(self, model, state) -> None:
        """After an update: keep the state's values for the next window, cut its graph (truncated BPTT)."""
        self.carry = model.detach_state(state)

    def drop(self) -> None:
        """After a skipped step: this window's state is not carried on."""
        self.carry = None

    def checkpoint_carry(self, model):
        """The carried state of all B columns (gathered from every process on a distributed run)."""
        if self.dist is None or self.carry is None:
            return self.carry
        return map_state(lambda t, d: self.dist.gather(t, d), self.carry, state_batch_dims(model))

    def restore_carry(self, full, model) -> None:
        """Carry on from a checkpoint's state of all B columns (this process's columns of it)."""
        if self.dist is None or full is None:
            self.carry = full
            return
        lo, hi = self.columns
        self.carry = map_state(lambda t, d: t.narrow(d, lo, hi - lo).contiguous(), full, state_batch_dims(model))

    @torch.no_grad()
    def validate(self, model, autocast: dict) -> tuple[float, float, dict]:
        """(validation loss, the criterion to minimise, the fields for the metrics line)."""
        total, count, state = 0.0, 0, None
        for i in range(n_windows(self.val_data, self.bptt) if self.val_data.shape[1] else 0):  # a process may have no columns
            x, y = get_window(self.val_data, i, self.bptt)
            with torch.autocast(**autocast):
                loss, state = model.loss(x, y, state, reduction="sum")
            total += float(loss)
            count += y.numel()
        if self.dist is not None:  # sums, not means: the processes' shares may differ in size
            total, count = self.dist.sum([total, count])
        val = total / count
        return val, val, {"val_loss": val, **loss_fields("val", val)}

    def train_fields(self, train_loss: float | None) -> dict:
        sampling = {} if self.sampling_prob is None else {"sampling_prob": round(self.sampling_prob, 6)}
        return {**loss_fields("train", train_loss), **sampling}

    def summary_fields(self, last: dict | None, best: float | None) -> dict:
        """The end-of-run figures: the last validation's loss, perplexity and bits, and the best loss."""
        val = last["val_loss"] if last else None
        return {"val_loss": val, **loss_fields("val", val), "best_val_loss": best, "best_val_ppl": None if best is None else ppl(best)}
