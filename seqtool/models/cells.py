"""Recurrent cells the fused torch modules do not provide: leaky, skip-through-time, Jordan, TDNN, layer-normalised LSTM.

Each class is a stack of ``num_layers`` layers with the calling convention of ``nn.RNN``:
time-major input ``x`` of shape (T, B, input_size), an optional carried ``state`` (None means
zeros), and a return value ``(output, new_state)`` with output (T, B, hidden_size) from the top
layer. Dropout is applied between layers, as ``nn.LSTM(dropout=p)`` does. Parameters are named
``<name>_l<k>`` for layer k, like the fused modules, so per-layer counts are easy to read off.

Each cell also has a ``build_<cell>(cfg, dropout)`` and a ``<cell>_stepper(module, k)``: layer k as a
plain step function of its own parameters, the class docstring's equation one step at a time, which
grad-report uses to see inside each step (the registry in seqtool/models/registry.py lists both).

Quoted slide titles are from the RNN lecture (see README).

Speed: the input projections ``U x(t) + b`` of all time steps are one matmul before the loop,
and the loop does the least it can per step (one addmm and one or two pointwise ops). The loops
are plain Python: torch.jit.script made forward+backward slower on CPU (measured with
benchmarks/bench_cells.py, torch 2.13: leaky 55k vs 84k tokens/s, skip 43k vs 54k).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from seqtool.models.awd import locked_dropout

# Lowest learned tau is 1 + _TAU_OFFSET: tau = 1 + softplus(raw) reaches 1 only in the limit, and
# starting nearer to that limit would leave raw with a vanishing gradient.
_TAU_OFFSET = 1e-3


def _uniform_(param: torch.Tensor, hidden_size: int) -> None:
    # Same init as nn.RNN/nn.LSTM: U(-1/sqrt(H), 1/sqrt(H)).
    bound = 1.0 / math.sqrt(hidden_size)
    nn.init.uniform_(param, -bound, bound)


def _between_layers(stack: nn.Module, x: torch.Tensor, layer: int) -> torch.Tensor:
    # Dropout between stacked layers only (not on the top output): Zaremba et al. 2014; with
    # ``stack.locked_dropout`` one mask per column for every step (AWD-LSTM, seqtool/models/awd.py).
    p = stack.dropout
    if p > 0.0 and layer < stack.num_layers - 1:
        return locked_dropout(x, p, stack.training) if stack.locked_dropout else F.dropout(x, p, stack.training)
    return x


@dataclass
class LayerStepper:
    """One recurrent layer as a step function: ``h, state = step(x_t, state)``.

    x_t (B, D) is what the layer reads at step t; state is a tuple of tensors whose first element is
    h(t) itself, so the tensor a later step reads is the one whose gradient is measured (a cell with
    ``feedback`` in the registry reads state (y(t-1),) instead, supplied by the caller). ``memory``
    picks a second carried tensor worth measuring (the LSTM's cell c). ``recurrent`` is False for
    cells without a hidden recurrence (jordan, tdnn): their h(t) reaches later steps only through
    the inputs. ``blocks`` are the recurrent matrices acting on h(t-1), by name, and ``main`` the
    one playing the W of h(t) = tanh(W h(t-1) + U x(t)) (the candidate for gated cells).
    """

    cell: str
    init: Callable[[int, torch.device, torch.dtype], tuple]
    step: Callable[[torch.Tensor, tuple], tuple[torch.Tensor, tuple]]
    recurrent: bool = True
    memory: int | None = None
    blocks: dict[str, torch.Tensor] = field(default_factory=dict)
    main: str | None = None
    linearised: torch.Tensor | None = None  # leaky: (1 - alpha) I + alpha W, the recurrence near h = 0
    # (name, fn(x_t, state_{t-1}) -> (B, H)): the fraction of the old state each unit keeps.
    keep: tuple[str, Callable] | None = None


def zero_state(width: int, count: int = 1):
    """A stepper's ``init``: ``count`` zero tensors (B, width), the state None stands for."""
    def init(batch, device, dtype):
        return tuple(torch.zeros(batch, width, device=device, dtype=dtype) for _ in range(count))
    return init


def _leaky_scan(xproj: torch.Tensor, h: torch.Tensor, weight_hh_t: torch.Tensor, alpha: torch.Tensor):
    """h(t) = (1 - alpha) h(t-1) + alpha tanh(xproj(t) + h(t-1) U^T), alpha = 1/tau per unit."""
    outputs = []
    for t in range(xproj.shape[0]):
        a = torch.addmm(xproj[t], h, weight_hh_t)  # (B, H)
        h = torch.lerp(h, torch.tanh(a), alpha)  # (B, H): h + alpha * (tanh(a) - h)
        outputs.append(h)
    return torch.stack(outputs), h  # (T, B, H), (B, H)


def _skip_scan(xproj: torch.Tensor, history: list[torch.Tensor], weight_cat_t: torch.Tensor, delay: int):
    """h(t) = tanh(xproj(t) + [h(t-1), h(t-d)] [W1; Wd]^T); history holds h(t-d) .. h(t-1)."""
    history = list(history)
    for t in range(xproj.shape[0]):
        both = torch.cat((history[-1], history[-delay]), dim=1)  # (B, 2H)
        history.append(torch.tanh(torch.addmm(xproj[t], both, weight_cat_t)))  # (B, H)
    return history


class LeakyRNN(nn.Module):
    """Leaky-integrator units with a spectrum of time scales.

        h(t) = (1 - 1/tau) h(t-1) + (1/tau) tanh(W x(t) + U h(t-1) + b)

    Each unit has its own tau >= 1, spread log-uniformly over [tau_min, tau_max]: units with tau near
    1 track the input, units with large tau keep a running average over ~tau steps, and the linear
    self-connection gives gradients a path that does not shrink through tanh. tau = 1 is exactly the
    Elman RNN. With ``learn_tau`` the time constants are trained as tau = 1 + softplus(raw).
    Leaky units: Mozer 1992; El Hihi & Bengio 1996; slide "Leaky units and a spectrum of time scales".

    State: tensor (num_layers, B, H).
    """

    locked_dropout = False  # one dropout mask per column between layers (--locked-dropout; set by build_cell)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        tau_min: float = 1.0,
        tau_max: float = 100.0,
        learn_tau: bool = False,
    ):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout, self.learn_tau = dropout, learn_tau
        # Log-uniform spread: tau_i = exp(linspace(log tau_min, log tau_max)), computed in float64.
        tau = torch.exp(torch.linspace(math.log(tau_min), math.log(tau_max), hidden_size, dtype=torch.float64))
        for k in range(num_layers):
            d_in = input_size if k == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(hidden_size, d_in)))  # W
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(hidden_size, hidden_size)))  # U
            self.register_parameter(f"bias_l{k}", nn.Parameter(torch.empty(hidden_size)))  # b
            if learn_tau:
                # raw = softplus^-1(tau - 1), so tau = 1 + softplus(raw) >= 1 for any raw.
                excess = (tau - 1.0).clamp_min(_TAU_OFFSET)
                raw = excess + torch.log(-torch.expm1(-excess))  # stable log(expm1(excess))
                self.register_parameter(f"tau_raw_l{k}", nn.Parameter(raw.float()))
            else:
                self.register_buffer(f"tau_l{k}", tau.float().clone())
        for name, p in self.named_parameters():
            if not name.startswith("tau_raw"):
                _uniform_(p, hidden_size)

    def tau(self, layer: int) -> torch.Tensor:
        """Time constants (H,) of one layer, each >= 1."""
        if self.learn_tau:
            return 1.0 + F.softplus(getattr(self, f"tau_raw_l{layer}"))
        return getattr(self, f"tau_l{layer}")

    def init_state(self, batch_size: int, device=None, dtype=None) -> torch.Tensor:
        dtype = dtype or self.weight_ih_l0.dtype
        return torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None):
        if state is None:
            state = self.init_state(x.shape[1], x.device, x.dtype)
        finals = []
        for k in range(self.num_layers):
            w_ih, w_hh, b = (getattr(self, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias"))
            xproj = F.linear(x, w_ih, b)  # (T, B, H): W x(t) + b for every t in one matmul
            x, h = _leaky_scan(xproj, state[k], w_hh.t(), 1.0 / self.tau(k))  # (T, B, H), (B, H)
            finals.append(h)
            x = _between_layers(self, x, k)
        return x, torch.stack(finals)  # (T, B, H), (L, B, H)


def build_leaky(cfg, dropout: float) -> LeakyRNN:
    return LeakyRNN(cfg.input_dim, cfg.hidden, cfg.layers, dropout, cfg.tau_min, cfg.tau_max, cfg.learn_tau)


def leaky_stepper(cell: LeakyRNN, k: int) -> LayerStepper:
    w_ih, w_hh, b = (getattr(cell, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias"))
    alpha = 1.0 / cell.tau(k)  # (H,)

    def step(x, state):
        h = state[0]
        h = h + alpha * (torch.tanh(F.linear(x, w_ih, b) + F.linear(h, w_hh)) - h)  # leaky integration
        return h, (h,)

    lin = torch.diag(1 - alpha) + alpha[:, None] * w_hh  # dh_t/dh_{t-1} where tanh' = 1
    return LayerStepper("leaky", zero_state(cell.hidden_size), step, blocks={"W": w_hh}, main="W", linearised=lin,
                        keep=("1 - 1/tau", lambda x, state: (1 - alpha).expand_as(state[0])))


class SkipRNN(nn.Module):
    """Tanh RNN with an extra skip connection through time of delay d.

        h(t) = tanh(b + U x(t) + W1 h(t-1) + Wd h(t-d)),   d >= 2

    The direct path from h(t-d) lets gradients cross tau steps in about tau/d hops instead of tau,
    so they vanish/explode more slowly and longer dependencies become learnable. Wd = 0 gives the
    Elman RNN.
    Skip connections through time: Lin et al. 1996; slide "Adding skip connections through time".

    State: tensor (num_layers, d, B, H) holding h(t-d), ..., h(t-1) of each layer (oldest first).
    """

    locked_dropout = False  # one dropout mask per column between layers (--locked-dropout; set by build_cell)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0, delay: int = 2):
        super().__init__()
        if delay < 2:
            raise ValueError(f"delay must be >= 2 (got {delay})")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout, self.delay = dropout, delay
        for k in range(num_layers):
            d_in = input_size if k == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(hidden_size, d_in)))  # U
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(hidden_size, hidden_size)))  # W1
            self.register_parameter(f"weight_hd_l{k}", nn.Parameter(torch.empty(hidden_size, hidden_size)))  # Wd
            self.register_parameter(f"bias_l{k}", nn.Parameter(torch.empty(hidden_size)))  # b
        for p in self.parameters():
            _uniform_(p, hidden_size)

    def init_state(self, batch_size: int, device=None, dtype=None) -> torch.Tensor:
        dtype = dtype or self.weight_ih_l0.dtype
        return torch.zeros(
            self.num_layers, self.delay, batch_size, self.hidden_size, device=device, dtype=dtype
        )

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None):
        if state is None:
            state = self.init_state(x.shape[1], x.device, x.dtype)
        finals = []
        d = self.delay
        for k in range(self.num_layers):
            w_ih, w1, wd, b = (getattr(self, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "weight_hd", "bias"))
            xproj = F.linear(x, w_ih, b)  # (T, B, H): U x(t) + b for every t in one matmul
            weight_cat_t = torch.cat((w1, wd), dim=1).t()  # (2H, H): one matmul for both recurrences
            history = _skip_scan(xproj, list(state[k].unbind(0)), weight_cat_t, d)  # d + T tensors (B, H)
            x = torch.stack(history[d:])  # (T, B, H)
            finals.append(torch.stack(history[-d:]))  # (d, B, H)
            x = _between_layers(self, x, k)
        return x, torch.stack(finals)  # (T, B, H), (L, d, B, H)


