"""ModelConfig: the typed, validated description of a language model, saved with every run.

Its job is to say *what* model to build (cell, sizes, tricks) in plain values that round-trip
through JSON, and to reject impossible combinations once, with a message naming the option.
``level_defaults`` gives the sizes (and batch shape) a model starts from at each tokenization level.
Field names match the CLI options that set them (``embed_dim`` <-> ``--embed-dim``).
This module does not import torch, so the CLI can validate options before paying for it.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from seqtool.errors import ConfigError, UsageError
from seqtool.models.registry import WEIGHT_DROP_CELLS, cell_spec

#: The largest float32: an option that scales float32 weights (--lr, --forget-bias) must stay below it.
FLOAT32_MAX = 3.4028234663852886e38
MAX_LAYERS = 256

# Defaults that depend on the tokenization level. Char level follows char-rnn (one-hot inputs,
# long windows); 2x384 rather than char-rnn's 2x512 because on a 2-core CPU it learns more in a
# fixed time (tiny shakespeare, 10 min, 1 thread: val 1.80 vs 2.31 nats/char; benchmarks/RESULTS.md).
# Word level follows Zaremba et al. 2014 / pytorch examples (embeddings, tied output).
LEVEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "char": {"hidden": 384, "layers": 2, "embed_dim": 0, "dropout": 0.1, "tie_weights": False, "batch_size": 32, "bptt": 128},
    "word": {"hidden": 256, "layers": 2, "embed_dim": 256, "dropout": 0.4, "tie_weights": True, "batch_size": 20, "bptt": 35},
}


def level_defaults(level: str) -> dict[str, Any]:
    """The defaults for a tokenization level: char for char, word for every other level."""
    return LEVEL_DEFAULTS["char" if level == "char" else "word"]


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass
class ModelConfig:
    """Hyper-parameters of a LanguageModel.

    vocab_size: number of token ids (from the tokenizer); id 0 is padding.
    cell: one of CELLS (seqtool/models/registry.py).
    hidden: units per recurrent layer.
    layers: stacked recurrent layers (dropout between them).
    embed_dim: embedding width; 0 feeds one-hot vectors, like char-rnn.
    dropout: probability, on embeddings, between layers and before the decoder.
    locked_dropout: ``dropout`` draws one mask per sequence (batch column) used at every step (variational
        dropout; Gal & Ghahramani 2016, Merity et al. 2017) instead of a new mask per step.
    embed_dropout: probability of dropping a whole token type (a row of the embedding) for a batch.
    weight_drop: DropConnect probability on the recurrent matrices W_hh (lstm, gru, rnn; AWD-LSTM).
    tie_weights: share the embedding matrix with the decoder (needs embed_dim == hidden).
    tau_min, tau_max: leaky cell, per-unit time constants spread log-uniformly over [tau_min, tau_max].
    learn_tau: leaky cell, make the time constants trainable (kept >= 1).
    delay: skip cell, the d of the skip connection h(t-d) -> h(t), d >= 2.
    window: tdnn cell, number of inputs each unit sees (kernel width of the causal convolution).
    freeze_embeddings: keep the embedding matrix fixed (e.g. pretrained vectors).
    forget_bias: lstm cell, initial forget-gate bias (None: torch's uniform init, gate near 0.5).
    adaptive_cutoffs: adaptive softmax (Grave et al. 2017) instead of the full output layer: ids below
        the first cutoff form the head, each further band a cluster with a smaller projection. Ids
        are ordered by frequency, so the head holds the frequent tokens. () = full softmax.
    """

    vocab_size: int
    cell: str = "lstm"
    hidden: int = 256
    layers: int = 2
    embed_dim: int = 0
    dropout: float = 0.0
    tie_weights: bool = False
    tau_min: float = 1.0
    tau_max: float = 100.0
    learn_tau: bool = False
    delay: int = 2
    window: int = 5
    freeze_embeddings: bool = False
    forget_bias: float | None = None
    adaptive_cutoffs: tuple[int, ...] = ()
    locked_dropout: bool = False
    embed_dropout: float = 0.0
    weight_drop: float = 0.0

    @property
    def input_dim(self) -> int:
        """Width of the vectors the first recurrent layer reads (embedding or one-hot)."""
        return self.embed_dim if self.embed_dim > 0 else self.vocab_size

    def param_count(self) -> int:
        """Parameters of the model, from the registry's closed forms (the full softmax's decoder even with
        --adaptive-softmax, an upper bound): embedding V E, each layer, decoder H V + V (V when tied)."""
        spec = cell_spec(self.cell)
        layers = sum(spec.params(self.input_dim if k == 0 else self.hidden, self.hidden, vocab_size=self.vocab_size,
                                 window=self.window, learn_tau=self.learn_tau) for k in range(self.layers))
        decoder = self.vocab_size if self.tie_weights else self.hidden * self.vocab_size + self.vocab_size
        return self.vocab_size * self.embed_dim + layers + decoder

    def validate(self) -> "ModelConfig":
        """Raise on the first invalid value; return self so calls can chain.

        A value wrong on its own or an impossible combination of options is a UsageError (exit 2);
        what depends on the data (the vocabulary size, cutoffs past its end) is a ConfigError (exit 1).
        """
        self._check_types()
        cell_spec(self.cell)  # a UsageError naming the registered cells
        self._check_sizes()
        self._check_embedding()
        self._check_cell_options()
        self._check_adaptive_softmax()
        self._check_reach()
        return self

    def _check_types(self) -> None:
        for name in ("vocab_size", "hidden", "layers", "embed_dim", "delay", "window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{_option(name)} must be an integer (got {value!r})")
        for name in ("dropout", "embed_dropout", "weight_drop", "tau_min", "tau_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise UsageError(f"{_option(name)} must be a finite number (got {value!r})")
        for name in ("tie_weights", "learn_tau", "freeze_embeddings", "locked_dropout"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{_option(name)} must be true or false (got {getattr(self, name)!r})")

    def _check_sizes(self) -> None:
        if self.vocab_size < 2:
            raise ConfigError(
                f"vocab_size must be at least 2 (got {self.vocab_size}); the tokenizer produced too few tokens"
            )
        if self.hidden < 1:
            raise UsageError(f"--hidden must be at least 1 (got {self.hidden})")
        if self.layers < 1:
            raise UsageError(f"--layers must be at least 1 (got {self.layers})")
        if self.layers > MAX_LAYERS:  # building a million layers alone takes minutes, before any size check could help
            raise UsageError(f"--layers must be at most {MAX_LAYERS} (got {self.layers}); stacks of 1-4 recurrent layers are usual")
        if self.embed_dim < 0:
            raise UsageError(f"--embed-dim must be 0 (one-hot inputs) or positive (got {self.embed_dim})")
        for name in ("dropout", "embed_dropout", "weight_drop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UsageError(f"{_option(name)} must be in [0, 1) (got {getattr(self, name)})")
        if self.weight_drop > 0 and self.cell not in WEIGHT_DROP_CELLS:
            raise UsageError(f"--weight-drop applies to --cell {', '.join(WEIGHT_DROP_CELLS)} (got {self.cell})", fixes=("drop --weight-drop",))

    def _check_embedding(self) -> None:
        """--tie-weights and --freeze-embeddings need an embedding of the right width."""
        if self.tie_weights:
            if self.embed_dim == 0:
                raise UsageError("--tie-weights needs an embedding", fixes=(f"set --embed-dim {self.hidden}", "drop --tie-weights"))
            if self.embed_dim != self.hidden:
                raise UsageError(
                    f"--tie-weights needs --embed-dim equal to --hidden (got {self.embed_dim} vs "
                    f"{self.hidden})", fixes=(f"set --embed-dim {self.hidden}", "drop --tie-weights")
                )
        if self.freeze_embeddings and self.embed_dim == 0:
            raise UsageError("--freeze-embeddings needs an embedding", fixes=("set --embed-dim", "drop --freeze-embeddings"))
        if self.freeze_embeddings and self.tie_weights:
            raise UsageError(
                "--freeze-embeddings with --tie-weights would freeze the output layer too; drop one of them"
            )

    def _check_cell_options(self) -> None:
        """leaky's time constants and lstm's forget bias."""
        if self.tau_min < 1.0:
            raise UsageError(f"--tau-min must be at least 1 (got {self.tau_min}); tau = 1 is a plain tanh RNN")
        if self.tau_max < self.tau_min:
            raise UsageError(
                f"--tau-max must be at least --tau-min (got {self.tau_max} vs {self.tau_min})"
            )
        if self.forget_bias is not None:
            fb = self.forget_bias
            if isinstance(fb, bool) or not isinstance(fb, (int, float)) or not math.isfinite(fb):
                raise UsageError(f"--forget-bias must be a finite number (got {fb!r})")
            if abs(fb) > FLOAT32_MAX:
                raise UsageError(f"--forget-bias must be at most {FLOAT32_MAX:.3g} (got {fb!r}); the weights are float32")
            if self.cell not in ("lstm", "lnlstm"):
                raise UsageError(f"--forget-bias does not apply to --cell {self.cell} (it sets the forget gate of lstm and lnlstm)")

    def _check_adaptive_softmax(self) -> None:
        cut = self.adaptive_cutoffs
        if isinstance(cut, list):
            self.adaptive_cutoffs = cut = tuple(cut)  # JSON gives a list
        if cut:
            if not all(isinstance(c, int) and not isinstance(c, bool) for c in cut):
                raise UsageError(f"--adaptive-softmax cutoffs must be integers (got {cut!r})")
            if list(cut) != sorted(set(cut)) or cut[0] < 1 or cut[-1] >= self.vocab_size - 1:
                # Out of order or below 1 is the option's own fault; past the end only for THIS vocabulary.
                kind = UsageError if list(cut) != sorted(set(cut)) or cut[0] < 1 else ConfigError
                raise kind(
                    f"--adaptive-softmax {','.join(map(str, cut))}: cutoffs must increase and lie between 1 and the vocabulary size "
                    f"minus 2 ({self.vocab_size - 2}); e.g. {max(1, self.vocab_size // 5)},{max(2, self.vocab_size // 2)}"
                )
            if self.tie_weights:
                raise UsageError("--adaptive-softmax has no single output matrix to tie", fixes=("add --no-tie-weights",))
            if self.hidden < 4 ** len(cut):  # cluster k projects to hidden / 4^k units
                raise UsageError(f"--adaptive-softmax with {len(cut)} cutoffs needs --hidden of at least {4 ** len(cut)} (got {self.hidden}); use fewer cutoffs")

    def _check_reach(self) -> None:
        """How far back skip (--delay) and tdnn (--window) look."""
        if self.delay < 2:
            raise UsageError(f"--delay must be at least 2 (got {self.delay}); delay 1 is the ordinary recurrence")
        if self.window < 1:
            raise UsageError(f"--window must be at least 1 (got {self.window})")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Inverse of to_dict; missing fields take their defaults, unknown fields are an error."""
        if not isinstance(data, dict):
            raise ConfigError(f"model config must be a JSON object (got {type(data).__name__})")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"model config has unknown field(s) {', '.join(unknown)}; was it written by a newer seqtool?")
        if "vocab_size" not in data:
            raise ConfigError("model config lacks vocab_size")
        try:
            return cls(**data).validate()
        except UsageError as e:  # a stored config is data: a bad value in it is not the command line's fault
            raise ConfigError(e.message) from None  # its fixes name options, which a stored file has not
