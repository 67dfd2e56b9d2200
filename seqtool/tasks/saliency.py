"""Saliency for classifiers and taggers: how strongly a decision depends on each input position.

The RNN lecture's Design 3 reads a whole sequence and emits one symbol at the end; its
"Vanishing and Exploding Gradient Problem" says why a long input's beginning fades: the gradient
reaching x_t from the end is a product of T - t step Jacobians. Here that argument is measured on
a trained (or fresh) classifier or tagger, with x_t the vector the recurrent body reads (the
embedding or one-hot row of token t; with character features, the word's vector only, its
character features held fixed):

- ``classifier_gradients``: d(score of the predicted class)/d x_t for every position of a padded
  batch (one backward: examples never mix), and ``explain``: per token, the gradient's norm and
  gradient x input, sum_i g_ti x_ti (Simonyan et al. 2014; Shrikumar et al. 2016), for one input each;
- ``classifier_flow``: over many inputs, the gradient norm relative to each input's mean over its
  positions, as a profile over deciles of relative position and over distance from the last token:
  ``last`` pooling decays towards the start, ``mean``/``attention`` pooling and a backward layer do not;
- ``tagger_flow``: ||d score(tag at t)/d x_(t+d)|| for offsets d in -R..R relative to d = 0:
  how far each tag's context reaches left and right (a forward-only tagger sees nothing on its right).

Scores are logits (a tagger's emission scores, also with a CRF). Nothing here prints.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from seqtool.errors import CorpusError
from seqtool.gradients import GradOptions, horizon
from seqtool.models.heads import valid_mask
from seqtool.tasks.batches import TaskData

DECILES = 10


def _leaf_inputs(model, ids: torch.Tensor) -> torch.Tensor:
    return model.inputs(ids).detach().requires_grad_(True)  # (L, B, D); eval mode: no dropout


def classifier_gradients(model, ids: torch.Tensor, lengths: torch.Tensor, chars=None):
    """(logits (B, C), gradients (L, B, D), inputs (L, B, D)): d logit of each example's argmax class / d x_t.

    Zero at padded positions. Each example's logit depends only on its own column, so the gradient
    of their sum gives every example its own gradient in one backward pass.
    """
    model.eval()
    x = _leaf_inputs(model, ids)
    with torch.enable_grad():
        logits = model(ids, lengths, chars, x)  # (B, C)
        chosen = logits.gather(1, logits.argmax(-1, keepdim=True))  # (B, 1)
        (g,) = torch.autograd.grad(chosen.sum(), x)
    return logits.detach(), g, x.detach()


def tagger_gradients(model, ids: torch.Tensor, lengths: torch.Tensor, reach: int, chars=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(norms (L, B, 2R+1), valid (L, B, 2R+1)): ||d score(argmax tag at t)/d x_(t+d)|| for d = -R..R.

    One backward pass per position t (retaining the graph); ``valid`` marks t and t+d inside the sentence.
    """
    model.eval()
    L, B = ids.shape
    x = _leaf_inputs(model, ids)
    mask = valid_mask(lengths.to(ids.device), L)  # (L, B)
    norms = torch.zeros(L, B, 2 * reach + 1, dtype=torch.float64)
    with torch.enable_grad():
        scores = model(ids, lengths, chars, x)  # (L, B, T)
        chosen = scores.gather(2, scores.argmax(-1, keepdim=True)).squeeze(-1) * mask  # (L, B); padding chooses nothing
        for t in range(L):
            (g,) = torch.autograd.grad(chosen[t].sum(), x, retain_graph=t < L - 1)
            n = g.double().norm(dim=-1).cpu()  # (L, B): reach of the tag at t into every position
            for k, d in enumerate(range(-reach, reach + 1)):
                if 0 <= t + d < L:
                    norms[t, :, k] = n[t + d]
    pos = torch.arange(L).view(L, 1, 1) + torch.arange(-reach, reach + 1).view(1, 1, -1)  # (L, 1, 2R+1): t + d
    n_b = lengths.cpu().view(1, B, 1)
    valid = mask.cpu().unsqueeze(-1) & (pos >= 0) & (pos < n_b)
    return norms, valid