def build_skip(cfg, dropout: float) -> SkipRNN:
    return SkipRNN(cfg.input_dim, cfg.hidden, cfg.layers, dropout, cfg.delay)


def skip_stepper(cell: SkipRNN, k: int) -> LayerStepper:
    w_ih, w1, wd, b = (getattr(cell, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "weight_hd", "bias"))
    d = cell.delay

    def step(x, state):
        h = torch.tanh(F.linear(x, w_ih, b) + F.linear(state[0], w1) + F.linear(state[d - 1], wd))
        return h, (h, *state[: d - 1])

    # state (h(t-1), h(t-2), ..., h(t-d)): newest first, so state[0] is h(t-1) like the other cells.
    return LayerStepper("skip", zero_state(cell.hidden_size, d), step, blocks={"W1": w1, f"W{d}": wd}, main="W1")


class JordanRNN(nn.Module):
    """Jordan network: recurrence from the output to the hidden units.

        h(t) = tanh(b + W y(t-1) + U x(t)),   o(t) = c + V h(t)   (V, c: the LM's decoder)

    y(t-1) is the previous output as a one-hot token. Under teacher forcing it is the *true*
    previous output, and in a language model the target at t-1 is the input at t, so
    y(t-1) = x(t): every step depends only on its own input token and all steps decouple.
    Training therefore runs over all steps at once, without a per-step loop ("in comparing loss
    function to output all time steps are decoupled ... training can be parallelized").
    At generation the caller feeds the model's own sampled token back as the next input, which is
    exactly feeding back its output, so the same forward serves both.
    The price: "it requires that the output capture all information of the past to predict the
    future" - with one-hot feedback of the token, this is a bigram-like model (it sees one token).
    W acts on a one-hot vector, so it is stored as a lookup table ``weight_fb`` of shape (V, H):
    row v is W's column for token v. Every stacked layer receives the fed-back output.
    Jordan 1986; slides "Design 2: Recurrence from Output to Hidden" and "Teacher Forcing".

    State: an empty tuple - nothing is carried (the fed-back output arrives as the next input).
    """

    locked_dropout = False  # one dropout mask per column between layers (--locked-dropout; set by build_cell)

    def __init__(self, input_size: int, hidden_size: int, vocab_size: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.vocab_size, self.dropout = vocab_size, dropout
        for k in range(num_layers):
            d_in = input_size if k == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(hidden_size, d_in)))  # U
            self.register_parameter(f"weight_fb_l{k}", nn.Parameter(torch.empty(vocab_size, hidden_size)))  # W^T
            self.register_parameter(f"bias_l{k}", nn.Parameter(torch.empty(hidden_size)))  # b
        for p in self.parameters():
            _uniform_(p, hidden_size)

    def init_state(self, batch_size: int, device=None, dtype=None) -> tuple:
        return ()

    def forward(self, x: torch.Tensor, prev_output: torch.Tensor, state: tuple | None = None):
        """x: (T, B, input_size); prev_output: LongTensor (T, B), the token ids of y(t-1)."""
        for k in range(self.num_layers):
            w_ih, w_fb, b = (getattr(self, f"{n}_l{k}") for n in ("weight_ih", "weight_fb", "bias"))
            feedback = F.embedding(prev_output, w_fb)  # (T, B, H): W y(t-1) for one-hot y(t-1)
            x = torch.tanh(F.linear(x, w_ih, b) + feedback)  # (T, B, H), all steps at once
            x = _between_layers(self, x, k)
        return x, ()


