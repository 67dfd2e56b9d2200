"""Recurrent layers (LSTM, GRU, tanh RNN) whose matmuls run in bfloat16 while everything else stays fp32.

oneDNN has no bf16 LSTM on CPUs with AVX512-BF16, yet bf16 matmuls there run 2-4x fp32 (issue 15).
This module restates torch's nn.LSTM / nn.GRU / nn.RNN (tanh) as one ``autograd.Function`` per layer
that reads the fused module's own parameters (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}``), so a checkpoint is the same whichever path trained it:

    forward   G_x = X W_ih^T          one matmul for the whole window, (T*B, D) @ (D, nH)
              per step: G_x[t] + h(t-1) W_hh^T + b, the gates and the cell state in fp32
    backward  per step: dG(t) from the saved gates, dh(t-1) = dG_h(t) W_hh
              dW_ih = dG_x^T X, dW_hh = dG_h^T H(t-1), dX = dG_x W_ih: whole-window matmuls

Each cast is done once: the weights once per forward (W_hh^T also laid out contiguously, since a bf16 matmul
whose right operand is a transposed view ran ~1.5x slower), h(t-1) as the forward makes it, into a bf16 window
that dW_hh then reads whole, and dG(t) as the backward makes it, into a bf16 window that the per-step matmul and
the whole-window dX, dW_ih, dW_hh all read. The LSTM backward multiplies dc(t), dh(t) by one precomputed
coefficient per gate (its derivative times what it multiplies): a backward step is six small ops (the
bf16 cast among them) and a matmul.
For the LSTM and the GRU on the CPU, each step's pointwise work (gates, cell update, h and its bf16 copy; in the
backward dG(t) in fp32 and bf16 and the direct path to h(t-1) or c(t-1)) is one call of a small C function
(cell_kernels.c, built on first use by seqtool.models.ckernels) where eager torch makes ten to fifteen: ~40 us
against ~200 us per LSTM step at B=32, H=384. The tanh RNN has three ops a step and keeps them.
Without a C compiler, with SEQTOOL_NO_C_KERNELS=1, on CUDA and in float64 (gradcheck) the steps stay plain torch
calls: torch.compile fused them, but a compiled call cost ~70 us more than an eager one here (issue 15).

Every matmul result is used in fp32. oneDNN accumulates a bf16 matmul in fp32 but rounds its result to bf16
(8 bits of mantissa), and torch has no fp32-output bf16 matmul on CPU, so each matmul result carries a
relative error of about 2^-9; sums over steps and the nonlinearities are fp32. fp32 master
weights and state around bf16 products: Micikevicius et al. 2018 (mixed precision training), Kalamkar
et al. 2019 (bf16 needs no loss scaling). ``dtype=None`` skips the casts: the same arithmetic as torch's
kernels, which the tests use to check the hand-derived backward to 1e-5 (and gradcheck in float64).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from seqtool.models.fused import run_by_layer

#: The registry cells this module runs: torch's nn.LSTM, nn.GRU and nn.RNN (tanh).
KERNEL_CELLS = ("lstm", "gru", "rnn")
#: The cells that train with bf16 matmuls on the CPU: these, and lnlstm, whose module takes the dtype itself
#: (seqtool/models/cells.py LayerNormLSTM, seqtool/models/lnlstm_steps.py).
TRAIN_KERNEL_CELLS = KERNEL_CELLS + ("lnlstm",)


def _cast(t: torch.Tensor, dtype):
    return t if dtype is None else t.to(dtype)


def _mm(a: torch.Tensor, b: torch.Tensor, out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """a @ b for operands already cast to the compute dtype; the result in ``out_dtype``, or as it comes
    where an fp32 operation consumes it (``fp32 += bf16`` promotes in place without a separate copy)."""
    out = torch.mm(a, b)
    return out if out_dtype is None else out.to(out_dtype)


def _weights(w_ih: torch.Tensor, w_hh: torch.Tensor, dtype):
    """W_ih and W_hh in the compute dtype, and W_hh^T laid out contiguously for the per-step matmul: a
    (32, 384) @ (384, 1536) bf16 matmul whose right operand is a transposed view ran ~1.5x slower here."""
    w_hh_c = _cast(w_hh, dtype)
    return _cast(w_ih, dtype), w_hh_c, w_hh_c.t().contiguous()


def _state_buffer(h0: torch.Tensor, T: int, dtype) -> torch.Tensor:
    """(T + 1, B, H) in the compute dtype with row 0 = h0: row t is h(t-1), the per-step matmul's operand, which
    the forward writes as it goes (the cast it needs anyway) and the backward's dW_hh reads whole."""
    buf = h0.new_empty(T + 1, *h0.shape, dtype=dtype or h0.dtype)
    buf[0] = h0
    return buf


