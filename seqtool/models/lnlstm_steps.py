"""The layer-normalised LSTM's recurrence (seqtool/models/cells.py, LayerNormLSTM) with one C call per step.

Eager torch runs each step of ``_lnlstm_scan`` as about fifteen small ops forward and twice that backward, and
autograd keeps a node for each: at B=32, H=384 the layer trained 3.4x slower than the LSTM's C steps (issue 14).
``LNLSTMRecurrence`` is one ``autograd.Function`` per layer and window with a hand-written backward:

    forward   per step: R = h(t-1) U^T (a matmul), then one C call (cell_kernels.c, lnlstm_fwd_*): LN(W x(t)),
              LN(R), z, the gates, c(t), LN(c(t)), h(t); it keeps the normalised W x, R and c, their 1/std, the
              gates and tanh(a_c LN(c) + b_c) for the backward
    backward  per step: one C call (lnlstm_bwd_*) gives dz(t), and through the layer norms' backward d W x(t)
              and dR(t), and adds to the gains' and shifts' gradients; then dh(t-1) = dR(t) U (a matmul);
              after the loop dU = dR^T H(t-1) (one matmul)

Only W x(t) for the whole window is computed outside, in autograd (one matmul). Its layer norm and the gains'
gradients are in the C steps, which have the values at hand: as whole-window torch ops (a layer_norm, a bias add,
four products and sums) they took ~11% of a bf16 training step at the 10-minute rule's shape (torch profiler,
session 9); moved here, an fp32 training step ran 1.12x faster at hidden 384 and 1.14x at 512
(benchmarks/ab_checkouts.py, on a Zen 3 EPYC without native bf16).
With ``dtype=torch.bfloat16`` the two per-step matmuls and dU run in bf16 (fp32 master weights, the state,
the normalisations and the gates fp32), as seqtool/models/bf16_rnn.py does for the LSTM. Used on the CPU
where the C kernels build (seqtool/models/ckernels.py); elsewhere (CUDA, float64 for gradcheck, no compiler,
SEQTOOL_NO_C_KERNELS=1) LayerNormLSTM keeps the eager loop, which the tests hold this module to.
"""
from __future__ import annotations

import torch

from seqtool.models.bf16_rnn import _cast, _recurrent_weight_grad, _rows, _state_buffer


