"""torch's fused cells (nn.RNN, nn.GRU, nn.LSTM): how to build them and their equations as step functions.

The model runs the fused kernels (oneDNN on CPU, cuDNN on GPU); grad-report re-runs each layer one
step at a time through the ``*_stepper`` functions below, which restate torch's equations with the
layer's own parameters (tests hold them to the fused modules' outputs).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqtool.models.cells import LayerStepper, zero_state

_KINDS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def build_fused(cfg, dropout: float) -> nn.Module:
    """The fused torch module for ``cfg.cell`` (rnn: Elman RNN, tanh; gru; lstm)."""
    # Elman RNN: a = b + W h(t-1) + U x(t), h = tanh(a) (torch keeps b as two vectors b_ih + b_hh).
    extra = {"nonlinearity": "tanh"} if cfg.cell == "rnn" else {}
    return _KINDS[cfg.cell](cfg.input_dim, cfg.hidden, cfg.layers, dropout=dropout, **extra)


def fused_init_state(rnn: nn.Module, batch_size: int, device, dtype):
    """Zero state: (L, B, H), or the pair (h, c) for an LSTM."""
    zeros = torch.zeros(rnn.num_layers, batch_size, rnn.hidden_size, device=device, dtype=dtype)
    return (zeros, zeros.clone()) if isinstance(rnn, nn.LSTM) else zeros


def _fused_params(rnn, k: int) -> tuple[torch.Tensor, ...]:
    """Layer k's W_ih, W_hh, b_ih, b_hh of an nn.RNN/GRU/LSTM (gates stacked in torch's order)."""
    return tuple(getattr(rnn, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def rnn_stepper(rnn, k: int) -> LayerStepper:
    """Elman RNN: h(t) = tanh(W_ih x(t) + b_ih + W_hh h(t-1) + b_hh)."""
    w_ih, w_hh, b_ih, b_hh = _fused_params(rnn, k)

    def step(x, state):
        h = torch.tanh(F.linear(x, w_ih, b_ih) + F.linear(state[0], w_hh, b_hh))
        return h, (h,)

    return LayerStepper("rnn", zero_state(rnn.hidden_size), step, blocks={"W": w_hh}, main="W")


def lstm_stepper(rnn, k: int) -> LayerStepper:
    """LSTM: c(t) = f c(t-1) + i g, h(t) = o tanh(c(t)); gates i, f, o sigmoids and g tanh of W x + U h(t-1) + b."""
    w_ih, w_hh, b_ih, b_hh = _fused_params(rnn, k)

    def step(x, state):
        h, c = state
        gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (B, 4H) in torch's order i, f, g, o
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # the cell path: dc_t/dc_{t-1} = f_t
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)

    def forget(x, state):
        return torch.sigmoid((F.linear(x, w_ih, b_ih) + F.linear(state[0], w_hh, b_hh)).chunk(4, dim=-1)[1])

    blocks = dict(zip("ifgo", w_hh.chunk(4, dim=0)))
    return LayerStepper("lstm", zero_state(rnn.hidden_size, 2), step, memory=1, blocks=blocks, main="g",
                        keep=("forget gate f", forget))


def gru_stepper(rnn, k: int) -> LayerStepper:
    """GRU: h(t) = (1 - z) n + z h(t-1), n = tanh(W_n x + b_n + r (U_n h(t-1) + c_n)); r, z sigmoid gates."""
    w_ih, w_hh, b_ih, b_hh = _fused_params(rnn, k)

    def step(x, state):
        h = state[0]
        xr, xz, xn = F.linear(x, w_ih, b_ih).chunk(3, dim=-1)  # torch's order: reset, update, new
        hr, hz, hn = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        return h, (h,)

    def update(x, state):
        return torch.sigmoid(F.linear(x, w_ih, b_ih).chunk(3, dim=-1)[1] + F.linear(state[0], w_hh, b_hh).chunk(3, dim=-1)[1])

    blocks = dict(zip("rzn", w_hh.chunk(3, dim=0)))
    return LayerStepper("gru", zero_state(rnn.hidden_size), step, blocks=blocks, main="n", keep=("update gate z", update))