def _grad_buffer(dg: torch.Tensor, dtype) -> torch.Tensor:
    """Where the backward puts dG(t) in the compute dtype, step by step (dg itself when there is no cast)."""
    return dg if dtype is None else torch.empty_like(dg, dtype=dtype)


def _stored(buf: torch.Tensor, t: int, d: torch.Tensor) -> torch.Tensor:
    """d cast into ``buf[t]``, the per-step matmul's operand (d itself where ``buf`` is d's own fp32 window)."""
    return d if buf.dtype == d.dtype else buf[t].copy_(d)


def _input_grads(ctx, dg_c, x_c, w_ih_c, acc):
    """dX = dG_x W_ih and dW_ih = dG_x^T X for a whole window (dG_x (T, B, nH) in the compute dtype)."""
    T, B, D = x_c.shape
    dg = dg_c.reshape(T * B, -1)
    dx = _mm(dg, w_ih_c, acc).view(T, B, D) if ctx.needs_input_grad[0] else None
    dw_ih = _mm(dg.t(), x_c.reshape(T * B, D), acc)  # (nH, D)
    return dx, dw_ih


def _recurrent_weight_grad(dg_c, hs_c, acc):
    """dW_hh = sum_t dG_h(t)^T h(t-1) as one (nH, T*B) @ (T*B, H) matmul (both in the compute dtype)."""
    T, B, H = hs_c.shape[0] - 1, hs_c.shape[1], hs_c.shape[2]
    return _mm(dg_c.reshape(T * B, -1).t(), hs_c[:-1].reshape(T * B, H), acc)


class LSTMLayer(torch.autograd.Function):
    """One LSTM layer over a window (torch's gate order i, f, g, o):
    c(t) = f c(t-1) + i g, h(t) = o tanh(c(t)); i, f, o sigmoids and g tanh of W_ih x + W_hh h(t-1) + b."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, dtype):
        T, B, _ = x.shape
        H, acc = w_hh.shape[1], w_ih.dtype
        x_c = _cast(x, dtype)
        w_ih_c, w_hh_c, w_hh_t = _weights(w_ih, w_hh, dtype)
        gates = _mm(x_c.reshape(T * B, -1), w_ih_c.t(), acc).view(T, B, 4 * H).add_(b_ih + b_hh)  # (T, B, 4H)
        acts, hs, tanh_cs = torch.empty_like(gates), gates.new_empty(T, B, H), gates.new_empty(T, B, H)
        cs = _state_buffer(c0, T, None)  # cs[t] = c(t-1); c(t) and tanh(c(t)) are kept for the backward
        hs_c = _state_buffer(h0, T, dtype)
        ctx.lib = c_kernels(x, dtype)
        steps = _lstm_forward_c if ctx.lib is not None else _lstm_forward_torch
        steps(ctx.lib, gates, w_hh_t, acts, cs, tanh_cs, hs, hs_c)
        ctx.dtype = dtype
        ctx.save_for_backward(x_c, w_ih_c, w_hh_c, acts, cs, tanh_cs, hs_c)
        return hs, hs[-1].clone(), cs[-1].clone()

    @staticmethod
    def backward(ctx, dy, dh_last, dc_last):
        x_c, w_ih_c, w_hh_c, acts, cs, tanh_c, hs_c = ctx.saved_tensors
        acc = acts.dtype
        dg = torch.empty_like(acts)  # (T, B, 4H): dL/d pre-activations
        dg_c = _grad_buffer(dg, ctx.dtype)
        steps = _lstm_backward_c if ctx.lib is not None else _lstm_backward_torch
        dh, dc = steps(ctx.lib, w_hh_c, acts, cs, tanh_c, dy, dh_last, dc_last, dg, dg_c)
        dh = dh.to(acc)
        dx, dw_ih = _input_grads(ctx, dg_c, x_c, w_ih_c, acc)
        dw_hh = _recurrent_weight_grad(dg_c, hs_c, acc)
        db = dg.sum(dim=(0, 1))
        return dx, dh, dc, dw_ih, dw_hh, db, db, None


def _lstm_forward_torch(_, gates, w_hh_t, acts, cs, tanh_cs, hs, hs_c):
    """The LSTM forward's steps in eager torch: acts, cs[1:], tanh_cs, hs, hs_c[1:] from gates = X W_ih^T + b."""
    H = hs.shape[2]
    for t in range(hs.shape[0]):
        g = gates[t].add_(_mm(hs_c[t], w_hh_t))  # (B, 4H) pre-activations
        a = acts[t]
        torch.sigmoid(g, out=a)
        torch.tanh(g[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])
        i, f, gg, o = a.chunk(4, dim=1)
        c = torch.mul(f, cs[t], out=cs[t + 1]).addcmul_(i, gg)  # the cell path: dc(t)/dc(t-1) = f
        hs_c[t + 1].copy_(torch.mul(o, torch.tanh(c, out=tanh_cs[t]), out=hs[t]))


