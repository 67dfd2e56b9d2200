"""Gradient flow across timesteps: why plain RNNs forget and LSTMs remember, as measurements.

Its job: take a language model and token ids and measure how strongly the loss at the *last* step
of a window depends on every earlier step - the RNN lecture's (see README) "Challenge of Long-Term
Dependencies" and "Vanishing and Exploding Gradient Problem", as numbers:

- ``||dL_T / dh_t||`` for every layer and every step t of a window of T steps (and ``dL_T/dc_t``
  for the LSTM's memory cell), ``||dL_T / dx_t||`` for what each layer reads, mean and spread over
  windows, indexed by the lag ``T - t``;
- the decay per step (the slope of log norm against lag, as a factor) and the memory horizon (the
  first lag where the norm falls below ``threshold`` times its lag-0 value); growth is exploding;
- the recurrent matrices' spectra: through h(t) = W^t h(0) = V diag(lambda)^t V^-1 h(0), the
  eigenvalues of W decide whether a linear recurrence vanishes or explodes (spectral radius), and
  the singular values bound how much one step can stretch a vector;
- the norm of the real step Jacobian dh_t/dh_{t-1} along the data, which is what gates and leaky
  units change (for an LSTM the cell path dc_t/dc_{t-1} = diag(f_t) is measured by the c norms);
- per-parameter gradient norms on training-shaped batches and a clipping threshold from their
  total norms (Pascanu et al. 2013: "look at statistics on the average norm").

To see inside each step, the model is re-run one step at a time through ``layer_steppers``: plain
functions of each layer's own parameters that compute the same equations as the model's fused or
looped cells (seqtool/models/cells.py and fused.py, listed in the cell registry; tests hold them to
the model's logits). Nothing here prints; the CLI renders, and seqtool.grad_explain puts the numbers
into words.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqtool.errors import CorpusError, UsageError
from seqtool.models.cells import LayerStepper
from seqtool.models.registry import cell_spec, layer_steppers

# --------------------------------------------------------------------------- options


@dataclass
class GradOptions:
    """What to measure.

    steps: T, the window length, grad-report's --timesteps (may be longer than the training bptt).
    windows: how many windows (random positions of the data) the per-step norms average over;
        also how many training-shaped batches the clipping statistics use.
    threshold: the horizon is the first lag whose norm is below threshold x the lag-0 norm.
    jacobian_steps: time steps per window at which the step Jacobian's norm is taken.
    batch_size, bptt: shape of the training batches for per-parameter norms and the clip suggestion.
    seed: picks the window positions and dropout masks.
    """

    steps: int = 100
    windows: int = 8
    threshold: float = 1e-3
    jacobian_steps: int = 16
    batch_size: int = 32
    bptt: int = 64
    seed: int = 0

    def validate(self) -> "GradOptions":
        if self.steps < 2:
            raise UsageError(f"--timesteps {self.steps}: must be at least 2 (the loss at step T and at least one step before it)")
        if self.windows < 1:
            raise UsageError(f"--windows {self.windows}: must be at least 1")
        if not 0.0 < self.threshold < 1.0:
            raise UsageError(f"--threshold {self.threshold}: must be between 0 and 1 (e.g. 1e-3)")
        if self.jacobian_steps < 0:
            raise UsageError(f"jacobian_steps {self.jacobian_steps}: must be >= 0")
        if self.batch_size < 1 or self.bptt < 1:
            raise UsageError("batch_size and bptt for the clipping statistics must be at least 1")
        return self


# --------------------------------------------------------------------------- one step at a time


def unroll(model, ids: torch.Tensor, record_at: set[int] | None = None):
    """Run ``model`` (eval mode) one step at a time from a zero state.

    Returns (inputs, hidden, memory, records): ``inputs[k]`` (T, B, D) is what layer k reads (a leaf
    needing grad for k = 0), ``hidden[k][t]`` is h(t) of layer k (B, H), ``memory[k][t]`` the extra
    carried tensor (LSTM c) or None, and ``records[k]`` holds (t, x_t, state_{t-1}) detached for the
    steps in ``record_at`` (for step Jacobians). ``model.logits(hidden[-1][t])`` equals the
    model's own logits at step t.
    """
    T, B = ids.shape
    layers = layer_steppers(model)
    feedback = cell_spec(model.cfg.cell).feedback  # Jordan network: y(t-1) is read from the state
    x = model.inputs(ids).detach().requires_grad_(True)  # (T, B, D)
    inputs, hidden, memory, records = [], [], [], []
    for layer in layers:
        inputs.append(x)
        state = layer.init(B, x.device, x.dtype)
        hs, cs, rec = [], [], []
        for t in range(T):
            if record_at is not None and t in record_at and layer.recurrent:
                rec.append((t, x[t].detach(), tuple(s.detach() for s in state)))
            if feedback:
                state = (ids[t],)  # teacher forcing: the fed-back previous output is this step's input token
            h, state = layer.step(x[t], state)
            hs.append(h)
            cs.append(state[layer.memory] if layer.memory is not None else None)
        hidden.append(hs)
        memory.append(cs)
        records.append(rec)
        x = torch.stack(hs)  # (T, B, H): the next layer's input (no dropout in eval mode)
    return inputs, hidden, memory, records


# --------------------------------------------------------------------------- measurements


def step_jacobian_norms(layer: LayerStepper, records: list) -> np.ndarray:
    """Spectral norms ||dh_t/dh_{t-1}||_2 at the recorded steps (other carried tensors held fixed)."""
    if not records or not layer.recurrent:
        return np.zeros(0)
    from torch.func import jacrev, vmap

    x = torch.cat([r[1] for r in records])  # (N, D)
    states = [torch.cat([r[2][i] for r in records]) for i in range(len(records[0][2]))]  # each (N, ...)

    def h_next(h_prev, x_t, *rest):
        return layer.step(x_t, (h_prev, *rest))[0]

    jac = vmap(jacrev(h_next))(states[0], x, *states[1:])  # (N, H, H)
    return torch.linalg.matrix_norm(jac.detach().double(), ord=2).cpu().numpy()


def decay_per_step(norms: np.ndarray) -> float:
    """exp(slope) of a least-squares line through log(norm) against lag: the factor per step.

    Only the positive norms take part (a lag the loss cannot reach has norm 0). 0.0 when fewer
    than two lags are reachable: the gradient is gone after one step.
    """
    lags = np.flatnonzero(norms > 0)
    if len(lags) < 2:
        return 0.0
    slope = np.polyfit(lags.astype(float), np.log(norms[lags]), 1)[0]
    return float(math.exp(slope))


def horizon(norms: np.ndarray, threshold: float) -> int | None:
    """First lag >= 1 whose norm is below ``threshold`` x the lag-0 norm; None if the window ends first."""
    if norms[0] <= 0:
        return None
    below = np.flatnonzero(norms[1:] < threshold * norms[0])
    return int(below[0]) + 1 if len(below) else None


def _by_lag(per_step: list, batch: int) -> np.ndarray:
    """Per-step gradients [t] (B, ...) -> norms (lag, window), lag = T-1-t; a missing gradient is 0."""
    rows = [np.zeros(batch) if g is None else g.reshape(batch, -1).double().norm(dim=1).cpu().numpy()
            for g in reversed(per_step)]
    return np.stack(rows)  # (T, B)


def _spectrum(w: torch.Tensor) -> tuple[float, list[float]]:
    w = w.detach().double().cpu()
    return float(torch.linalg.eigvals(w).abs().max()), torch.linalg.svdvals(w).tolist()


@dataclass
class LayerFlow:
    """Everything measured for one recurrent layer (lists are indexed by lag T - t)."""

    layer: int
    grad_norm_by_lag: list[float]
    grad_norm_by_lag_p10: list[float]
    grad_norm_by_lag_p90: list[float]
    input_grad_norm_by_lag: list[float]
    cell_grad_norm_by_lag: list[float] | None
    horizon: int | None
    input_horizon: int | None
    decay_per_step: float
    input_decay_per_step: float
    exploding: bool
    spectral_radius: float | None
    singular_values: list[float] | None
    gate_spectral_radius: dict[str, float] | None
    linearised_spectral_radius: float | None
    step_jacobian_norm: dict[str, float] | None
    keep_gate: str | None  # what keep_fraction measures (LSTM forget gate, GRU update gate, leaky 1 - 1/tau)
    keep_fraction: float | None  # its mean over units and the recorded steps: how much of the old state survives a step


@dataclass
class GradReport:
    """One model's report: per-layer flows, the loss they come from, parameter norms, clip suggestion."""

    name: str
    cell: str
    source: str  # "checkpoint" or "init"
    parameters: int
    steps: int
    windows: int
    threshold: float
    last_step_loss: float
    layers: list[LayerFlow]
    param_grad_norms: dict[str, float]
    total_grad_norm: dict[str, float]
    clip_suggestion: float

    @property
    def horizon(self) -> int | None:
        """The model's memory horizon: how many tokens back the last prediction still reaches
        (the input gradient of the bottom layer)."""
        return self.layers[0].input_horizon

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["horizon"] = self.horizon
        return d