# --------------------------------------------------------------------------- one input at a time


@dataclass
class Explanation:
    """One classified input: its tokens' ids, the predicted class, and per-token saliency."""

    ids: list[int]
    label: int
    probabilities: list[float]
    grad_norm: list[float]  # ||d score / d x_t||
    grad_x_input: list[float]  # sum_i (d score / d x_ti) x_ti: signed, for the predicted class


def attributed(model) -> str:
    """What saliency is taken with respect to, in words: x_t, each token's word vector, never its character features."""
    x = "each token's one-hot row" if model.encoder is None else "each token's word embedding"
    return x + (" (its character features held fixed)" if model.chars is not None else "")


def explain(model, data: TaskData, device, batch_size: int = 64) -> list[Explanation]:
    """An Explanation for every example of ``data`` (a classifier's), in the dataset's order."""
    out: list[Explanation | None] = [None] * len(data)
    for idx in data.in_order(batch_size):
        b = data.batch(idx).to(device)
        logits, g, x = classifier_gradients(model, b.ids, b.lengths, b.chars)
        lengths = b.lengths.cpu()
        probs = torch.softmax(logits.float(), -1).cpu().numpy()
        norm = g.double().norm(dim=-1).cpu().numpy()  # (L, B)
        gxi = (g.double() * x.double()).sum(-1).cpu().numpy()  # (L, B)
        for j, i in enumerate(idx):
            n = int(lengths[j])
            out[i] = Explanation(data.seqs[i].tolist(), int(probs[j].argmax()), probs[j].tolist(), norm[:n, j].tolist(), gxi[:n, j].tolist())
    return out


# --------------------------------------------------------------------------- profiles over many inputs


@dataclass
class ClassifierFlow:
    """Where a classifier's decision reaches in its inputs, relative to each input's mean over its positions."""

    name: str
    source: str  # "checkpoint" or "init"
    cell: str
    pool: str
    bidirectional: bool
    examples: int
    threshold: float
    by_decile: list[float]  # relative norm per tenth of the input, first to last (1 = the input's average)
    by_distance: list[float]  # relative norm by distance from the last token, 0 = the last token
    by_distance_count: list[int]  # inputs long enough to have each distance
    first_last_ratio: float  # by_decile[0] / by_decile[-1]: far below 1, the beginning is forgotten
    reach: int | None  # farthest distance from the end still above threshold x the last token's; None: every distance measured

    def to_dict(self) -> dict:
        return {"kind": "classify", **asdict(self)}


@dataclass
class TaggerFlow:
    """How far a tagger's decision at token t reaches into its neighbours t + d."""

    name: str
    source: str
    cell: str
    bidirectional: bool
    examples: int
    tokens: int
    threshold: float
    offsets: list[int]  # -R..R
    by_offset: list[float]  # mean ||d score_t / d x_(t+d)|| over tokens, relative to d = 0
    by_offset_count: list[int]
    reach_left: int | None  # farthest offset to the left still above threshold x the d = 0 value; None: every offset measured
    reach_right: int | None

    def to_dict(self) -> dict:
        return {"kind": "tag", **asdict(self)}


def _reach(profile: np.ndarray, counts: np.ndarray, threshold: float) -> int | None:
    """The last distance before the profile first falls below ``threshold`` x its first value (distances nobody has are left out)."""
    seen = profile[counts > 0]
    h = horizon(seen, threshold) if len(seen) else None
    return None if h is None else h - 1


def pick_examples(data: TaskData, count: int, seed: int, source: str) -> TaskData:
    """At most ``count`` examples of ``data``, a seeded random choice kept in order, with their word forms."""
    if not len(data):
        raise CorpusError(f"{source}: no examples to measure on", fixes=("give --data FILE with one input per line",))
    if len(data) <= count:
        return data
    keep = np.sort(np.random.default_rng(seed).choice(len(data), size=count, replace=False))
    form_ids = None if data.form_ids is None else [data.form_ids[i] for i in keep]  # the form table stays whole
    return TaskData([data.seqs[i] for i in keep], [data.targets[i] for i in keep], data.kind, data.forms, form_ids)