class LNLSTMRecurrence(torch.autograd.Function):
    """One layer's recurrence over wx (T, B, 4H) = W x(t) from (h0, c0) (B, H):
    z = LN(W x(t); a_x) + LN(U h(t-1); a_h) + b, c(t) = f c(t-1) + i g, h(t) = o tanh(LN(c(t); a_c, b_c)).
    Returns h(t) for every step (T, B, H), h(T-1) and c(T-1). ``lib``: the loaded C kernels."""

    @staticmethod
    def forward(ctx, wx, h0, c0, w_hh, a_x, a_h, b, a_c, b_c, dtype, lib):
        T, B, G = wx.shape
        H = G // 4
        wx = wx.contiguous()
        w_hh_c = _cast(w_hh, dtype)
        w_hh_t = w_hh_c.t().contiguous()  # (H, 4H): a transposed right operand made bf16 matmuls ~1.5x slower
        a_x, a_h, b, a_c, b_c = (p.detach().contiguous() for p in (a_x, a_h, b, a_c, b_c))
        acts, xn, rn = torch.empty_like(wx), torch.empty_like(wx), torch.empty_like(wx)
        rstd = wx.new_empty(T, B, 3)  # 1/std of R's row, c's row and W x's row
        cn, tanh_c, hs = (wx.new_empty(T, B, H) for _ in range(3))
        cs = _state_buffer(c0, T, None)  # cs[t] = c(t-1)
        hs_c = _state_buffer(h0, T, dtype)  # hs_c[t] = h(t-1) in the compute dtype
        gh = hs_c.new_empty(B, G)
        step = lib.lnlstm_fwd_f32 if hs_c.dtype == torch.float32 else lib.lnlstm_fwd_bf16
        gains = [p.data_ptr() for p in (a_x, a_h, b, a_c, b_c)]
        (x0, xs), (c0_, cs_), (a0, as_), (p0, ps), (r0, rs), (s0, ss), (n0, ns), (t0, ts), (y0, ys), (q0, qs) = _rows(
            wx, cs, acts, xn, rn, rstd, cn, tanh_c, hs, hs_c)
        for t in range(T):
            torch.mm(hs_c[t], w_hh_t, out=gh)
            step(B, H, x0 + t * xs, gh.data_ptr(), *gains, c0_ + t * cs_, c0_ + (t + 1) * cs_, a0 + t * as_,
                 p0 + t * ps, r0 + t * rs, s0 + t * ss, n0 + t * ns, t0 + t * ts, y0 + t * ys, q0 + (t + 1) * qs)
        ctx.lib, ctx.dtype = lib, dtype
        ctx.save_for_backward(w_hh_c, a_x, a_h, a_c, acts, xn, rn, rstd, cn, tanh_c, cs, hs_c)
        return hs, hs[-1].clone(), cs[-1].clone()

    @staticmethod
    def backward(ctx, dy, dh_last, dc_last):
        w_hh_c, a_x, a_h, a_c, acts, xn, rn, rstd, cn, tanh_c, cs, hs_c = ctx.saved_tensors
        T, B, G = acts.shape
        H = G // 4
        step = ctx.lib.lnlstm_bwd_f32 if hs_c.dtype == torch.float32 else ctx.lib.lnlstm_bwd_bf16
        dwx = torch.empty_like(acts)  # d W x(t)
        dr = torch.empty_like(acts, dtype=hs_c.dtype)  # dR(t) in the compute dtype
        work = acts.new_empty(5 * H)
        g_ax, g_ah, g_b = (acts.new_zeros(G) for _ in range(3))  # the gains' and shifts' gradients, summed by C
        g_ac, g_bc = acts.new_zeros(H), acts.new_zeros(H)
        dy, dy_last = dy.contiguous(), (dy[-1] + dh_last).contiguous()  # the last step's dh: no recurrent part
        dc, dh = dc_last.contiguous().clone(), hs_c.new_empty(B, H)  # dh = dR(t+1) U in the compute dtype
        fixed = [p.data_ptr() for p in (a_x, a_h, a_c)]
        sums = [p.data_ptr() for p in (work, g_ax, g_ah, g_b, g_ac, g_bc)]
        (y0, ys), (a0, as_), (c0, css), (p0, ps), (r0, rs), (s0, ss), (n0, ns), (t0, ts), (w0, ws), (d0, ds) = _rows(
            dy, acts, cs, xn, rn, rstd, cn, tanh_c, dwx, dr)
        for t in range(T - 1, -1, -1):
            last = t == T - 1
            step(B, H, dy_last.data_ptr() if last else y0 + t * ys, None if last else dh.data_ptr(), dc.data_ptr(),
                 *fixed, a0 + t * as_, c0 + t * css, p0 + t * ps, r0 + t * rs, s0 + t * ss, n0 + t * ns,
                 t0 + t * ts, w0 + t * ws, d0 + t * ds, *sums)
            torch.mm(dr[t], w_hh_c, out=dh)
        dw_hh = _recurrent_weight_grad(dr, hs_c, acts.dtype)
        return dwx, dh.to(acts.dtype), dc, dw_hh, g_ax, g_ah, g_b, g_ac, g_bc, None, None


def run_layer(lib, wx, h0, c0, w_hh, a_x, a_h, b, a_c, b_c, dtype):
    """One layer's (T, B, H) outputs, h and c through ``LNLSTMRecurrence`` with the C kernels ``lib``."""
    return LNLSTMRecurrence.apply(wx, h0.contiguous(), c0.contiguous(), w_hh, a_x, a_h, b, a_c, b_c, dtype, lib)