def _lstm_backward_torch(_, w_hh_c, acts, cs, tanh_c, dy, dh_last, dc_last, dg, dg_c):
    """The LSTM backward's steps in eager torch: fills dg (and dg_c), returns dh(-1) = dG(0) W_hh and dc(-1)."""
    T, B, H = tanh_c.shape
    i, f, gg, o = acts.chunk(4, dim=2)
    o_dtanh = torch.addcmul(o, o * tanh_c, tanh_c, value=-1)  # dh/dc at fixed o: o (1 - tanh(c)^2)
    # dL/d(pre-activations) = coef * (dc, dc, dc, dh): each gate's derivative (sigmoid' = s (1 - s),
    # tanh' = 1 - g^2) times what it multiplies: g, c(t-1), i for dc, and tanh(c) for dh.
    coef = torch.empty_like(acts)
    ci, cf, cg, co = coef.chunk(4, dim=2)
    torch.addcmul(i, i, i, value=-1, out=ci).mul_(gg)
    torch.addcmul(f, f, f, value=-1, out=cf).mul_(cs[:-1])
    torch.addcmul(i, i * gg, gg, value=-1, out=cg)
    torch.addcmul(o, o, o, value=-1, out=co).mul_(tanh_c)
    coef3 = coef[:, :, : 3 * H].unflatten(2, (3, H))  # (T, B, 3, H): the i, f, g parts
    dh, dc = dh_last, dc_last.clone()
    for t in range(T - 1, -1, -1):
        dh_t = dy[t] + dh
        dc.addcmul_(dh_t, o_dtanh[t])
        d = dg[t]
        torch.mul(dc.unsqueeze(1), coef3[t], out=d[:, : 3 * H].view(B, 3, H))  # di, df, dg
        torch.mul(dh_t, co[t], out=d[:, 3 * H :])  # do
        dh = _mm(_stored(dg_c, t, d), w_hh_c)  # (B, H), added to fp32 dy(t) next
        dc.mul_(f[t])
    return dh, dc