def _stats(a: np.ndarray) -> dict[str, float]:
    return {"mean": float(a.mean()), "median": float(np.median(a)), "p10": float(np.percentile(a, 10)),
            "p90": float(np.percentile(a, 90)), "max": float(a.max())}


def check_batch_fits(model, count: int, length: int, option: str) -> None:
    """Refuse ``count`` windows of ``length`` steps whose forward and backward would not fit in memory:
    a rough bound, 8 floats per unit per step and layer (gates, states and their gradients) plus the logits."""
    from seqtool.memory import available_bytes, refuse_if_over

    cfg = model.cfg
    need = count * length * 4 * (8 * cfg.hidden * cfg.layers + 3 * cfg.vocab_size)
    refuse_if_over(need, available_bytes(), f"{option} {count:,} windows of {length:,} steps", "activations, gradients and logits",
                   "the available memory", fixes=(f"lower {option}",))


def sample_windows(ids: np.ndarray, length: int, count: int, rng: np.random.Generator) -> torch.Tensor:
    """``count`` windows of ``length`` consecutive ids at random positions, time-major (length, count)."""
    n = len(ids)
    if n < length:
        raise CorpusError(f"the data has {n:,} tokens, fewer than one window needs ({length:,})",
                          fixes=("give more data", "use a shorter --timesteps"))
    starts = rng.integers(0, n - length + 1, size=count)
    cols = [np.asarray(ids[s : s + length], dtype=np.int64) for s in starts]
    return torch.from_numpy(np.stack(cols, axis=1))  # (length, count)


