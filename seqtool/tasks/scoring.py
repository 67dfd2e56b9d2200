"""Run a classifier or tagger over a dataset: its loss, its predictions, and the task's scores.

What validation inside training and ``seqtool eval`` both call. Batches go in length order (no
shuffling), and predictions are put back in the dataset's own order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from seqtool.models.heads import valid_mask
from seqtool.tasks.batches import TaskData
from seqtool.tasks.metrics import (ClassificationReport, TagCounts, TaggingReport, classification_report, entity_types, report_from_confusion,
                                   report_from_counts, tag_counts, tagging_report)


@dataclass
class Scored:
    loss: float  # classify: mean nats per example; tag: per token (softmax) or per sentence (CRF); over known labels only
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
    """Loss, predictions and the report of ``model`` on ``data``; ``names`` are the label or tag names.

    ``names`` may go on past the model's outputs (labels training never saw): those examples are
    never predicted right and count as errors in the report, and stay out of the loss.
    """
    probs = np.zeros((len(data), len(names)), dtype=np.float32) if data.kind == "classify" else None
    total, count, preds = _predict(model, data, data.in_order(batch_size), device, probs)
    preds = [preds[i] for i in range(len(data))]
    if data.kind == "classify":
        report = classification_report([names[t] for t in data.targets], [names[p] for p in preds], labels=names)
    else:
        report = tagging_report([[names[t] for t in tags] for tags in data.targets], [[names[t] for t in p] for p in preds])
    return Scored(total / max(count, 1), preds, probs, report)


@torch.no_grad()
def sharded_score(model, data: TaskData, names: list[str], device, batch_size: int, scheme: str | None, dist=None):
    """(loss, report) of ``model`` on ``data``, the work shared out over the processes of a distributed run: each scores
    its contiguous share of the evaluation batches (the batches of a single process, so each example is computed as
    there), then the sums are added up over the processes (loss, its count, the confusion matrix or the tagging
    counts), so every process reports what one process would. ``scheme``: the whole dataset's entity tag scheme."""
    batches = data.in_order(batch_size)
    lo, hi = dist.share(len(batches)) if dist is not None else (0, len(batches))
    total, count, preds = _predict(model, data, batches[lo:hi], device)
    if data.kind == "classify":
        confusion = np.zeros((len(names), len(names)), dtype=np.int64)
        for i, p in preds.items():
            confusion[data.targets[i], p] += 1
        sums = _summed(dist, [total, count, *confusion.ravel().tolist()])
        return sums[0] / max(sums[1], 1), report_from_confusion(names, np.reshape(sums[2:], confusion.shape))
    types = entity_types(names)
    counts = tag_counts([[names[t] for t in data.targets[i]] for i in preds], [[names[t] for t in p] for p in preds.values()], scheme)
    sums = _summed(dist, [total, count, *counts.vector(types)])
    return sums[0] / max(sums[1], 1), report_from_counts(TagCounts.from_vector(sums[2:], types), scheme)


def _summed(dist, values: list[float]) -> list[float]:
    return values if dist is None else dist.sum(values)


def _predict(model, data: TaskData, batches: list[np.ndarray], device, probs: np.ndarray | None = None) -> tuple[float, int, dict]:
    """(loss summed over ``batches``, what it counts, each example's prediction by its index), in eval mode;
    ``probs`` (N, C): filled with a classifier's probabilities."""
    was_training = model.training
    model.eval()
    preds: dict = {}
    total, count = 0.0, 0
    for idx in batches:
        ids, lengths, targets, chars = data.batch(idx).to(device)
        outputs = model.head.out_features
        if data.kind == "classify":
            logits = model(ids, lengths, chars).float()
            known = targets < outputs
            total += float(F.cross_entropy(logits[known], targets[known], reduction="sum")) if bool(known.any()) else 0.0
            count += int(known.sum())
            p = torch.softmax(logits, -1).cpu().numpy()
            for j, i in enumerate(idx):
                preds[i] = int(p[j].argmax())
                if probs is not None:
                    probs[i, : p.shape[1]] = p[j]
        else:
            scores = model(ids, lengths, chars).float()  # (L, B, T)
            mask = valid_mask(lengths, scores.shape[0])
            known = (targets < outputs) | ~mask
            if model.crf is not None:
                whole = known.all(0)  # sentences whose every tag the model knows
                if bool(whole.any()):
                    total += float(model.crf.nll(scores[:, whole], targets[:, whole], mask[:, whole]).sum())
                count += int(whole.sum())
            else:
                sel = mask & known
                total += float(F.cross_entropy(scores[sel], targets[sel], reduction="sum")) if bool(sel.any()) else 0.0
                count += int(sel.sum())
            for i, path in zip(idx, model.best_paths(scores, lengths)):
                preds[i] = path
    model.train(was_training)
    return total, count, preds
