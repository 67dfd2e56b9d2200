"""Gradient flow across timesteps: why plain RNNs forget and LSTMs remember, as measurements.

Its job: take a language model and token ids and measure how strongly the loss at the *last* step
of a window depends on every earlier step - the lecture's "Challenge of Long-Term Dependencies"
and "Vanishing and Exploding Gradient Problem", as numbers:

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
looped cells (tests hold them to the model's logits). Nothing here prints; the CLI renders.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from seqtool.errors import ConfigError, CorpusError, UsageError

# --------------------------------------------------------------------------- options


@dataclass
class GradOptions:
    """What to measure.

    steps: T, the window length (may be longer than the training bptt).
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
            raise UsageError(f"--steps {self.steps}: must be at least 2 (the loss at step T and at least one step before it)")
        if self.windows < 1:
            raise UsageError(f"--batches {self.windows}: must be at least 1")
        if not 0.0 < self.threshold < 1.0:
            raise UsageError(f"--threshold {self.threshold}: must be between 0 and 1 (e.g. 1e-3)")
        if self.jacobian_steps < 0:
            raise UsageError(f"jacobian_steps {self.jacobian_steps}: must be >= 0")
        if self.batch_size < 1 or self.bptt < 1:
            raise UsageError("batch_size and bptt for the clipping statistics must be at least 1")
        return self


# --------------------------------------------------------------------------- one step per layer


@dataclass
class LayerStepper:
    """One recurrent layer as a step function: ``h, state = step(x_t, tok_t, state)``.

    x_t (B, D) is what the layer reads at step t, tok_t (B,) the input token (the Jordan cell feeds
    it back as y(t-1)); state is a tuple of tensors whose first element is h(t) itself, so the tensor
    a later step reads is the one whose gradient is measured. ``memory`` picks a second carried
    tensor worth measuring (the LSTM's cell c). ``recurrent`` is False for cells without a hidden
    recurrence (jordan, tdnn): their h(t) reaches later steps only through the inputs. ``blocks``
    are the recurrent matrices acting on h(t-1), by name, and ``main`` the one playing the
    lecture's W (the candidate for gated cells).
    """

    cell: str
    init: Callable[[int, torch.device, torch.dtype], tuple]
    step: Callable[[torch.Tensor, torch.Tensor, tuple], tuple[torch.Tensor, tuple]]
    recurrent: bool = True
    memory: int | None = None
    blocks: dict[str, torch.Tensor] = field(default_factory=dict)
    main: str | None = None
    linearised: torch.Tensor | None = None  # leaky: (1 - alpha) I + alpha W, the recurrence near h = 0
    # (name, fn(x_t, state_{t-1}) -> (B, H)): the fraction of the old state each unit keeps.
    keep: tuple[str, Callable] | None = None


def _zero_state(width: int, count: int = 1):
    """An ``init`` giving ``count`` zero tensors (B, width): the state None stands for."""
    def init(batch, device, dtype):
        return tuple(torch.zeros(batch, width, device=device, dtype=dtype) for _ in range(count))
    return init