def measure_flow(model, windows: torch.Tensor, opts: GradOptions) -> tuple[list[LayerFlow], float]:
    """Per-layer gradient flow of the last step's loss over ``windows`` (T+1, B), and that loss."""
    model.eval()
    ids, target = windows[:-1], windows[-1]  # (T, B), (B,)
    T, B = ids.shape
    n_jac = min(opts.jacobian_steps, T - 1)
    record_at = set(np.linspace(1, T - 1, n_jac).round().astype(int).tolist()) if n_jac else set()
    loss, per_layer, records = _last_step_gradients(model, ids, target, record_at)
    flows = [_layer_flow(k, layer, *per_layer[k], records[k], opts.threshold)
             for k, layer in enumerate(layer_steppers(model))]
    return flows, float(loss.detach()) / B


def _last_step_gradients(model, ids: torch.Tensor, target: torch.Tensor, record_at: set[int]):
    """Unroll, take the loss at the last step and its gradients with respect to every h_t, x_t, c_t.

    Returns (loss, per_layer, records): ``per_layer[k]`` holds layer k's norms by lag, (T, B) each,
    of dL_T/dh_t, dL_T/dx_t and dL_T/dc_t (None without a memory cell).
    """
    T, B = ids.shape
    inputs, hidden, memory, records = unroll(model, ids, record_at)
    logits = model.logits(hidden[-1][-1])  # (B, V): o(T) = c + V h(T)
    loss = F.cross_entropy(logits.float(), target, reduction="sum")  # windows are independent: sum = per-window grads
    wanted = [h for hs in hidden for h in hs] + inputs + [c for cs in memory for c in cs if c is not None]
    grads = list(torch.autograd.grad(loss, wanted, allow_unused=True))
    layers = len(hidden)
    x_grads = grads[layers * T : layers * T + layers]
    c_grads = grads[layers * T + layers :]
    per_layer, c_at = [], 0
    for k in range(layers):
        h = _by_lag(grads[k * T : (k + 1) * T], B)  # (T, B)
        x = _by_lag(list(x_grads[k]) if x_grads[k] is not None else [None] * T, B)
        c = None
        if memory[k][0] is not None:
            c, c_at = _by_lag(c_grads[c_at : c_at + T], B), c_at + T
        per_layer.append((h, x, c))
    return loss, per_layer, records


def _layer_spectra(layer: LayerStepper):
    """(spectral radius and singular values of the main recurrent matrix, radius per gate, linearised radius)."""
    rho = svals = gates = lin = None
    if layer.main is not None:
        spectra = {name: _spectrum(w) for name, w in layer.blocks.items()}
        rho, svals = spectra[layer.main]
        if len(spectra) > 1:
            gates = {name: s[0] for name, s in spectra.items()}
    if layer.linearised is not None:
        lin = _spectrum(layer.linearised)[0]
    return rho, svals, gates, lin