def build_jordan(cfg, dropout: float) -> JordanRNN:
    return JordanRNN(cfg.input_dim, cfg.hidden, cfg.vocab_size, cfg.layers, dropout)


def jordan_stepper(cell: JordanRNN, k: int) -> LayerStepper:
    w_ih, w_fb, b = (getattr(cell, f"{n}_l{k}") for n in ("weight_ih", "weight_fb", "bias"))

    def step(x, state):
        # state = (y(t-1),), the fed-back previous output as token ids (B,); nothing hidden is carried,
        # the caller feeds the next output back (under teacher forcing: the next input token).
        return torch.tanh(F.linear(x, w_ih, b) + F.embedding(state[0], w_fb)), ()

    return LayerStepper("jordan", zero_state(0, 0), step, recurrent=False)


class TDNN(nn.Module):
    """Time-delay neural network: a causal 1-D convolution over the last ``window`` inputs.

        h(t) = tanh(b + sum_{j=0}^{window-1} K_j x(t-j))

    The same kernel is applied at each time step (parameter sharing across time), but each output
    sees only a fixed window of inputs - no recurrence; stacking layers widens the receptive field
    to layers * (window - 1) + 1 inputs. Waibel et al. 1989; slide "Time Delay Neural Networks".

    State: tuple with one tensor per layer, (window - 1, B, layer input size): the last inputs of
    that layer, so a run cut into pieces (or one token at a time) equals the run in one piece.
    Zeros (left padding) at the start of a sequence.
    """

    locked_dropout = False  # one dropout mask per column between layers (--locked-dropout; set by build_cell)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0, window: int = 5):
        super().__init__()
        if window < 1:
            raise ValueError(f"window must be >= 1 (got {window})")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout, self.window = dropout, window
        for k in range(num_layers):
            d_in = input_size if k == 0 else hidden_size
            # Conv1d layout (out, in, width); tap j = window-1 is the current input x(t).
            self.register_parameter(f"weight_l{k}", nn.Parameter(torch.empty(hidden_size, d_in, window)))
            self.register_parameter(f"bias_l{k}", nn.Parameter(torch.empty(hidden_size)))
            bound = 1.0 / math.sqrt(d_in * window)  # nn.Conv1d's fan-in bound
            nn.init.uniform_(getattr(self, f"weight_l{k}"), -bound, bound)
            nn.init.uniform_(getattr(self, f"bias_l{k}"), -bound, bound)

    def init_state(self, batch_size: int, device=None, dtype=None) -> tuple:
        dtype = dtype or self.weight_l0.dtype
        return tuple(
            torch.zeros(self.window - 1, batch_size, self.input_size if k == 0 else self.hidden_size,
                        device=device, dtype=dtype)
            for k in range(self.num_layers)
        )

    def forward(self, x: torch.Tensor, state: tuple | None = None):
        if state is None:
            state = self.init_state(x.shape[1], x.device, x.dtype)
        new_state = []
        keep = self.window - 1
        for k in range(self.num_layers):
            padded = torch.cat((state[k], x), dim=0)  # (window-1 + T, B, D): past inputs, then these
            new_state.append(padded[padded.shape[0] - keep:])  # (window-1, B, D)
            y = F.conv1d(padded.permute(1, 2, 0), getattr(self, f"weight_l{k}"), getattr(self, f"bias_l{k}"))  # (B, H, T)
            x = torch.tanh(y).permute(2, 0, 1)  # (T, B, H)
            x = _between_layers(self, x, k)
        return x, tuple(new_state)


