"""The state a recurrent model carries between calls, and the few things done to it.

A cell's carried state is a tensor or a (nested) tuple of tensors: an LSTM's (h, c), each
(L, B, H); the leaky and fused rnn/gru cells' (L, B, H); skip's history (L, d, B, H); tdnn's
tuple of per-layer input windows (window - 1, B, D); jordan's empty tuple; ``None`` stands for
zeros. This module's job is to walk that structure once (``map_state``) and to express every
operation on it through that walk: detach (truncated BPTT), move to a device (checkpoints),
clone, select batch rows (repeat a prompt's state, reorder beams) and join batches.
"""
from __future__ import annotations

from typing import Any, Callable

import torch


def map_state(fn: Callable[..., Any], state, *others):
    """``fn`` applied to each tensor of ``state`` (with the matching leaves of ``others``, trees of
    the same structure), in a state of the same structure; None stays None."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(map_state(fn, *parts) for parts in zip(state, *others))
    return fn(state, *others)


def state_leaves(state) -> list[torch.Tensor]:
    """The tensors of ``state`` in order."""
    out: list[torch.Tensor] = []
    map_state(out.append, state)
    return out


def detach_state(state):
    """Cut the graph behind ``state`` but keep its values (truncated BPTT).

    Without this, the next chunk's backward would run through every earlier chunk back to
    the start of the corpus (pytorch/examples word_language_model: ``repackage_hidden``).
    """
    return map_state(torch.Tensor.detach, state)


def state_to(state, device):
    """``state`` on ``device`` (CPU for a checkpoint, the training device on resume)."""
    return map_state(lambda t: t.to(device), state)


def clone_state(state):
    """A compact copy (a tdnn window may be a view into a larger tensor)."""
    return map_state(torch.Tensor.clone, state)


def state_batch_dims(model):
    """For each tensor of the model's carried state, the dimension that indexes the batch (a tree
    of ints shaped like the state).

    Found by comparing the zero states for batch 1 and 2, so every cell works (LSTM (h, c) keep
    the batch in dim 1, skip's history in dim 2, jordan carries nothing).
    """
    return map_state(lambda a, b: next(d for d in range(a.dim()) if a.shape[d] != b.shape[d]),
                     model.init_state(1), model.init_state(2))


def select_state(state, index: torch.Tensor, dims):
    """The state of batch entries ``index`` (repeat one sample's state, or reorder beams)."""
    return map_state(lambda t, d: t.index_select(d, index), state, dims)


def cat_states(states: list, dims):
    """States of several batches joined along their batch dimensions."""
    return map_state(lambda d, *ts: torch.cat(ts, dim=d), dims, *states)
