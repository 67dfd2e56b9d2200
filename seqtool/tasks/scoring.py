"""Run a classifier or tagger over a dataset: its loss, its predictions, and the task's scores.

What validation inside training and ``seqtool eval`` both call. Batches go in length order (no
shuffling), and predictions are put back in the dataset's own order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqtool.tasks.batches import TaskData
from seqtool.tasks.metrics import ClassificationReport, TaggingReport, classification_report, tagging_report


@dataclass
class Scored:
    loss: float  # classify: mean nats per example; tag: per token (softmax) or per sentence (CRF)
    predictions: list  # class ids, or a list of tag ids per example
    probabilities: np.ndarray | None  # classify: (N, C)
    report: ClassificationReport | TaggingReport

    @property
    def metric(self) -> tuple[str, float]:
        """The figure a run is selected by: accuracy; entity F1 for entity tags, else token accuracy."""
        r = self.report
        if isinstance(r, ClassificationReport):
            return "accuracy", r.accuracy
        return ("f1", r.f1) if r.scheme is not None else ("token_accuracy", r.token_accuracy)


@torch.no_grad()
def score(model, data: TaskData, names: list[str], device, batch_size: int = 64) -> Scored:
    """Loss, predictions and the report of ``model`` on ``data``; ``names`` are the label or tag names."""
    was_training = model.training
    model.eval()
    preds: list = [None] * len(data)
    probs = np.zeros((len(data), len(names)), dtype=np.float32) if data.kind == "classify" else None
    total, count = 0.0, 0
    for idx in data.in_order(batch_size):
        ids, lengths, targets = (t.to(device) for t in data.batch(idx))
        if data.kind == "classify":
            logits = model(ids, lengths).float()
            total += float(torch.nn.functional.cross_entropy(logits, targets, reduction="sum"))
            count += len(idx)
            p = torch.softmax(logits, -1).cpu().numpy()
            for j, i in enumerate(idx):
                probs[i], preds[i] = p[j], int(p[j].argmax())
        else:
            n = len(idx) if model.crf is not None else int(lengths.sum())
            total += float(model.loss(ids, lengths, targets)) * n
            count += n
            for i, path in zip(idx, model.decode(ids, lengths)):
                preds[i] = path
    model.train(was_training)
    if data.kind == "classify":
        report = classification_report([names[t] for t in data.targets], [names[p] for p in preds], labels=names)
    else:
        report = tagging_report([[names[t] for t in tags] for tags in data.targets], [[names[t] for t in p] for p in preds])
    return Scored(total / max(count, 1), preds, probs, report)
