"""torch's fused cells (nn.RNN, nn.GRU, nn.LSTM): how to build them and their equations as step functions.

The model runs the fused kernels (oneDNN on CPU, cuDNN on GPU); grad-report re-runs each layer one
step at a time through the ``*_stepper`` functions below, which restate torch's equations with the
layer's own parameters (tests hold them to the fused modules' outputs).
"""
from __future__ import annotations

from typing import Callable

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


def run_by_layer(rnn: nn.Module, x: torch.Tensor, state, layer: Callable, between: Callable, weight_hh: Callable | None = None):
    """``rnn(x, state)`` for an nn.LSTM / nn.GRU / nn.RNN stack, one layer at a time with the module's own
    parameters, for what one fused call cannot do: bf16 matmuls (seqtool/models/bf16_rnn.py), a dropout
    mask between layers other than torch's, a transformed W_hh (seqtool/models/awd.py).

    layer(x, h0, c0, (W_ih, W_hh, b_ih, b_hh)) -> (out, h, c) runs one layer over x (T, B, D) from h0, c0
    (B, H) (c0 and c None but for an LSTM); between(out) is applied to each output another layer reads;
    weight_hh(W_hh) is the recurrent matrix a layer uses (the parameter itself is untouched).
    Returns the top layer's h(t) (T, B, H) and the final state in the module's layout.
    """
    lstm = isinstance(rnn, nn.LSTM)
    L, B, H = rnn.num_layers, x.shape[1], rnn.hidden_size
    if state is None:
        zeros = x.new_zeros(L, B, H, dtype=rnn.weight_hh_l0.dtype)
        state = (zeros, zeros) if lstm else zeros
    hs, cs = state if lstm else (state, None)
    out = x.to(rnn.weight_ih_l0.dtype)
    finals_h, finals_c = [], []
    for k in range(L):
        if k > 0:
            out = between(out)
        w_ih, w_hh, b_ih, b_hh = _fused_params(rnn, k)
        params = (w_ih, w_hh if weight_hh is None else weight_hh(w_hh), b_ih, b_hh)
        out, h, c = layer(out, hs[k], None if cs is None else cs[k], params)
        finals_h.append(h)
        finals_c.append(c)
    h_n = torch.stack(finals_h)
    return out, ((h_n, torch.stack(finals_c)) if lstm else h_n)


def torch_layer(cell: str, training: bool) -> Callable:
    """One layer of ``cell`` (lstm, gru, rnn) with torch's own kernel, as ``run_by_layer`` calls it."""
    op = {"lstm": torch._VF.lstm, "gru": torch._VF.gru, "rnn": torch._VF.rnn_tanh}[cell]

    def layer(x, h0, c0, params):
        # (input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first), as nn.LSTM calls it
        if c0 is None:
            out, h = op(x, h0.unsqueeze(0), list(params), True, 1, 0.0, training, False, False)
            return out, h[0], None
        out, h, c = op(x, (h0.unsqueeze(0), c0.unsqueeze(0)), list(params), True, 1, 0.0, training, False, False)
        return out, h[0], c[0]

    return layer


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