def build_tdnn(cfg, dropout: float) -> TDNN:
    return TDNN(cfg.input_dim, cfg.hidden, cfg.layers, dropout, cfg.window)


def tdnn_stepper(cell: TDNN, k: int) -> LayerStepper:
    weight, b = getattr(cell, f"weight_l{k}"), getattr(cell, f"bias_l{k}")
    keep = cell.window - 1

    def step(x, state):
        window = torch.stack((*state, x), dim=-1)  # (B, D, window): x(t-window+1) .. x(t)
        h = torch.tanh(torch.einsum("bdw,hdw->bh", window, weight) + b)
        return h, (*state[1:], x) if keep else ()

    return LayerStepper("tdnn", zero_state(weight.shape[1], keep), step, recurrent=False)  # the last inputs, oldest first


def _lnlstm_scan(xproj, h, c, weight_hh_t, gain_hh, gain_c, bias_c):
    """The layer-normalised LSTM's recurrence over precomputed LN(W x(t)) + b (T, B, 4H): outputs (T, B, H), h, c.
    ``weight_hh_t`` may be in a lower precision than h (bf16 matmuls): each h(t-1) is cast to it, U h(t-1) back."""
    H = h.shape[1]
    outputs = []
    for t in range(xproj.shape[0]):
        rec = (h.to(weight_hh_t.dtype) @ weight_hh_t).to(h.dtype)
        z = F.layer_norm(rec, (4 * H,), gain_hh) + xproj[t]  # (B, 4H) in the order i, f, g, o
        s = torch.sigmoid(z)
        c = torch.addcmul(s[:, H:2 * H] * c, s[:, :H], torch.tanh(z[:, 2 * H:3 * H]))  # f c + i g
        h = s[:, 3 * H:] * torch.tanh(F.layer_norm(c, (H,), gain_c, bias_c))
        outputs.append(h)
    return torch.stack(outputs), h, c


