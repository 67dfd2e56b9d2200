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

from dataclasses import dataclass, replace
from typing import Any

from seqtool.models.config import level_defaults

#: Vocabulary size from which a word or subword model gets the adaptive softmax by default. Measured at 10,000
#: (Penn Treebank: 2.08x the full softmax's throughput and 28% lower perplexity at equal time); half that is where
#: the output layer still dominates a 2x256 model's step (5,000 x 256 against its 4 x 256 x 512 recurrent weights).
ADAPTIVE_MIN_VOCAB = 5000

#: Char level by --time-budget: (the budgets up to this many seconds, the values that differ from the char
#: defaults, what measured it). The last row has no bound.
#: Measured on tiny shakespeare (1.1M chars; 90/10 split) on a 2-core CPU, each run alone and calibrated
#: (benchmarks/sweep-tinyshakespeare-*-2026120[12].json; the tables in benchmarks/RESULTS.md): in 2 minutes 2x256
#: with a 64-wide embedding, bptt 32, lr 3e-3 and no dropout reached 1.541 nats/char (1.568 with the char
#: defaults' dropout 0.1, 2.037 with the char defaults); in 10 minutes 2x384 with the same embedding and lr at
#: bptt 64 and dropout 0.1 reached 1.442 against the char defaults' 1.532; in 30 minutes that model over-fits
#: (1.4724, lowest at epoch 8 of 21) and the same with dropout 0.3 reached 1.4228. The layer-normalised LSTM
#: (--cell lnlstm), once its steps were C calls with bf16 matmuls, beat the LSTM in the same shapes: 1.4573 against
#: 1.517 at 2 minutes, 1.4192 against 1.4395 at 10 minutes (where dropout 0.3 did worse), 1.4154 against 1.4228 at
#: 30 minutes with dropout 0.3 (a small margin, one seed each). Each bound lies between two measured budgets.
CHAR_BY_BUDGET: list[tuple[float | None, dict[str, Any], str]] = [
    (300, {"cell": "lnlstm", "hidden": 256, "embed_dim": 64, "dropout": 0.0, "bptt": 32, "lr": 3e-3}, "best of 21 at 2 minutes on tiny shakespeare"),
    (1200, {"cell": "lnlstm", "hidden": 384, "embed_dim": 64, "bptt": 64, "lr": 3e-3}, "best of 16 at 10 minutes on tiny shakespeare"),
    (None, {"cell": "lnlstm", "hidden": 384, "embed_dim": 64, "bptt": 64, "lr": 3e-3, "dropout": 0.3}, "best of 3 at 30 minutes on tiny shakespeare"),
]

#: The fields a rule may set: ModelConfig's and TrainConfig's names. (Tying the output to the embedding follows
#: from these and the softmax: runs.model_config decides it.) The level defaults have no cell: ``--cell``'s own
#: default (lstm) stands unless a rule names one.
MODEL_FIELDS = ("cell", "hidden", "layers", "embed_dim", "dropout")
TRAIN_FIELDS = ("batch_size", "bptt", "lr")


@dataclass(frozen=True)
class Picked:
    """The defaults a run gets: ``values`` holds every field a rule or the level sets, ``why`` says which rule;
    ``typed`` names the fields the user typed (they win, and the line leaves them out)."""

    level: str
    values: dict[str, Any]
    why: str
    typed: frozenset[str] = frozenset()
    tie_typed: bool = False
    cutoffs: tuple[int, ...] | None = None

    def for_vocabulary(self, given: dict[str, Any], vocab_size: int) -> tuple[dict[str, Any], str | None]:
        """``given`` (the model options, None where not typed) with the adaptive softmax where this vocabulary gets it
        by default — not when the user chose a softmax or tying, nor for a model too narrow for two clusters — and
        the line that says which defaults the run got and why."""
        cut = adaptive_cutoffs(self.level, vocab_size)
        if cut is None or self.tie_typed or given.get("adaptive_cutoffs") is not None or given["hidden"] < 4 ** len(cut):
            return given, self.line()
        why = f"{self.why}; a vocabulary of {vocab_size:,} (>= {ADAPTIVE_MIN_VOCAB:,}) gets the adaptive softmax"
        return {**given, "adaptive_cutoffs": cut}, replace(self, why=why, cutoffs=cut).line()

    def line(self) -> str | None:
        """'defaults: hidden 384, ... (why)' naming only the values the user did not type; None when every one was typed."""
        shown = [f"{name.replace('_', ' ')} {_show(v)}" for name, v in self.values.items() if name not in self.typed]
        if self.cutoffs is not None:
            shown.append(f"adaptive softmax {','.join(map(str, self.cutoffs))}")
        return f"defaults: {', '.join(shown)} ({self.why})" if shown else None


def _show(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def pick(level: str, budget_s: float | None, lr: float, typed: frozenset[str] = frozenset(), tie_typed: bool = False) -> Picked:
    """The defaults for a new run at ``level`` with a time budget of ``budget_s`` seconds (None: none given);
    ``lr`` is TrainConfig's own default, which a budget rule may replace; ``typed``: the fields the user typed;
    ``tie_typed``: whether --tie-weights/--no-tie-weights was typed."""
    base = {**{k: level_defaults(level)[k] for k in (*MODEL_FIELDS, "batch_size", "bptt") if k != "cell"}, "lr": lr}
    values, why = base, f"{level} level"
    if level == "char" and budget_s is None:
        why = "char level, no --time-budget"
    elif level == "char":
        _, rule, source = next(row for row in CHAR_BY_BUDGET if row[0] is None or budget_s <= row[0])
        values, why = {**base, **rule}, f"char level, {_minutes(budget_s)} budget: {source}"
    return Picked(level, values, why, frozenset(typed), tie_typed)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def adaptive_cutoffs(level: str, vocab_size: int) -> tuple[int, int] | None:
    """Cutoffs at 20% and 60% of a word or subword vocabulary of at least ADAPTIVE_MIN_VOCAB types, rounded to
    hundreds (10,000 -> 2000,6000); None for char level or a smaller vocabulary."""
    if level == "char" or vocab_size < ADAPTIVE_MIN_VOCAB:
        return None
    return int(round(vocab_size * 0.2, -2)), int(round(vocab_size * 0.6, -2))