def _fused_params(rnn, k: int) -> tuple[torch.Tensor, ...]:
    """Layer k's W_ih, W_hh, b_ih, b_hh of an nn.RNN/GRU/LSTM (gates stacked in torch's order)."""
    return tuple(getattr(rnn, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def _rnn_layer(rnn, k: int) -> LayerStepper:
    w_ih, w_hh, b_ih, b_hh = _fused_params(rnn, k)
    H = rnn.hidden_size

    def step(x, tok, state):
        h = torch.tanh(F.linear(x, w_ih, b_ih) + F.linear(state[0], w_hh, b_hh))  # lecture Design 1
        return h, (h,)

    return LayerStepper("rnn", _zero_state(H), step, blocks={"W": w_hh}, main="W")


def _lstm_layer(rnn, k: int) -> LayerStepper:
    w_ih, w_hh, b_ih, b_hh = _fused_params(rnn, k)
    H = rnn.hidden_size

    def step(x, tok, state):
        h, c = state
        gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (B, 4H) in torch's order i, f, g, o
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # the cell path: dc_t/dc_{t-1} = f_t
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)

    def forget(x, state):
        return torch.sigmoid((F.linear(x, w_ih, b_ih) + F.linear(state[0], w_hh, b_hh)).chunk(4, dim=-1)[1])

    blocks = dict(zip("ifgo", w_hh.chunk(4, dim=0)))
    return LayerStepper("lstm", _zero_state(H, 2), step, memory=1, blocks=blocks, main="g", keep=("forget gate f", forget))


def _gru_layer(rnn, k: int) -> LayerStepper:
    w_ih, w_hh, b_ih, b_hh = _fused_params(rnn, k)
    H = rnn.hidden_size

    def step(x, tok, state):
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
    return LayerStepper("gru", _zero_state(H), step, blocks=blocks, main="n", keep=("update gate z", update))


def _leaky_layer(cell, k: int) -> LayerStepper:
    w_ih, w_hh, b = (getattr(cell, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias"))
    alpha = 1.0 / cell.tau(k)  # (H,)
    H = cell.hidden_size

    def step(x, tok, state):
        h = state[0]
        h = h + alpha * (torch.tanh(F.linear(x, w_ih, b) + F.linear(h, w_hh)) - h)  # leaky integration
        return h, (h,)

    lin = torch.diag(1 - alpha) + alpha[:, None] * w_hh  # dh_t/dh_{t-1} where tanh' = 1
    return LayerStepper("leaky", _zero_state(H), step, blocks={"W": w_hh}, main="W", linearised=lin,
                        keep=("1 - 1/tau", lambda x, state: (1 - alpha).expand_as(state[0])))


def _skip_layer(cell, k: int) -> LayerStepper:
    w_ih, w1, wd, b = (getattr(cell, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "weight_hd", "bias"))
    H, d = cell.hidden_size, cell.delay

    def step(x, tok, state):
        h = torch.tanh(F.linear(x, w_ih, b) + F.linear(state[0], w1) + F.linear(state[d - 1], wd))
        return h, (h, *state[: d - 1])

    # state (h(t-1), h(t-2), ..., h(t-d)): newest first, so state[0] is h(t-1) like the other cells.
    return LayerStepper("skip", _zero_state(H, d), step, blocks={"W1": w1, f"W{d}": wd}, main="W1")


def _jordan_layer(cell, k: int) -> LayerStepper:
    w_ih, w_fb, b = (getattr(cell, f"{n}_l{k}") for n in ("weight_ih", "weight_fb", "bias"))

    def step(x, tok, state):
        # y(t-1) is the input token under teacher forcing; nothing hidden is carried.
        return torch.tanh(F.linear(x, w_ih, b) + F.embedding(tok, w_fb)), ()

    return LayerStepper("jordan", _zero_state(0, 0), step, recurrent=False)


def _tdnn_layer(cell, k: int) -> LayerStepper:
    weight, b = getattr(cell, f"weight_l{k}"), getattr(cell, f"bias_l{k}")
    keep = cell.window - 1
    D = weight.shape[1]

    def step(x, tok, state):
        window = torch.stack((*state, x), dim=-1)  # (B, D, window): x(t-window+1) .. x(t)
        h = torch.tanh(torch.einsum("bdw,hdw->bh", window, weight) + b)
        return h, (*state[1:], x) if keep else ()

    return LayerStepper("tdnn", _zero_state(D, keep), step, recurrent=False)  # the last inputs, oldest first


_LAYERS = {
    "rnn": _rnn_layer, "lstm": _lstm_layer, "gru": _gru_layer, "leaky": _leaky_layer,
    "skip": _skip_layer, "jordan": _jordan_layer, "tdnn": _tdnn_layer,
}


def layer_steppers(model) -> list[LayerStepper]:
    """One ``LayerStepper`` per recurrent layer of ``model``, bottom first."""
    return [_LAYERS[model.cfg.cell](model.rnn, k) for k in range(model.cfg.layers)]


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
    x = model.inputs(ids).detach().requires_grad_(True)  # (T, B, D)
    inputs, hidden, memory, records = [], [], [], []
    for layer in layers:
        inputs.append(x)
        state = layer.init(B, x.device, x.dtype)
        hs, cs, rec = [], [], []
        for t in range(T):
            if record_at is not None and t in record_at and layer.recurrent:
                rec.append((t, x[t].detach(), tuple(s.detach() for s in state)))
            h, state = layer.step(x[t], ids[t], state)
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
        return layer.step(x_t, None, (h_prev, *rest))[0]

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


def sample_windows(ids: np.ndarray, length: int, count: int, rng: np.random.Generator) -> torch.Tensor:
    """``count`` windows of ``length`` consecutive ids at random positions, time-major (length, count)."""
    n = len(ids)
    if n < length:
        raise CorpusError(f"the data has {n:,} tokens, fewer than one window needs ({length:,}); use a shorter --steps or more data")
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
    inputs, hidden, memory, records = unroll(model, ids, record_at)
    logits = model.logits(hidden[-1][-1])  # (B, V): o(T) = c + V h(T)
    loss = F.cross_entropy(logits.float(), target, reduction="sum")  # windows are independent: sum = per-window grads
    wanted = [h for hs in hidden for h in hs] + inputs + [c for cs in memory for c in cs if c is not None]
    grads = list(torch.autograd.grad(loss, wanted, allow_unused=True))
    layers = model.cfg.layers
    h_grads = [grads[k * T : (k + 1) * T] for k in range(layers)]
    x_grads = grads[layers * T : layers * T + layers]
    c_grads = grads[layers * T + layers :]

    flows = []
    steppers = layer_steppers(model)
    for k, layer in enumerate(steppers):
        h = _by_lag(h_grads[k], B)  # (T, B)
        g = x_grads[k]
        x = _by_lag(list(g) if g is not None else [None] * T, B)
        mean_h, mean_x = h.mean(axis=1), x.mean(axis=1)
        cell = None
        if layer.memory is not None:
            cell = _by_lag(c_grads[k * T : (k + 1) * T], B).mean(axis=1).tolist()
        rho = svals = gates = lin = None
        if layer.main is not None:
            spectra = {name: _spectrum(w) for name, w in layer.blocks.items()}
            rho, svals = spectra[layer.main]
            if len(spectra) > 1:
                gates = {name: s[0] for name, s in spectra.items()}
        if layer.linearised is not None:
            lin = _spectrum(layer.linearised)[0]
        jac = step_jacobian_norms(layer, records[k])
        keep = None
        if layer.keep is not None and records[k]:
            with torch.no_grad():
                keep = float(torch.cat([layer.keep[1](r[1], r[2]) for r in records[k]]).mean())
        decay = decay_per_step(mean_h)
        flows.append(LayerFlow(
            layer=k,
            grad_norm_by_lag=mean_h.tolist(),
            grad_norm_by_lag_p10=np.percentile(h, 10, axis=1).tolist(),
            grad_norm_by_lag_p90=np.percentile(h, 90, axis=1).tolist(),
            input_grad_norm_by_lag=mean_x.tolist(),
            cell_grad_norm_by_lag=cell,
            horizon=horizon(mean_h, opts.threshold),
            input_horizon=horizon(mean_x, opts.threshold),
            decay_per_step=decay,
            input_decay_per_step=decay_per_step(mean_x),
            exploding=bool(decay > 1.0 or (mean_h[0] > 0 and mean_h[-1] > mean_h[0])),
            spectral_radius=rho,
            singular_values=svals,
            gate_spectral_radius=gates,
            linearised_spectral_radius=lin,
            step_jacobian_norm=_stats(jac) if len(jac) else None,
            keep_gate=layer.keep[0] if layer.keep else None,
            keep_fraction=keep,
        ))
    return flows, float(loss.detach()) / B


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


# --------------------------------------------------------------------------- words


def _reach(r: GradReport) -> str:
    return f"{r.horizon}" if r.horizon is not None else f"more than {r.steps - 1} (the whole window)"


def explain(reports: list[GradReport]) -> str:
    """A paragraph that reads the numbers: how far back each model reaches, and why."""
    if not reports:
        return ""
    thr = reports[0].threshold
    text = (f"How far back the last prediction reaches (the lag where ||dL_T/dx_t|| falls below {thr:g} of its value at "
            "the last step): " + ", ".join(f"{r.name} {_reach(r)}" for r in reports) + " steps. ")
    decays = []
    for r in reports:
        top = r.layers[-1]
        d = top.decay_per_step
        decays.append(f"{r.name} {'grows (exploding)' if top.exploding else 'gone after one step' if d == 0 else f'x{d:.3g}'}")
    text += "Per step, the gradient of the top layer's state: " + ", ".join(decays) + "."

    def reach(r):
        return r.horizon if r.horizon is not None else r.steps

    if len(reports) > 1:
        best, worst = max(reports, key=reach), min(reports, key=reach)
        if reach(best) > reach(worst):
            text += (f" A dependency longer than a model's horizon is invisible to gradient descent: {worst.name} can learn "
                     f"from about {reach(worst)} tokens back, {best.name} from {reach(best)}.")
    by_cell: dict[str, list[GradReport]] = {}
    for r in reports:
        by_cell.setdefault(r.cell, []).append(r)

    def each(rs, value) -> str:
        return ", ".join(f"{value(r)} ({r.name})" for r in rs)

    for cell, rs in by_cell.items():
        if cell == "rnn":
            text += (" tanh RNN: every step multiplies the gradient by diag(tanh') W, and W's spectral radius is "
                     + each(rs, lambda r: f"{r.layers[-1].spectral_radius:.2f}")
                     + "; below 1 the gradient vanishes geometrically, above 1 it can explode.")
        elif rs[0].layers[-1].keep_fraction is not None:
            gate = rs[0].layers[-1].keep_gate
            text += f" {gate} averages " + each(rs, lambda r: f"{r.layers[-1].keep_fraction:.2f}") + ": the share of the old state kept each step"
            text += ("; the LSTM's cell path c(t) = f c(t-1) + i g has the forget gate as its Jacobian, so gradient lasts "
                     "while f stays near 1." if cell == "lstm" else ".")
        elif cell in ("jordan", "tdnn"):
            text += f" {cell}: no hidden state is carried, so its reach ends with its input window."
    return text


def check_compare(cells: list[str]) -> list[str]:
    """Validate a --compare list of cell names."""
    from seqtool.models.config import CELLS

    bad = [c for c in cells if c not in CELLS]
    if bad or not cells:
        raise ConfigError(f"--compare: unknown cell {', '.join(bad) or '(empty)'}; choose from {', '.join(CELLS)}")
    return cells


# --------------------------------------------------------------------------- what to measure


@dataclass
class Subject:
    """A model to report on, the ids to measure it with, and the training batch shape it uses."""

    name: str
    model: Any  # LanguageModel, in eval mode on its device
    ids: np.ndarray
    source: str  # "checkpoint" or "init"
    batch_size: int
    bptt: int


def _fresh_model(cfg, seed: int, device):
    from seqtool.models import build_model

    torch.manual_seed(seed)  # the same weights seqtool train --seed would start from
    return build_model(cfg).to(device).eval()


def checkpoint_subjects(path, text: str | None, device, with_init: bool, seed: int = 0) -> list[Subject]:
    """A trained model (run directory or .pt), its data, and optionally the same config at initialisation.

    ``text`` is encoded with the checkpoint's own tokenizer; without it the run's validation ids
    are used.
    """
    from pathlib import Path

    from seqtool.checkpoint import load_checkpoint, load_model
    from seqtool.data import load_ids

    ckpt = load_checkpoint(path)
    lm = load_model(ckpt["path"], device)
    if text is not None:
        ids = lm.tokenizer.encode(text)
    else:
        val = Path(ckpt.get("data", {}).get("dir", "")) / "val.npy"
        if not val.is_file():
            raise CorpusError(f"{path}: its validation ids ({val}) are gone; give --data FILE to measure on")
        ids = load_ids(val)
    train = ckpt.get("train_config", {})
    batch, bptt = int(train.get("batch_size", 32)), int(train.get("bptt", 64))
    p = Path(path)
    name = p.name if p.is_dir() else (p.parent.name if p.stem in ("best", "last") else p.stem)
    subjects = [Subject(name, lm.model, ids, "checkpoint", batch, bptt)]
    if with_init:
        model = _fresh_model(lm.model.cfg, seed, device)
        subjects.append(Subject(f"{name} (init)", model, ids, "init", batch, bptt))
    return subjects


def fresh_subjects(cells: list[str], given: dict[str, Any], tok_options, text: str, seed: int, device,
                   batch_size: int | None = None, bptt: int | None = None) -> list[Subject]:
    """Freshly initialised models, one per cell, with a tokenizer fitted on ``text``.

    ``given`` holds the train command's model options (None = the level's default), so a report
    at initialisation describes exactly the model ``seqtool train`` would start from.
    """
    import dataclasses

    from seqtool.models.config import level_defaults
    from seqtool.runs import model_config
    from seqtool.text.tokenizers import make_tokenizer

    tok = make_tokenizer(tok_options).fit([text])
    ids = tok.encode(text)
    defaults = level_defaults(tok.level)
    base = model_config(len(tok.vocab), tok.level, {**given, "cell": cells[0]})
    subjects = []
    for cell in cells:
        cfg = dataclasses.replace(base, cell=cell).validate()
        subjects.append(Subject(f"{cell} (init)", _fresh_model(cfg, seed, device), ids, "init",
                                batch_size or defaults["batch_size"], bptt or defaults["bptt"]))
    return subjects


def report_subject(s: Subject, opts: GradOptions) -> GradReport:
    """``grad_report`` for one subject, with its own training batch shape for the clip statistics."""
    import dataclasses

    return grad_report(s.model, s.ids, dataclasses.replace(opts, batch_size=s.batch_size, bptt=s.bptt), s.name, s.source)
