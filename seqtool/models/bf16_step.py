"""Inference in bf16 for generation: a language model's recurrent and decoder matmuls on weights cast to bf16 once.

The training kernel (seqtool/models/bf16_rnn.py) casts the fp32 master weights on every call, which a
window of 128 steps pays back but a one-token call does not: casting a 1536 x 384 matrix costs about as
much as that step's matmul. ``Bf16Runner`` casts the weights once and then runs the kernel's forward
arithmetic (issue 15):

    G_x = bf16(x) bf16(W_ih)^T -> fp32, + (b_ih + b_hh)     one matmul for the whole window
    per step: G_x[t] += bf16(h(t-1)) bf16(W_hh)^T           the product rounded to bf16, the sum in fp32
              gates, the cell state and h(t) in fp32
    logits = bf16(h) bf16(V)^T -> fp32, + c                  the softmax and sampling after it in fp32

so a window read in one call or token by token gives the logits of ``model.use_bf16_matmuls(True)``.
One-hot inputs pick columns of bf16(W_ih) instead of multiplying (the same numbers: a product with a
one-hot vector is exact). An adaptive softmax decoder stays fp32. Inference only: no autograd, no dropout.
"""
from __future__ import annotations

import torch
from torch import nn

from seqtool.models.bf16_rnn import KERNEL_CELLS

BF16 = torch.bfloat16


class Bf16Runner:
    """``model``'s forward for inference with bf16 matmuls: ``runner(ids, state)`` -> (logits, state) as
    ``model(ids, state)`` (ids (T, B), logits (T, B, V) in fp32, the state in the model's layout)."""

    def __init__(self, model):
        if model.cfg.cell not in KERNEL_CELLS:
            raise ValueError(f"bf16 generation needs one of the cells {', '.join(KERNEL_CELLS)} (got {model.cfg.cell})")
        self.model, rnn = model, model.rnn
        self.kind, self.layers = model.cfg.cell, rnn.num_layers
        self.w_ih = [getattr(rnn, f"weight_ih_l{k}").detach().to(BF16) for k in range(self.layers)]
        self.w_hh_t = [getattr(rnn, f"weight_hh_l{k}").detach().to(BF16).t() for k in range(self.layers)]
        b_ih = [getattr(rnn, f"bias_ih_l{k}").detach() for k in range(self.layers)]
        b_hh = [getattr(rnn, f"bias_hh_l{k}").detach() for k in range(self.layers)]
        # The GRU keeps b_hh apart (r scales W_hn h + b_hn); the others add both biases to the input projection.
        self.b_in = b_ih if self.kind == "gru" else [a + b for a, b in zip(b_ih, b_hh)]
        self.b_hh = b_hh
        self.one_hot_w = self.w_ih[0].t().contiguous() if model.encoder is None else None  # (V, nH): row v = W_ih e_v
        linear = isinstance(model.decoder, nn.Linear)
        self.dec_w = model.decoder.weight.detach().to(BF16) if linear else None

    def init_state(self, batch_size: int, device=None):
        return self.model.init_state(batch_size, device)

    def __call__(self, ids: torch.Tensor, state=None):
        out, state = self.hidden_states(ids, state)
        return self.logits(out), state

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """(..., H) -> fp32 logits (..., V): the decoder's product in bf16, or the adaptive softmax in fp32."""
        if self.dec_w is None:
            return self.model.logits(h)
        return torch.nn.functional.linear(h.to(BF16), self.dec_w).float() + self.model.decoder.bias

    def hidden_states(self, ids: torch.Tensor, state=None):
        """ids (T, B) -> the top layer's h(t) (T, B, H) and the final state."""
        T, B = ids.shape
        H = self.model.cfg.hidden
        if state is None:
            zeros = torch.zeros(self.layers, B, H, device=ids.device)
            state = (zeros, zeros) if self.kind == "lstm" else zeros
        hs, cs = state if self.kind == "lstm" else (state, None)
        out, finals_h, finals_c = None, [], []
        for k in range(self.layers):
            gx = self._input_projection(k, ids, out)  # (T, B, nH) fp32
            out, h, c = self._layer(k, gx, hs[k], None if cs is None else cs[k])
            finals_h.append(h)
            finals_c.append(c)
        h_n = torch.stack(finals_h)
        return out, ((h_n, torch.stack(finals_c)) if self.kind == "lstm" else h_n)

    def _input_projection(self, k: int, ids: torch.Tensor, below) -> torch.Tensor:
        if k == 0 and self.one_hot_w is not None:
            gx = self.one_hot_w[ids].float()  # (T, B, nH): the columns a one-hot input selects
        else:
            x = self.model.encoder(ids) if k == 0 else below  # (T, B, D)
            gx = torch.matmul(x.to(BF16), self.w_ih[k].t()).float()
        return gx.add_(self.b_in[k])

    def _layer(self, k: int, gx: torch.Tensor, h: torch.Tensor, c):
        """One layer over the window from h (B, H) (and c for an LSTM): (T, B, H), h, c."""
        w_hh_t, hs = self.w_hh_t[k], []
        for t in range(gx.shape[0]):
            rec = torch.mm(h.to(BF16), w_hh_t)  # (B, nH), rounded to bf16
            if self.kind == "lstm":
                h, c = _lstm_step(gx[t].add_(rec), c)
            elif self.kind == "gru":
                h = _gru_step(gx[t], rec.add(self.b_hh[k]), h)
            else:
                h = torch.tanh(gx[t].add_(rec))
            hs.append(h)
        return torch.stack(hs), h, c


def _lstm_step(g: torch.Tensor, c: torch.Tensor):
    """Pre-activations g (B, 4H) in torch's gate order i, f, g, o -> h(t), c(t) = f c(t-1) + i g."""
    i, f, gg, o = g.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
    return torch.sigmoid(o) * torch.tanh(c), c


def _gru_step(gx: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """gx = W_i x + b_i and gh = W_h h + b_h (B, 3H), torch's order r, z, n -> h(t) = (1 - z) n + z h(t-1)."""
    H = h.shape[1]
    r, z = torch.sigmoid(gx[:, : 2 * H] + gh[:, : 2 * H]).chunk(2, dim=1)
    n = torch.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
    return n + z * (h - n)
