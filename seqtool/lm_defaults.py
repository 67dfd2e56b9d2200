"""The defaults a new language-model run gets for the options it leaves out, and the one line that says why.

The tokenization level sets the base (``models.config.LEVEL_DEFAULTS``: char-rnn's shape for char, Zaremba
et al.'s for word). Two rules change it where calibrated benchmarks measured a win (benchmarks/RESULTS.md,
"Defaults chosen by measurement"):

- a char-level run with a ``--time-budget`` takes the configuration that reached the lowest validation loss
  in a sweep at the nearest measured budget (``CHAR_BY_BUDGET``);
- a word or subword vocabulary of ``ADAPTIVE_MIN_VOCAB`` types or more gets the adaptive softmax, with
  cutoffs at 20% and 60% of the vocabulary (Penn Treebank's 10,000 words: 2000,6000, the measured setting).

An option the user typed always wins over both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seqtool.models.config import level_defaults

#: Vocabulary size from which a word or subword model gets the adaptive softmax by default.
ADAPTIVE_MIN_VOCAB = 5000

#: Char level by --time-budget: (the budgets up to this many seconds, the values that differ from the char
#: defaults, what measured it). The last row has no bound.
#: Measured on tiny shakespeare (1.1M chars; 90/10 split) on a 2-core CPU, each run alone and calibrated
#: (benchmarks/sweep-tinyshakespeare-*-20261201.json): in 2 minutes 2x256 with a 64-wide embedding, bptt 64 and
#: lr 3e-3 reached 1.626 nats/char against the char defaults' 2.037; in 10 minutes the same at 2x384 reached 1.442
#: against 2x256's 1.455 and the char defaults' 1.532. The bound between them is the geometric mean of the two
#: measured budgets, rounded; budgets past 10 minutes take the 10-minute winner (not measured there).
CHAR_BY_BUDGET: list[tuple[float | None, dict[str, Any], str]] = [
    (300, {"hidden": 256, "embed_dim": 64, "bptt": 64, "lr": 3e-3}, "best of 9 at 2 minutes on tiny shakespeare"),
    (None, {"hidden": 384, "embed_dim": 64, "bptt": 64, "lr": 3e-3}, "best of 6 at 10 minutes on tiny shakespeare"),
]

#: The fields a rule may set: ModelConfig's and TrainConfig's names. (Tying the output to the embedding follows
#: from these and the softmax: runs.model_config decides it.)
MODEL_FIELDS = ("hidden", "layers", "embed_dim", "dropout")
TRAIN_FIELDS = ("batch_size", "bptt", "lr")


@dataclass(frozen=True)
class Picked:
    """The defaults a run gets: ``values`` holds every field a rule or the level sets; ``why`` says which rule."""

    level: str
    values: dict[str, Any]
    why: str
    cutoffs: tuple[int, ...] | None = None

    def with_vocabulary(self, vocab_size: int, hidden: int, tie_weights_typed: bool) -> "Picked":
        """The same, plus the adaptive softmax where the vocabulary is large enough (and tying was not asked for)."""
        cut = adaptive_cutoffs(self.level, vocab_size)
        if cut is None or tie_weights_typed or hidden < 4 ** len(cut):
            return self
        why = f"{self.why}; a vocabulary of {vocab_size:,} (>= {ADAPTIVE_MIN_VOCAB:,}) gets the adaptive softmax"
        return Picked(self.level, self.values, why, cut)

    def line(self, typed: set[str]) -> str | None:
        """'defaults: hidden 384, ... (why)' naming only the values the user did not type; None when every one was typed."""
        shown = [f"{name.replace('_', ' ')} {_show(v)}" for name, v in self.values.items() if name not in typed]
        if self.cutoffs is not None:
            shown.append(f"adaptive softmax {','.join(map(str, self.cutoffs))}")
        return f"defaults: {', '.join(shown)} ({self.why})" if shown else None


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def pick(level: str, budget_s: float | None, lr: float) -> Picked:
    """The defaults for a new run at ``level`` with a time budget of ``budget_s`` seconds (None: none given);
    ``lr`` is TrainConfig's own default, which a budget rule may replace."""
    base = {**{k: level_defaults(level)[k] for k in (*MODEL_FIELDS, "batch_size", "bptt")}, "lr": lr}
    if level != "char":
        return Picked(level, base, f"{'word' if level == 'word' else level} level")
    if budget_s is None:
        return Picked(level, base, "char level, no --time-budget")
    for bound, values, source in CHAR_BY_BUDGET:
        if bound is None or budget_s <= bound:
            return Picked(level, {**base, **values}, f"char level, {_minutes(budget_s)} budget: {source}")
    raise AssertionError("CHAR_BY_BUDGET ends with an unbounded row")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def adaptive_cutoffs(level: str, vocab_size: int) -> tuple[int, int] | None:
    """Cutoffs at 20% and 60% of a word or subword vocabulary of at least ADAPTIVE_MIN_VOCAB types, rounded to
    hundreds (10,000 -> 2000,6000); None for char level or a smaller vocabulary."""
    if level == "char" or vocab_size < ADAPTIVE_MIN_VOCAB:
        return None
    return int(round(vocab_size * 0.2, -2)), int(round(vocab_size * 0.6, -2))