def _decile_profile(rel: np.ndarray, n: int, sums: np.ndarray, counts: np.ndarray) -> None:
    """Add one input's relative norms (n,) to the per-decile sums: each input counts once per decile it has."""
    which = np.floor(DECILES * (np.arange(n) + 0.5) / n).astype(int)  # the decile of each position's centre
    for k in np.unique(which):
        sums[k] += rel[which == k].mean()
        counts[k] += 1


def classifier_flow(model, data: TaskData, opts: GradOptions, name: str, source: str, device) -> ClassifierFlow:
    """The ClassifierFlow of ``model`` over at most ``opts.windows`` examples, distances 0..``opts.steps``-1."""
    data = pick_examples(data, opts.windows, opts.seed, name)
    K = opts.steps
    dec_sum, dec_n = np.zeros(DECILES), np.zeros(DECILES)
    dist_sum, dist_n = np.zeros(K), np.zeros(K, dtype=np.int64)
    for idx in data.in_order(opts.batch_size):
        b = data.batch(idx).to(device)
        _, g, _ = classifier_gradients(model, b.ids, b.lengths, b.chars)
        lengths = b.lengths.cpu()
        norm = g.double().norm(dim=-1).cpu().numpy()  # (L, B)
        for j, n in enumerate(lengths.tolist()):
            v = norm[:n, j]
            rel = v / v.mean() if v.mean() > 0 else np.zeros(n)  # 1 = the input's average position
            _decile_profile(rel, n, dec_sum, dec_n)
            m = min(n, K)
            dist_sum[:m] += rel[::-1][:m]
            dist_n[:m] += 1
    by_decile = np.divide(dec_sum, dec_n, out=np.zeros(DECILES), where=dec_n > 0)
    by_distance = np.divide(dist_sum, dist_n, out=np.zeros(K), where=dist_n > 0)
    return ClassifierFlow(
        name=name, source=source, cell=model.cfg.cell, pool=model.pool, bidirectional=model.bidirectional, examples=len(data),
        threshold=opts.threshold, by_decile=by_decile.tolist(), by_distance=by_distance.tolist(), by_distance_count=dist_n.tolist(),
        first_last_ratio=float(by_decile[0] / by_decile[-1]) if by_decile[-1] > 0 else float("inf"),
        reach=_reach(by_distance, dist_n, opts.threshold),
    )


def tagger_flow(model, data: TaskData, opts: GradOptions, name: str, source: str, device) -> TaggerFlow:
    """The TaggerFlow of ``model`` over at most ``opts.windows`` sentences, offsets -``opts.steps``..``opts.steps``."""
    data = pick_examples(data, opts.windows, opts.seed, name)
    R = opts.steps
    sums, counts = np.zeros(2 * R + 1), np.zeros(2 * R + 1, dtype=np.int64)
    for idx in data.in_order(opts.batch_size):
        b = data.batch(idx).to(device)
        norms, valid = tagger_gradients(model, b.ids, b.lengths, R, b.chars)
        sums += (norms * valid).sum((0, 1)).numpy()
        counts += valid.sum((0, 1)).numpy()
    mean = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    rel = mean / mean[R] if mean[R] > 0 else np.zeros_like(mean)
    return TaggerFlow(
        name=name, source=source, cell=model.cfg.cell, bidirectional=model.bidirectional, examples=len(data), tokens=data.tokens,
        threshold=opts.threshold, offsets=list(range(-R, R + 1)), by_offset=rel.tolist(), by_offset_count=counts.tolist(),
        reach_left=_reach(rel[R::-1], counts[R::-1], opts.threshold), reach_right=_reach(rel[R:], counts[R:], opts.threshold),
    )
