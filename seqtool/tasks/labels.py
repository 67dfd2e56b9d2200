"""Classification and tagging as the trainer's task (the counterpart of ``seqtool.tasks.lm.LMTask``).

``TaskSpec`` is what a run of either task records beside its model config: the kind, the label or
tag names (index = output unit), the head's options. ``build_head`` makes the model it describes.
``LabelTask`` gives the trainer one bucketed batch per step (epoch order seeded, so resume replays
it), the loss (optionally class-weighted), and validation: the task's scores, with the run's best
checkpoint chosen by accuracy (classify) or entity F1 / token accuracy (tag), not by the loss.

On a distributed run each process takes its contiguous slice of every planned batch, and weights
its loss by its slice's share of the batch's denominator (examples, tokens, or class weights), so
DDP's gradient average is the gradient of the whole batch's loss: N processes train as one. Validation
is shared out by batch and its sums (loss, confusion matrix, tagging counts) added up over the processes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from seqtool.tasks.batches import EpochBatches, TaskData
from seqtool.tasks.scoring import sharded_score

KINDS = ("classify", "tag")


@dataclass
class TaskSpec:
    kind: str  # classify | tag
    labels: list[str]  # class or tag names; index = output unit
    pool: str = "last"  # classify: last | mean | max | attention
    bidirectional: bool = False
    crf: bool = False  # tag: a linear-chain CRF output layer
    class_weights: list[float] | None = None  # classify: per-class loss weights ('--class-weights auto')
    char_features: str = "none"  # none | lstm | cnn (seqtool/models/charfeat.py)
    char_dim: int = 32  # character embedding width
    char_hidden: int = 64  # lstm: units per direction; cnn: filters
    alphabet: str = ""  # the training tokens' characters; char id = position + 2
    word_dropout: float = 0.0  # training: probability that a token id becomes the OOV id
    reading: dict = dataclasses.field(default_factory=dict)  # how train read its files (format, columns): eval's defaults

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TaskSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def build_head(mcfg, spec: TaskSpec):
    from seqtool.models.charfeat import CharEncoder
    from seqtool.models.heads import SequenceClassifier, SequenceTagger

    chars = None if spec.char_features == "none" else CharEncoder(spec.char_features, len(spec.alphabet), spec.char_dim, spec.char_hidden)
    if spec.kind == "classify":
        return SequenceClassifier(mcfg, len(spec.labels), spec.pool, spec.bidirectional, chars)
    return SequenceTagger(mcfg, len(spec.labels), spec.bidirectional, spec.crf, chars)


def _columns(b, cols: slice):
    """Examples ``cols`` of a Batch (its columns); character features keep the batch's forms, indexed by the columns' tokens."""
    chars = None if b.chars is None else b.chars._replace(index=b.chars.index[:, cols])
    return b._replace(ids=b.ids[:, cols], lengths=b.lengths[cols], targets=b.targets[cols] if b.targets.dim() == 1 else b.targets[:, cols], chars=chars)


class LabelTask:
    def __init__(self, spec: TaskSpec, train: TaskData, val: TaskData, batch_size: int, seed: int, device: torch.device,
                 oov_id: int | None = None, dist=None):
        self.spec, self.train, self.val, self.device, self.dist = spec, train, val, device, dist
        self.kind = spec.kind
        self.batches = EpochBatches(train, batch_size, seed, spec.word_dropout, oov_id)
        self.per_epoch = self.batches.per_epoch  # the same count every epoch: only the order changes
        self.tokens_per_step = int(round(batch_size * train.lengths.mean()))
        self.carry = None  # nothing is carried from one batch to the next
        self.weight = torch.tensor(spec.class_weights, dtype=torch.float32, device=device) if spec.class_weights else None
        self.batch_size = batch_size
        self.scheme = self._scheme()  # the validation set is fixed: its tag scheme too
        self.metric_name = "accuracy" if self.kind == "classify" else "f1" if self.scheme else "token_accuracy"

    def probe(self, model) -> torch.Tensor:
        b = self.train.batch(np.array([0])).to(self.device)
        return model(b.ids, b.lengths, b.chars)

    def loss(self, model, window: int, epoch: int):
        self.batches.load_state_dict({"epoch": epoch, "index": window})
        b = self.batches.next()  # the whole planned batch, word dropout and all
        if self.dist is None:
            b = b.to(self.device)
            return model.loss(b.ids, b.lengths, b.targets, self.weight, chars=b.chars), None, int(b.lengths.sum())
        lo, hi = self.dist.share(len(b.lengths))
        cols = slice(lo, hi) if hi > lo else slice(0, 1)  # a process left without an example runs one weighted 0: DDP needs every backward
        scale = self.dist.world * self._denominator(b, slice(lo, hi)) / self._denominator(b, slice(None))
        b = _columns(b, cols).to(self.device)
        return model.loss(b.ids, b.lengths, b.targets, self.weight, chars=b.chars) * scale, None, int(b.lengths.sum()) if hi > lo else 0

    def _denominator(self, b, cols: slice) -> float:
        """What the model's loss divides by for these columns of a batch: examples (or their class weights), tokens
        (or their tags' weights), sentences (a CRF)."""
        n = len(b.lengths[cols])
        if self.kind == "tag" and self.spec.crf or (self.kind == "classify" and self.weight is None):
            return float(n)
        if self.kind == "classify":
            ys = b.targets[cols]
        else:
            mask = torch.arange(b.ids.shape[0])[:, None] < b.lengths[cols][None, :]  # (L, B') real tokens
            ys = b.targets[:, cols][mask]
        return float(len(ys)) if self.weight is None else float(self.weight.cpu()[ys].sum())

    def keep(self, model, state) -> None:
        pass

    def drop(self) -> None:
        pass

    def checkpoint_carry(self, model):
        return None

    def restore_carry(self, full, model) -> None:
        pass

    def validate(self, model, autocast: dict) -> tuple[float, float, dict]:
        """(validation loss, the criterion to minimise, the fields for the metrics line); on a distributed run each
        process scores its share of the validation batches and the sums are added up: every process reports the same."""
        with torch.autocast(**autocast):
            loss, report = sharded_score(model, self.val, self.spec.labels, self.device, self.batch_size, self.scheme, self.dist)
        name = self.metric_name
        value = report.accuracy if self.kind == "classify" else getattr(report, name)
        fields = {"val_loss": loss, f"val_{name}": value}
        if self.kind == "classify":
            fields["val_macro_f1"] = report.macro_f1
        elif self.scheme is not None:
            fields["val_token_accuracy"] = report.token_accuracy
        return loss, -value, fields  # higher is better: the trainer minimises its negative

    def train_fields(self, train_loss: float | None) -> dict:
        return {}

    def _scheme(self) -> str | None:
        """The validation tags' entity scheme (None: not entity tags, or a classifier)."""
        if self.kind == "classify":
            return None
        from seqtool.tasks.metrics import detect_scheme

        return detect_scheme([[self.spec.labels[t] for t in tags] for tags in self.val.targets])

    def summary_fields(self, last: dict | None, best: float | None) -> dict:
        name = self.metric_name
        return {"val_loss": last and last["val_loss"], f"val_{name}": last and last.get(f"val_{name}"),
                "metric": name, f"best_val_{name}": None if best is None else -best}