class LayerNormLSTM(nn.Module):
    """LSTM whose gate pre-activations and cell are layer-normalised (Ba, Kiros & Hinton 2016).

        z(t) = LN(W x(t); a_x) + LN(U h(t-1); a_h) + b        (the gates i, f, g, o stacked: 4H values)
        c(t) = sigmoid(f) c(t-1) + sigmoid(i) tanh(g)
        h(t) = sigmoid(o) tanh(LN(c(t); a_c, b_c))

    LN(v; a, b) = a (v - mean(v)) / std(v) + b over one step's units, per sequence. Each term is normalised
    on its own, so the gates see the input and the recurrence at a fixed scale whatever the weights' size:
    scaling W or U by any positive factor leaves every output unchanged. The two gate terms have gains only
    (their shifts would repeat b); the cell's normalisation has a gain and a shift. Gains start at 1, b and
    b_c at 0, W and U as nn.LSTM's (uniform in +-1/sqrt(H)).

    Speed: LN(W x(t)) + b for all steps is one matmul and one layer_norm before the loop. On the CPU each step is
    then a matmul and one C call forward and backward (seqtool/models/lnlstm_steps.py); elsewhere (CUDA, float64,
    no C compiler) a matmul and a dozen pointwise ops in eager torch. ``matmul_dtype=torch.bfloat16`` runs the
    matmuls in bf16 and the rest in fp32 (RecurrentBody.use_bf16_matmuls).

    State: the pair (h, c), each (num_layers, B, H), as nn.LSTM's.
    """

    locked_dropout = False  # one dropout mask per column between layers (--locked-dropout; set by build_cell)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers, self.dropout = input_size, hidden_size, num_layers, dropout
        H = hidden_size
        for k in range(num_layers):
            d_in = input_size if k == 0 else H
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(4 * H, d_in)))  # W
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(4 * H, H)))  # U
            _uniform_(getattr(self, f"weight_ih_l{k}"), H)
            _uniform_(getattr(self, f"weight_hh_l{k}"), H)
            self.register_parameter(f"bias_l{k}", nn.Parameter(torch.zeros(4 * H)))  # b
            self.register_parameter(f"ln_ih_weight_l{k}", nn.Parameter(torch.ones(4 * H)))  # a_x
            self.register_parameter(f"ln_hh_weight_l{k}", nn.Parameter(torch.ones(4 * H)))  # a_h
            self.register_parameter(f"ln_c_weight_l{k}", nn.Parameter(torch.ones(H)))  # a_c
            self.register_parameter(f"ln_c_bias_l{k}", nn.Parameter(torch.zeros(H)))  # b_c

    def layer(self, k: int) -> tuple[torch.Tensor, ...]:
        """Layer k's W, U, b, a_x, a_h, a_c, b_c."""
        return tuple(getattr(self, f"{n}_l{k}") for n in
                     ("weight_ih", "weight_hh", "bias", "ln_ih_weight", "ln_hh_weight", "ln_c_weight", "ln_c_bias"))

    def init_state(self, batch_size: int, device=None, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = dtype or self.weight_ih_l0.dtype
        zeros = torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device, dtype=dtype)
        return zeros, zeros.clone()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None, matmul_dtype=None):
        from seqtool.models.bf16_rnn import c_kernels  # not at the top: bf16_rnn imports this module
        from seqtool.models.lnlstm_steps import run_layer

        hs, cs = self.init_state(x.shape[1], x.device, x.dtype) if state is None else state
        lib = c_kernels(x, matmul_dtype)
        low = matmul_dtype or x.dtype  # the matmuls' operands
        finals_h, finals_c = [], []
        for k in range(self.num_layers):
            w_ih, w_hh, b, a_x, a_h, a_c, b_c = self.layer(k)
            wx = F.linear(x.to(low), w_ih.to(low)).to(x.dtype)  # (T, B, 4H): every step at once
            if lib is not None:
                x, h, c = run_layer(lib, wx, hs[k], cs[k], w_hh, a_x, a_h, b, a_c, b_c, matmul_dtype)
            else:
                xproj = F.layer_norm(wx, (w_ih.shape[0],), a_x) + b
                x, h, c = _lnlstm_scan(xproj, hs[k], cs[k], w_hh.to(low).t(), a_h, a_c, b_c)
            finals_h.append(h)
            finals_c.append(c)
            x = _between_layers(self, x, k)
        return x, (torch.stack(finals_h), torch.stack(finals_c))  # (T, B, H), ((L, B, H), (L, B, H))