def c_kernels(x: torch.Tensor, dtype):
    """The compiled step kernels (seqtool.models.ckernels) where they serve this call: an fp32 input on the CPU,
    a bf16 or no-cast compute dtype. None elsewhere (CUDA, float64 for gradcheck, no compiler): the torch steps."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or dtype not in (None, torch.bfloat16):
        return None
    from seqtool.models.ckernels import kernels

    return kernels()


def _rows(*tensors: torch.Tensor) -> list[tuple[int, int]]:
    """(address, bytes per row along dim 0) of contiguous tensors: row t of each at address + t * bytes."""
    return [(t.data_ptr(), t.stride(0) * t.element_size()) for t in tensors]


def _lstm_forward_c(lib, gates, w_hh_t, acts, cs, tanh_cs, hs, hs_c):
    """The steps of _lstm_forward_torch, each as one bf16 (or fp32) matmul and one C call (cell_kernels.c)."""
    T, B, H = hs.shape
    step = lib.lstm_fwd_f32 if hs_c.dtype == torch.float32 else lib.lstm_fwd_bf16
    gh = hs_c.new_empty(B, 4 * H)  # h(t-1) W_hh^T in the compute dtype, as the matmul leaves it
    (g0, gs), (a0, as_), (c0, css), (t0, ts), (h0, hs_), (q0, qs) = _rows(gates, acts, cs, tanh_cs, hs, hs_c)
    for t in range(T):
        torch.mm(hs_c[t], w_hh_t, out=gh)
        step(B, H, g0 + t * gs, gh.data_ptr(), c0 + t * css, c0 + (t + 1) * css, a0 + t * as_, t0 + t * ts,
             h0 + t * hs_, q0 + (t + 1) * qs)


def _gru_forward_c(lib, gx, w_hh_t, b_hh, h0, acts, hns, hs, hs_c):
    """The steps of _gru_forward_torch, each as one matmul and one C call (cell_kernels.c)."""
    T, B, H = hs.shape
    step = lib.gru_fwd_f32 if hs_c.dtype == torch.float32 else lib.gru_fwd_bf16
    gh, b_hh = hs_c.new_empty(B, 3 * H), b_hh.detach().contiguous()  # h(t-1) W_hh^T in the compute dtype
    (g0, gs), (a0, as_), (n0, ns), (y0, ys), (q0, qs) = _rows(gx, acts, hns, hs, hs_c)
    for t in range(T):
        torch.mm(hs_c[t], w_hh_t, out=gh)
        h_prev = h0.data_ptr() if t == 0 else y0 + (t - 1) * ys
        step(B, H, g0 + t * gs, gh.data_ptr(), b_hh.data_ptr(), h_prev, a0 + t * as_, n0 + t * ns, y0 + t * ys,
             q0 + (t + 1) * qs)


def _gru_backward_c(lib, w_hh_c, h0, acts, hns, hs, dy, dh_last, dgx, dgh, dgh_c):
    """The steps of _gru_backward_torch, each as one C call and one matmul."""
    T, B, H = hs.shape
    step = lib.gru_bwd_f32 if dgh_c.dtype == torch.float32 else lib.gru_bwd_bf16
    dy, h0 = dy.contiguous(), h0.contiguous()
    carry, rec = dh_last.contiguous().clone(), dgh_c.new_empty(B, H)  # dh(t) z(t); dG_h(t) W_hh
    (y0, ys), (a0, as_), (n0, ns), (p0, ps), (x0, xs), (d0, ds), (q0, qs) = _rows(dy, acts, hns, hs, dgx, dgh, dgh_c)
    for t in range(T - 1, -1, -1):
        h_prev = h0.data_ptr() if t == 0 else p0 + (t - 1) * ps
        step(B, H, y0 + t * ys, rec.data_ptr() if t < T - 1 else None, carry.data_ptr(), a0 + t * as_, n0 + t * ns,
             h_prev, x0 + t * xs, d0 + t * ds, q0 + t * qs)
        torch.mm(dgh_c[t], w_hh_c, out=rec)
    return carry.add_(rec)


def _lstm_backward_c(lib, w_hh_c, acts, cs, tanh_c, dy, dh_last, dc_last, dg, dg_c):
    """The steps of _lstm_backward_torch, each as one C call and one matmul."""
    T, B, H = tanh_c.shape
    step = lib.lstm_bwd_f32 if dg_c.dtype == torch.float32 else lib.lstm_bwd_bf16
    dy, dy_last = dy.contiguous(), (dy[-1] + dh_last).contiguous()  # the last step's dh: no recurrent part
    dc, dh = dc_last.contiguous().clone(), dg_c.new_empty(B, H)  # dh = dG(t+1) W_hh in the compute dtype
    (y0, ys), (a0, as_), (c0, css), (t0, ts), (d0, ds), (q0, qs) = _rows(dy, acts, cs, tanh_c, dg, dg_c)
    for t in range(T - 1, -1, -1):
        last = t == T - 1
        step(B, H, dy_last.data_ptr() if last else y0 + t * ys, None if last else dh.data_ptr(), dc.data_ptr(),
             a0 + t * as_, c0 + t * css, t0 + t * ts, d0 + t * ds, q0 + t * qs)
        torch.mm(dg_c[t], w_hh_c, out=dh)
    return dh, dc


class GRULayer(torch.autograd.Function):
    """One GRU layer (torch's order r, z, n): n = tanh(W_in x + b_in + r (W_hn h(t-1) + b_hn)),
    h(t) = (1 - z) n + z h(t-1); r, z sigmoids of W_i x + W_h h(t-1) + b."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, dtype):
        T, B, _ = x.shape
        H, acc = w_hh.shape[1], w_ih.dtype
        x_c = _cast(x, dtype)
        w_ih_c, w_hh_c, w_hh_t = _weights(w_ih, w_hh, dtype)
        gx = _mm(x_c.reshape(T * B, -1), w_ih_c.t(), acc).view(T, B, 3 * H).add_(b_ih)  # (T, B, 3H)
        acts, hns, hs = torch.empty_like(gx), gx.new_empty(T, B, H), gx.new_empty(T, B, H)
        hs_c = _state_buffer(h0, T, dtype)
        ctx.lib = c_kernels(x, dtype)
        steps = _gru_forward_c if ctx.lib is not None else _gru_forward_torch
        steps(ctx.lib, gx, w_hh_t, b_hh, h0.contiguous(), acts, hns, hs, hs_c)
        ctx.dtype = dtype
        ctx.save_for_backward(x_c, h0, w_ih_c, w_hh_c, acts, hns, hs, hs_c)
        return hs, hs[-1].clone()

    @staticmethod
    def backward(ctx, dy, dh_last):
        x_c, h0, w_ih_c, w_hh_c, acts, hns, hs, hs_c = ctx.saved_tensors
        acc = hs.dtype
        dgx, dgh = torch.empty_like(acts), torch.empty_like(acts)  # dL/d(W_i x + b_i), dL/d(W_h h + b_h)
        dgh_c = _grad_buffer(dgh, ctx.dtype)
        steps = _gru_backward_c if ctx.lib is not None else _gru_backward_torch
        dh = steps(ctx.lib, w_hh_c, h0, acts, hns, hs, dy, dh_last, dgx, dgh, dgh_c)
        dx, dw_ih = _input_grads(ctx, _cast(dgx, ctx.dtype), x_c, w_ih_c, acc)
        dw_hh = _recurrent_weight_grad(dgh_c, hs_c, acc)
        return dx, dh, dw_ih, dw_hh, dgx.sum(dim=(0, 1)), dgh.sum(dim=(0, 1)), None


def _gru_forward_torch(_, gx, w_hh_t, b_hh, h0, acts, hns, hs, hs_c):
    """The GRU forward's steps in eager torch: acts, hns (W_hn h(t-1) + b_hn), hs, hs_c[1:] from gx = X W_ih^T + b_ih."""
    H, h = hs.shape[2], h0
    for t in range(hs.shape[0]):
        gh = _mm(hs_c[t], w_hh_t).add(b_hh)  # (B, 3H) in fp32
        a = acts[t]
        torch.sigmoid(gx[t, :, : 2 * H].add_(gh[:, : 2 * H]), out=a[:, : 2 * H])
        r, z, n = a.chunk(3, dim=1)
        hns[t] = gh[:, 2 * H :]  # W_hn h(t-1) + b_hn, which r scales
        torch.tanh(torch.addcmul(gx[t, :, 2 * H :], r, hns[t]), out=n)
        h = torch.addcmul(n, z, h - n, out=hs[t])  # (1 - z) n + z h(t-1)
        hs_c[t + 1].copy_(h)


def _gru_backward_torch(_, w_hh_c, h0, acts, hns, hs, dy, dh_last, dgx, dgh, dgh_c):
    """The GRU backward's steps in eager torch: fills dgx, dgh (and dgh_c), returns dh(-1)."""
    T, B, H = hs.shape
    r, z, n = acts.chunk(3, dim=2)
    h_prev = torch.cat([h0.unsqueeze(0), hs[:-1]])
    dz_local = (h_prev - n) * z * (1 - z)  # dh/d(z pre-activation) per unit of dh
    dn_local = (1 - z) * (1 - n * n)  # dh/d(n pre-activation)
    dr_local = hns * r * (1 - r)  # d(n pre-activation)/d(r pre-activation)
    dh = dh_last
    for t in range(T - 1, -1, -1):
        dh_t = dy[t] + dh
        dx_t, dh_t3 = dgx[t], dgh[t]
        dan = torch.mul(dh_t, dn_local[t], out=dx_t[:, 2 * H :])
        torch.mul(dan, dr_local[t], out=dx_t[:, :H])
        torch.mul(dh_t, dz_local[t], out=dx_t[:, H : 2 * H])
        dh_t3[:, : 2 * H] = dx_t[:, : 2 * H]
        torch.mul(dan, r[t], out=dh_t3[:, 2 * H :])
        dh = (dh_t * z[t]).add_(_mm(_stored(dgh_c, t, dh_t3), w_hh_c))
    return dh


class RNNLayer(torch.autograd.Function):
    """One Elman layer: h(t) = tanh(W_ih x(t) + b_ih + W_hh h(t-1) + b_hh)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, dtype):
        T, B, _ = x.shape
        H, acc = w_hh.shape[1], w_ih.dtype
        x_c = _cast(x, dtype)
        w_ih_c, w_hh_c, w_hh_t = _weights(w_ih, w_hh, dtype)
        hs = _mm(x_c.reshape(T * B, -1), w_ih_c.t(), acc).view(T, B, H).add_(b_ih + b_hh)  # pre-activations, then h
        hs_c = _state_buffer(h0, T, dtype)
        for t in range(T):
            hs_c[t + 1].copy_(torch.tanh(hs[t].add_(_mm(hs_c[t], w_hh_t)), out=hs[t]))
        ctx.dtype = dtype
        ctx.save_for_backward(x_c, w_ih_c, w_hh_c, hs, hs_c)
        return hs, hs[-1].clone()

    @staticmethod
    def backward(ctx, dy, dh_last):
        x_c, w_ih_c, w_hh_c, hs, hs_c = ctx.saved_tensors
        acc = hs.dtype
        local = 1 - hs * hs  # tanh'
        da = torch.empty_like(hs)
        da_c = _grad_buffer(da, ctx.dtype)
        dh = dh_last
        for t in range(hs.shape[0] - 1, -1, -1):
            dh = _mm(_stored(da_c, t, torch.mul(dy[t] + dh, local[t], out=da[t])), w_hh_c)
        dh = dh.to(acc)
        dx, dw_ih = _input_grads(ctx, da_c, x_c, w_ih_c, acc)
        dw_hh = _recurrent_weight_grad(da_c, hs_c, acc)
        db = da.sum(dim=(0, 1))
        return dx, dh, dw_ih, dw_hh, db, db, None


def _kind(rnn: nn.Module) -> str:
    """Which layer class runs ``rnn``: lstm, gru or rnn; a TypeError for anything else (e.g. a ReLU RNN)."""
    if isinstance(rnn, nn.LSTM):
        return "lstm"
    if isinstance(rnn, nn.GRU):
        return "gru"
    if isinstance(rnn, nn.RNN) and rnn.nonlinearity == "tanh":
        return "rnn"
    raise TypeError(f"no bf16 kernel for {type(rnn).__name__}")


def run_stack(rnn: nn.Module, x: torch.Tensor, state=None, dtype: torch.dtype | None = torch.bfloat16,
              between: Callable | None = None, weight_hh: Callable | None = None):
    """``rnn(x, state)`` for a time-major nn.LSTM / nn.GRU / nn.RNN (tanh), with this module's layers.

    x (T, B, D); state None (zeros), h (L, B, H) or the pair (h, c) for an LSTM. Returns the top
    layer's h(t) (T, B, H) and the final state in nn.LSTM's layout. ``between`` (default: dropout as
    torch's) and ``weight_hh`` as in seqtool.models.fused.run_by_layer.
    """
    kind = _kind(rnn)
    if rnn.batch_first or rnn.bidirectional or getattr(rnn, "proj_size", 0):
        raise ValueError("the bf16 kernel runs time-major, one-directional stacks without projections")

    def torch_dropout(out):  # between layers, as nn.LSTM(dropout=p)
        return F.dropout(out, rnn.dropout, rnn.training) if rnn.dropout > 0 else out

    def layer(out, h0, c0, params):
        if kind == "lstm":
            return LSTMLayer.apply(out, h0, c0, *params, dtype)
        out, h = (GRULayer if kind == "gru" else RNNLayer).apply(out, h0, *params, dtype)
        return out, h, None

    return run_by_layer(rnn, x, state, layer, between or torch_dropout, weight_hh)
