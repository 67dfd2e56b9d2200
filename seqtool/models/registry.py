"""The cell registry: one entry per recurrent cell, the only list of cells there is.

An entry says how to build the cell (``build``), how to re-run one of its layers a step at a time
for grad-report (``stepper``, next to the equations in cells.py and fused.py), how many parameters
one layer has (``params``, closed form) and what to say about it in ``--help`` (``help``). The
config's validation, the CLI's help strings, error messages listing the cells, the model's zero
state and grad-report all read this table, so a new cell is one entry here (plus its class).

This module does not import torch: builders and steppers are looked up in seqtool.models.cells
or seqtool.models.fused on first call, so the CLI can list and validate cells cheaply.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from seqtool.errors import UsageError


def _lazy(module: str, name: str) -> Callable:
    """``module.name``, imported when first called (both modules import torch)."""
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)
    call.__name__ = call.__qualname__ = name
    return call


def _cells(name: str) -> Callable:
    return _lazy("seqtool.models.cells", name)


def _fused(name: str) -> Callable:
    return _lazy("seqtool.models.fused", name)


@dataclass(frozen=True)
class CellSpec:
    """One cell.

    build(cfg, dropout) -> module: the stack of ``cfg.layers`` layers, ``dropout`` between them.
    stepper(module, k) -> LayerStepper: layer k as a step function ``h, state = step(x_t, state)``.
    params(d, h, *, vocab_size, window, learn_tau) -> int: parameters of one layer reading d features.
    help: the concept's own name and equation, for ``--help``.
    init_state(module, batch, device, dtype): the zero state; None: the module's own ``init_state``.
    feedback: the cell also reads y(t-1), the previous output as token ids (under teacher forcing the
        current input token), passed as ``module(x, ids, state)``.
    input_weight: the first layer's input weight; its dtype is the one-hot inputs' dtype (read per
        generated token, so an attribute lookup, not a walk over the parameters).
    """

    name: str
    help: str
    build: Callable
    stepper: Callable
    params: Callable[..., int]
    init_state: Callable | None = None
    feedback: bool = False
    input_weight: str = "weight_ih_l0"


_SPECS = (
    CellSpec("rnn", "Elman RNN, tanh",
             _fused("build_fused"), _fused("rnn_stepper"), init_state=_fused("fused_init_state"),
             params=lambda d, h, **_: h * (d + h) + 2 * h),  # torch keeps two biases, b_ih and b_hh
    CellSpec("gru", "gated recurrent unit",
             _fused("build_fused"), _fused("gru_stepper"), init_state=_fused("fused_init_state"),
             params=lambda d, h, **_: 3 * (h * (d + h) + 2 * h)),  # reset, update, new
    CellSpec("lstm", "long short-term memory",
             _fused("build_fused"), _fused("lstm_stepper"), init_state=_fused("fused_init_state"),
             params=lambda d, h, **_: 4 * (h * (d + h) + 2 * h)),  # input, forget, cell, output
    CellSpec("lnlstm", "LSTM with layer-normalised gates and cell",
             _cells("build_lnlstm"), _cells("lnlstm_stepper"),
             params=lambda d, h, **_: 4 * h * (d + h) + 14 * h),  # W, U; b, gains a_x, a_h (4H each); a_c, b_c
    CellSpec("leaky", "leaky units, time constants --tau-min..--tau-max",
             _cells("build_leaky"), _cells("leaky_stepper"),
             params=lambda d, h, learn_tau=False, **_: h * (d + h) + h + (h if learn_tau else 0)),  # + learned taus
    CellSpec("skip", "skip connections through time, --delay",
             _cells("build_skip"), _cells("skip_stepper"),
             params=lambda d, h, **_: h * (d + 2 * h) + h),  # U, W1, Wd, b
    CellSpec("jordan", "Jordan network: recurrence from the output",
             _cells("build_jordan"), _cells("jordan_stepper"), feedback=True,
             params=lambda d, h, vocab_size=0, **_: h * d + h * vocab_size + h),  # U, W on one-hot y(t-1), b
    CellSpec("tdnn", "time-delay network over --window inputs",
             _cells("build_tdnn"), _cells("tdnn_stepper"), input_weight="weight_l0",
             params=lambda d, h, window=5, **_: h * d * window + h),  # kernel, b
)

#: name -> CellSpec, in the order the CLI lists them.
REGISTRY: dict[str, CellSpec] = {s.name: s for s in _SPECS}

#: The recurrent cells a model can use.
CELLS: tuple[str, ...] = tuple(REGISTRY)

#: The cells whose recurrent matrices W_hh --weight-drop drops (torch's fused stacks, run layer by layer).
WEIGHT_DROP_CELLS: tuple[str, ...] = ("lstm", "gru", "rnn")


def cell_spec(name: str, option: str = "--cell") -> CellSpec:
    """The registry entry of ``name``; a UsageError naming ``option`` and the valid cells otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UsageError(f"{option} must be one of {', '.join(CELLS)} (got {name!r})") from None


def cells_help() -> str:
    """The ``--cell`` help line: every cell with its one-line description."""
    return " | ".join(f"{s.name} ({s.help})" for s in _SPECS) + "."


def layer_param_formula(
    cell: str, input_size: int, hidden: int, *, vocab_size: int = 0, window: int = 5, learn_tau: bool = False
) -> int:
    """Closed-form parameter count of one recurrent layer reading ``input_size`` = D features.

    rnn:    H(D+H) + 2H             (torch keeps two bias vectors, b_ih and b_hh)
    gru:    3 [H(D+H) + 2H]         (reset, update, new gates)
    lstm:   4 [H(D+H) + 2H]         (input, forget, cell, output gates)
    lnlstm: 4H(D+H) + 14H           (W, U; b and two LN gains of 4H; the cell's LN gain and shift)
    leaky:  H(D+H) + H  (+ H learned time constants with learn_tau)
    skip:   H(D+2H) + H             (U, W1, Wd, b)
    jordan: HD + HV + H             (U, feedback W on one-hot outputs of size V, b)
    tdnn:   H D window + H          (convolution kernel, b)
    The embedding has V*E parameters (0 for one-hot); the decoder H*V + V, or V when tied.
    """
    return cell_spec(cell).params(input_size, hidden, vocab_size=vocab_size, window=window, learn_tau=learn_tau)


class _WiderInput:
    """``cfg`` as a builder sees it, its first layer reading ``extra`` features more than ``cfg.input_dim``."""

    def __init__(self, cfg, extra: int):
        self._cfg, self.input_dim = cfg, cfg.input_dim + extra

    def __getattr__(self, name):
        return getattr(self._cfg, name)


def build_cell(cfg, extra_inputs: int = 0):
    """The recurrent stack ``cfg`` describes (a validated ModelConfig); ``extra_inputs`` widens its
    first layer's input beyond the embedding (a tagger's character features, concatenated)."""
    # torch warns when dropout is set on a single layer, where it would do nothing.
    stack = cell_spec(cfg.cell).build(_WiderInput(cfg, extra_inputs) if extra_inputs else cfg, cfg.dropout if cfg.layers > 1 else 0.0)
    if cfg.locked_dropout and cfg.cell not in WEIGHT_DROP_CELLS:  # torch's stacks are run layer by layer instead (lm.py)
        stack.locked_dropout = True
    return stack


def layer_steppers(model) -> list:
    """One ``LayerStepper`` per recurrent layer of a LanguageModel, bottom first."""
    spec = cell_spec(model.cfg.cell)
    return [spec.stepper(model.rnn, k) for k in range(model.cfg.layers)]
