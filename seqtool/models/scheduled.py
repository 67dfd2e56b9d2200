"""Scheduled sampling (Bengio et al. 2015): train a language model partly on its own samples.

Teacher forcing feeds the true previous token at every step; at generation the model reads its own
output instead, a mismatch called exposure bias. Scheduled sampling unrolls the recurrent stack one
timestep at a time, carrying the state, and at each step after the first feeds, with probability p, a
token sampled from the model's previous-step distribution (not its argmax) in place of the true one.
p grows over training by the paper's inverse sigmoid decay of the teacher-forcing probability:
eps(i) = k / (k + exp(i / k)), p(i) = 1 - eps(i). Only training uses this; validation stays teacher-forced.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def sampling_probability(step: int, k: float) -> float:
    """p(step) = 1 - k / (k + exp(step / k)), written as 1 / (1 + k exp(-step / k)) so no exp overflows."""
    return 1.0 / (1.0 + k * math.exp(-step / k))


def scheduled_sampling_loss(model, ids: torch.Tensor, targets: torch.Tensor, state, prob: float, reduction: str = "mean"):
    """Cross-entropy of ``targets`` (T, B) when the input at each step t > 0 is, with probability ``prob``
    per column, a sample of the model's output at t - 1 instead of ``ids[t]``; (loss, new state).

    ``prob`` 0 computes what ``model.loss(ids, targets, state)`` does, one step at a time.
    """
    steps, logits = ids.shape[0], []
    inp = ids[0:1]  # (1, B): the first input is always the true token
    for t in range(steps):
        out, state = model(inp, state)  # (1, B, V), the state carried to the next step
        logits.append(out)
        if t + 1 < steps:
            inp = ids[t + 1 : t + 2]
            if prob > 0:
                # Sampled, not argmax (Bengio et al. 2015, sec. 2.4); no gradient flows through the choice.
                sampled = torch.multinomial(F.softmax(out[0].detach().float(), dim=-1), 1).T  # (1, B)
                use = torch.rand(inp.shape, device=ids.device) < prob
                inp = torch.where(use, sampled, inp)
    flat = torch.cat(logits).float()  # (T, B, V)
    return F.cross_entropy(flat.reshape(-1, flat.size(-1)), targets.reshape(-1), reduction=reduction), state