def build_lnlstm(cfg, dropout: float) -> LayerNormLSTM:
    return LayerNormLSTM(cfg.input_dim, cfg.hidden, cfg.layers, dropout)


def lnlstm_stepper(cell: LayerNormLSTM, k: int) -> LayerStepper:
    w_ih, w_hh, b, a_x, a_h, a_c, b_c = cell.layer(k)
    H = cell.hidden_size

    def gates(x, h):  # z(t) = LN(W x) + LN(U h(t-1)) + b, split into i, f, g, o
        return (F.layer_norm(F.linear(x, w_ih), (4 * H,), a_x) + F.layer_norm(F.linear(h, w_hh), (4 * H,), a_h) + b).chunk(4, dim=-1)

    def step(x, state):
        h, c = state
        i, f, g, o = gates(x, h)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # the cell path: dc_t/dc_{t-1} = f_t
        h = torch.sigmoid(o) * torch.tanh(F.layer_norm(c, (H,), a_c, b_c))
        return h, (h, c)

    blocks = dict(zip("ifgo", w_hh.chunk(4, dim=0)))
    return LayerStepper("lnlstm", zero_state(H, 2), step, memory=1, blocks=blocks, main="g",
                        keep=("forget gate f", lambda x, state: torch.sigmoid(gates(x, state[0])[1])))
