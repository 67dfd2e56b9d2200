"""Two one-directional torch stacks (a forward and a backward nn.LSTM/GRU/RNN) run as one fused
bidirectional call over packed sequences.

A classifier's or tagger's ``--bidirectional`` body keeps two stacks, ``rnn`` and ``rnn_bwd``, each
reading only its own direction at every layer (the checkpoints' layout). torch's bidirectional kernel
runs both directions of a layer in one call and skips padding when the batch is packed
(``pack_padded_sequence``), where the general path runs each stack over the padding and reverses
the backward stack's inputs and outputs within each length (seqtool/models/heads.py, ``reverse_within``).

The kernel's layer k > 0 reads both directions of layer k - 1, [h_fwd ; h_bwd] (2H); the stacks' own
layer k reads only its direction (H). Widening each stack's input weight with zeros, [W | 0] forward
and [0 | W] backward, makes the kernel compute the stacks' model exactly: the zero block multiplies
the other direction's features by 0, and it is a constant, so gradients reach only W. The cost is a
twice-wide input matmul on the upper layers; the recurrent matmuls, the sequential part, are unchanged.

It pays on CUDA, where cuDNN runs a layer's two directions at once and skips the padding. On the CPU
it does not: ATen runs the two directions one after the other either way, with length-bucketed
batches there is little padding to skip, and a packed nn.LSTM leaves oneDNN's kernel (the profiler
shows ``mkldnn_rnn_layer`` for a padded LSTM, not for a packed one): a training step of the SST-2
benchmark's model (bidirectional LSTM, hidden 256) took 1.1-1.4x as long fused, GRU and RNN steps
about as long (torch 2.13, 2 shared cores, a rough timing). ``fused_pays`` says where a model takes
this path by default.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

#: The registry cells torch runs as one bidirectional kernel (nn.RNN is built with tanh).
FUSED_CELLS = ("lstm", "gru", "rnn")
_KERNELS = {nn.LSTM: torch.lstm, nn.GRU: torch.gru, nn.RNN: torch.rnn_tanh}


def fused_pays(device: torch.device) -> bool:
    """Whether the fused kernel is the faster path for tensors on ``device``: CUDA only (see above)."""
    return device.type == "cuda"


def _weights(fwd: nn.Module, bwd: nn.Module) -> list[torch.Tensor]:
    """The kernel's flat weight list: per layer, forward then backward, each (W_ih, W_hh, b_ih, b_hh)."""
    flat = []
    for k in range(fwd.num_layers):
        for side, rnn in enumerate((fwd, bwd)):
            w_ih, w_hh, b_ih, b_hh = (getattr(rnn, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            if k > 0:  # the kernel's layer k reads [h_fwd ; h_bwd]; this stack reads only its own half
                zeros = torch.zeros_like(w_ih)
                w_ih = torch.cat([w_ih, zeros] if side == 0 else [zeros, w_ih], dim=1)  # (nH, 2H)
            flat += [w_ih, w_hh, b_ih, b_hh]
    return flat


def run_bidirectional(fwd: nn.Module, bwd: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x (L, B, D) padded after each sequence, lengths (B,) >= 1 -> [h_fwd ; h_bwd] (L, B, 2H), zeros
    at padded positions. ``fwd`` and ``bwd``: one-directional time-major stacks of the same kind and size."""
    kernel = _KERNELS[type(fwd)]
    layers, hidden = fwd.num_layers, fwd.hidden_size
    packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)  # sorts longest first, drops padding
    h0 = x.new_zeros(2 * layers, x.shape[1], hidden)  # zeros: the same in sorted or batch order
    hx = (h0, h0) if kernel is torch.lstm else h0
    with warnings.catch_warnings():
        # cuDNN copies a weight list that is not one flat buffer (ours is built per call) and warns about it.
        warnings.filterwarnings("ignore", "RNN module weights are not part of single contiguous chunk")
        out = kernel(packed.data, packed.batch_sizes, hx, _weights(fwd, bwd), True, layers,
                     float(fwd.dropout), fwd.training, True)[0]  # (sum of lengths, 2H)
    h, _ = pad_packed_sequence(PackedSequence(out, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices),
                               total_length=x.shape[0])
    return h  # (L, B, 2H)
