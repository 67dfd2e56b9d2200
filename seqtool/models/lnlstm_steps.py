"""The layer-normalised LSTM's recurrence (seqtool/models/cells.py, LayerNormLSTM) with one C call per step.

Eager torch runs each step of ``_lnlstm_scan`` as about fifteen small ops forward and twice that backward, and
autograd keeps a node for each: at B=32, H=384 the layer trained 3.4x slower than the LSTM's C steps (issue 14).
``LNLSTMRecurrence`` is one ``autograd.Function`` per layer and window with a hand-written backward:

    forward   per step: R = h(t-1) U^T (a matmul), then one C call (cell_kernels.c, lnlstm_fwd_*): LN(R),
              z = xproj(t) + a_h LN(R), the gates, c(t), LN(c(t)), h(t); it keeps the normalised R and c,
              their 1/std, the gates and tanh(a_c LN(c) + b_c) for the backward
    backward  per step: one C call (lnlstm_bwd_*) gives dz(t), which is also d xproj(t), and dR(t) through
              LN's backward, then dh(t-1) = dR(t) U (a matmul); after the loop dU = dR^T H(t-1) and the
              gains' gradients are whole-window reductions

``xproj`` = LN(W x(t)) + b for the whole window stays outside, in autograd (one matmul and one layer_norm).
With ``dtype=torch.bfloat16`` the two per-step matmuls and dU run in bf16 (fp32 master weights, the state,
the normalisations and the gates fp32), as seqtool/models/bf16_rnn.py does for the LSTM. Used on the CPU
where the C kernels build (seqtool/models/ckernels.py); elsewhere (CUDA, float64 for gradcheck, no compiler,
SEQTOOL_NO_C_KERNELS=1) LayerNormLSTM keeps the eager loop, which the tests hold this module to.
"""
from __future__ import annotations

import torch

from seqtool.models.bf16_rnn import _cast, _recurrent_weight_grad, _rows, _state_buffer


class LNLSTMRecurrence(torch.autograd.Function):
    """One layer's recurrence over xproj (T, B, 4H) = LN(W x(t)) + b from (h0, c0) (B, H):
    z = xproj(t) + LN(U h(t-1); a_h), c(t) = f c(t-1) + i g, h(t) = o tanh(LN(c(t); a_c, b_c)).
    Returns h(t) for every step (T, B, H), h(T-1) and c(T-1). ``lib``: the loaded C kernels."""

    @staticmethod
    def forward(ctx, xproj, h0, c0, w_hh, a_h, a_c, b_c, dtype, lib):
        T, B, G = xproj.shape
        H = G // 4
        xproj = xproj.contiguous()
        w_hh_c = _cast(w_hh, dtype)
        w_hh_t = w_hh_c.t().contiguous()  # (H, 4H): a transposed right operand made bf16 matmuls ~1.5x slower
        a_h, a_c, b_c = (p.detach().contiguous() for p in (a_h, a_c, b_c))
        acts, rn = torch.empty_like(xproj), torch.empty_like(xproj)
        rstd = xproj.new_empty(T, B, 2)  # 1/std of R's row and of c's row
        cn, tanh_c, hs = (xproj.new_empty(T, B, H) for _ in range(3))
        cs = _state_buffer(c0, T, None)  # cs[t] = c(t-1)
        hs_c = _state_buffer(h0, T, dtype)  # hs_c[t] = h(t-1) in the compute dtype
        gh = hs_c.new_empty(B, G)
        step = lib.lnlstm_fwd_f32 if hs_c.dtype == torch.float32 else lib.lnlstm_fwd_bf16
        (x0, xs), (a0, as_), (r0, rs), (s0, ss), (n0, ns), (t0, ts), (y0, ys), (c0_, cs_), (q0, qs) = _rows(
            xproj, acts, rn, rstd, cn, tanh_c, hs, cs, hs_c)
        for t in range(T):
            torch.mm(hs_c[t], w_hh_t, out=gh)
            step(B, H, x0 + t * xs, gh.data_ptr(), a_h.data_ptr(), a_c.data_ptr(), b_c.data_ptr(), c0_ + t * cs_,
                 c0_ + (t + 1) * cs_, a0 + t * as_, r0 + t * rs, s0 + t * ss, n0 + t * ns, t0 + t * ts, y0 + t * ys,
                 q0 + (t + 1) * qs)
        ctx.lib, ctx.dtype = lib, dtype
        ctx.save_for_backward(w_hh_c, a_h, a_c, acts, rn, rstd, cn, tanh_c, cs, hs_c)
        return hs, hs[-1].clone(), cs[-1].clone()

    @staticmethod
    def backward(ctx, dy, dh_last, dc_last):
        w_hh_c, a_h, a_c, acts, rn, rstd, cn, tanh_c, cs, hs_c = ctx.saved_tensors
        T, B, G = acts.shape
        H = G // 4
        lib = ctx.lib
        step = lib.lnlstm_bwd_f32 if hs_c.dtype == torch.float32 else lib.lnlstm_bwd_bf16
        dz, dlc = torch.empty_like(acts), torch.empty_like(cn)  # d xproj(t); d(a_c LN(c) + b_c)
        dr = torch.empty_like(acts, dtype=hs_c.dtype)  # dR(t) in the compute dtype
        dy, dy_last = dy.contiguous(), (dy[-1] + dh_last).contiguous()  # the last step's dh: no recurrent part
        dc, dh = dc_last.contiguous().clone(), hs_c.new_empty(B, H)  # dh = dR(t+1) U in the compute dtype
        (y0, ys), (a0, as_), (c0, css), (r0, rs), (s0, ss), (n0, ns), (t0, ts), (z0, zs), (l0, ls), (d0, ds) = _rows(
            dy, acts, cs, rn, rstd, cn, tanh_c, dz, dlc, dr)
        for t in range(T - 1, -1, -1):
            last = t == T - 1
            step(B, H, dy_last.data_ptr() if last else y0 + t * ys, None if last else dh.data_ptr(), dc.data_ptr(),
                 a_h.data_ptr(), a_c.data_ptr(), a0 + t * as_, c0 + t * css, r0 + t * rs, s0 + t * ss, n0 + t * ns,
                 t0 + t * ts, z0 + t * zs, l0 + t * ls, d0 + t * ds)
            torch.mm(dr[t], w_hh_c, out=dh)
        acc = acts.dtype
        dw_hh = _recurrent_weight_grad(dr, hs_c, acc)
        d_ah = (dz * rn).sum(dim=(0, 1))
        d_ac = (dlc * cn).sum(dim=(0, 1))
        return dz, dh.to(acc), dc, dw_hh, d_ah, d_ac, dlc.sum(dim=(0, 1)), None, None


def run_layer(lib, xproj, h0, c0, w_hh, a_h, a_c, b_c, dtype):
    """One layer's (T, B, H) outputs, h and c through ``LNLSTMRecurrence`` with the C kernels ``lib``."""
    return LNLSTMRecurrence.apply(xproj, h0.contiguous(), c0.contiguous(), w_hh, a_h, a_c, b_c, dtype, lib)