def _keep_fraction(layer: LayerStepper, records: list) -> float | None:
    """Mean over units and recorded steps of what the layer keeps of its old state (forget gate, ...)."""
    if layer.keep is None or not records:
        return None
    with torch.no_grad():
        return float(torch.cat([layer.keep[1](r[1], r[2]) for r in records]).mean())


def _layer_flow(k: int, layer: LayerStepper, h: np.ndarray, x: np.ndarray, c: np.ndarray | None,
                records: list, threshold: float) -> LayerFlow:
    """The LayerFlow of layer k from its gradient norms by lag (T, B) and its recorded steps."""
    mean_h, mean_x = h.mean(axis=1), x.mean(axis=1)
    rho, svals, gates, lin = _layer_spectra(layer)
    jac = step_jacobian_norms(layer, records)
    decay = decay_per_step(mean_h)
    return LayerFlow(
        layer=k,
        grad_norm_by_lag=mean_h.tolist(),
        grad_norm_by_lag_p10=np.percentile(h, 10, axis=1).tolist(),
        grad_norm_by_lag_p90=np.percentile(h, 90, axis=1).tolist(),
        input_grad_norm_by_lag=mean_x.tolist(),
        cell_grad_norm_by_lag=c.mean(axis=1).tolist() if c is not None else None,
        horizon=horizon(mean_h, threshold),
        input_horizon=horizon(mean_x, threshold),
        decay_per_step=decay,
        input_decay_per_step=decay_per_step(mean_x),
        exploding=bool(decay > 1.0 or (mean_h[0] > 0 and mean_h[-1] > mean_h[0])),
        spectral_radius=rho,
        singular_values=svals,
        gate_spectral_radius=gates,
        linearised_spectral_radius=lin,
        step_jacobian_norm=_stats(jac) if len(jac) else None,
        keep_gate=layer.keep[0] if layer.keep else None,
        keep_fraction=_keep_fraction(layer, records),
    )


def clip_statistics(model, ids: np.ndarray, opts: GradOptions, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """Per-parameter mean gradient norms and the total norms over training-shaped batches.

    Each batch is ``batch_size`` windows of ``bptt`` steps at random positions, the mean
    cross-entropy over all steps, in training mode (dropout on) - what the trainer clips.
    """
    bptt = min(opts.bptt, len(ids) - 1)
    if bptt < 1:
        raise CorpusError(f"the data has {len(ids)} tokens; at least 2 are needed")
    torch.manual_seed(opts.seed)
    device = next(model.parameters()).device
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    sums = {n: 0.0 for n, _ in named}
    totals = []
    check_batch_fits(model, opts.batch_size, bptt, "--batch-size")
    model.train()
    try:
        for _ in range(opts.windows):
            batch = sample_windows(ids, bptt + 1, opts.batch_size, rng).to(device)  # (bptt+1, B)
            model.zero_grad(set_to_none=True)
            model.loss(batch[:-1], batch[1:])[0].backward()
            norms = {n: float(p.grad.norm()) if p.grad is not None else 0.0 for n, p in named}
            for n, v in norms.items():
                sums[n] += v
            totals.append(math.sqrt(sum(v * v for v in norms.values())))
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()
    return {n: s / opts.windows for n, s in sums.items()}, np.array(totals)


def _round2(x: float) -> float:
    """Two significant digits: a threshold, not a measurement."""
    if x <= 0 or not math.isfinite(x):
        return x
    return float(f"{x:.2g}")


def grad_report(model, ids: np.ndarray, opts: GradOptions, name: str, source: str) -> GradReport:
    """Measure ``model`` on ``ids`` (1-D token ids) and return its report."""
    opts.validate()
    rng = np.random.default_rng(opts.seed)
    device = next(model.parameters()).device
    check_batch_fits(model, opts.windows, opts.steps, "--windows")
    windows = sample_windows(ids, opts.steps + 1, opts.windows, rng).to(device)  # (T+1, B)
    flows, loss = measure_flow(model, windows, opts)
    param_norms, totals = clip_statistics(model, ids, opts, rng)
    return GradReport(
        name=name, cell=model.cfg.cell, source=source,
        parameters=sum(p.numel() for p in model.parameters()),
        steps=opts.steps, windows=opts.windows, threshold=opts.threshold,
        last_step_loss=loss, layers=flows, param_grad_norms=param_norms,
        total_grad_norm=_stats(totals),
        clip_suggestion=_round2(float(totals.mean())),
    )
