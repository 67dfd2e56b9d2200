"""Options shared by several commands, declared once: one ``Annotated`` alias per option (name, help
text, units), defaults read from the config dataclass the option sets, and option groups that a
command takes as one value.

The dataclasses (``TokenizerOptions``, ``ModelConfig``, ``TrainConfig``) live in modules that import
neither numpy nor torch, so reading their defaults keeps ``seqtool --help`` fast.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import os
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from seqtool.models.config import ModelConfig
from seqtool.models.registry import cells_help
from seqtool.text.options import TokenizerOptions
from seqtool.train_config import TrainConfig

TOK = "Tokenizer"
MODEL = "Model"
TRAIN = "Training"


def _defaults(cls) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


#: Defaults of every option that sets a config field, taken from the dataclass itself.
TOKENIZER_DEFAULTS = _defaults(TokenizerOptions)
MODEL_DEFAULTS = _defaults(ModelConfig)
TRAIN_DEFAULTS = _defaults(TrainConfig)


def level_defaults_table() -> dict[str, dict[str, Any]]:
    """The model and batch defaults that depend on the tokenization level (char, word)."""
    from seqtool.models.config import LEVEL_DEFAULTS

    return LEVEL_DEFAULTS


def level_default_help(name: str) -> str:
    """'\\[char: 384, word: 256]' (or '\\[2]' where the levels agree): the level-dependent default of
    ``name`` for help text, its bracket escaped so rich markup shows it."""
    def show(v: Any) -> str:
        return ("on" if v else "off") if isinstance(v, bool) else str(v)

    values = {level: show(d[name]) for level, d in level_defaults_table().items()}
    if len(set(values.values())) == 1:
        return "\\[" + next(iter(values.values())) + "]"
    return "\\[" + ", ".join(f"{level}: {v}" for level, v in values.items()) + "]"


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (and the JSON summary where one is asked for).")]
Json = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON summary on stdout instead of tables.")]
def force_option(what: str):
    """``--force``: replace ``what`` (the command's outputs) if it exists."""
    return Annotated[bool, typer.Option("--force", help=f"Replace {what} if it exists.")]


Force = force_option("--out (a directory that is not empty)")
Errors = Annotated[
    str, typer.Option("--errors", help="Invalid UTF-8: 'strict' stops with the file, line and byte offset; 'replace' goes on with U+FFFD.")
]
ValFile = Annotated[Optional[list[Path]], typer.Option("--val", help="Validation text file(s); the vocabulary never sees them.")]
ValFraction = Annotated[Optional[float], typer.Option("--val-fraction", help="Hold out the last fraction of the input (split on a line boundary) for validation.")]

# Tokenizer options (TokenizerOptions fields).
LEVELS = "char | word | ngram | char-ngram | subword"
#: Why tokenize defaults to word level (TokenizerOptions' default) and why train and grad-report pass char.
WORD_LEVEL_WHY = "tokenize makes vocabularies for any use (word ids, document vectors), following the Keras Tokenizer"
CHAR_LEVEL_WHY = "a character-level model as in char-rnn, with no vocabulary to choose and no unknown words"


def level_option(default: str, why: str):
    """``--level`` with this command's default and the reason for it in the help text."""
    return Annotated[str, typer.Option("--level", help=f"{LEVELS}. Default {default}: {why}.", rich_help_panel=TOK, show_default=False)]

NumWords = Annotated[
    Optional[int],
    typer.Option(
        "--num-words",
        help="Keep exactly the N most frequent tokens (ids 1..N after the specials); rarer ones become --oov-token or are dropped. "
        "Specials (<pad>, OOV, <eos>) are not counted. Unlike Keras Tokenizer(num_words=N), which keeps N-1 words, this keeps N.",
        rich_help_panel=TOK,
    ),
]
OovToken = Annotated[
    Optional[str], typer.Option("--oov-token", help="Token for out-of-vocabulary input (e.g. <unk>); without it unknown tokens are dropped, as in Keras.", rich_help_panel=TOK)
]
MinFreq = Annotated[int, typer.Option("--min-freq", help="Keep only tokens seen at least this many times in the training text.", rich_help_panel=TOK)]
Lower = Annotated[bool, typer.Option("--lower/--no-lower", help="Lowercase word and n-gram tokens (Keras default).", rich_help_panel=TOK)]
Filters = Annotated[
    str, typer.Option("--filters", help="Characters removed from words (default: the Keras punctuation set). '' keeps everything.", rich_help_panel=TOK)
]
KeepPunct = Annotated[
    bool, typer.Option("--keep-punct", help="Split the --filters punctuation off as tokens of its own instead of deleting it (better for language models).", rich_help_panel=TOK)
]
Eos = Annotated[
    Optional[bool],
    typer.Option(
        "--eos/--no-eos",
        help="End every line with an <eos> token. Default: on for word and subword levels (language-model ready); "
        "--no-eos gives ids identical to Keras texts_to_sequences. Char level keeps '\\n' as a character instead.",
        rich_help_panel=TOK,
        show_default=False,
    ),
]
Ngram = Annotated[int, typer.Option("--ngram", help="Highest n-gram order N for ngram and char-ngram levels (orders 1..N).", rich_help_panel=TOK)]
ModelType = Annotated[str, typer.Option("--model-type", help="Subword model: bpe or unigram (sentencepiece).", rich_help_panel=TOK)]
VocabSize = Annotated[int, typer.Option("--vocab-size", help="Subword vocabulary size, specials included.", rich_help_panel=TOK)]
CharCoverage = Annotated[
    float, typer.Option("--character-coverage", help="Subword: fraction of characters covered by the vocabulary (1.0 for small alphabets).", rich_help_panel=TOK)
]
CapVocab = Annotated[bool, typer.Option("--cap-vocab-size", help="Subword: if --vocab-size is too large for the corpus, use the largest that works.", rich_help_panel=TOK)]

# Model options (ModelConfig fields; None = the level's default).
Cell = Annotated[str, typer.Option("--cell", help=cells_help(), rich_help_panel=MODEL)]
Hidden = Annotated[Optional[int], typer.Option("--hidden", help=f"Units per recurrent layer {level_default_help('hidden')}.", rich_help_panel=MODEL, show_default=False)]
Layers = Annotated[Optional[int], typer.Option("--layers", help=f"Stacked recurrent layers {level_default_help('layers')}.", rich_help_panel=MODEL, show_default=False)]
EmbedDim = Annotated[Optional[int], typer.Option("--embed-dim", help=f"Embedding width; 0 = one-hot inputs as char-rnn {level_default_help('embed_dim')}.", rich_help_panel=MODEL, show_default=False)]
Dropout = Annotated[Optional[float], typer.Option("--dropout", help=f"Dropout probability {level_default_help('dropout')}.", rich_help_panel=MODEL, show_default=False)]
TieWeights = Annotated[Optional[bool], typer.Option("--tie-weights/--no-tie-weights", help=f"Share embedding and output matrices (needs --embed-dim = --hidden) {level_default_help('tie_weights')}.", rich_help_panel=MODEL, show_default=False)]
TauMin = Annotated[float, typer.Option("--tau-min", help="leaky: shortest time constant (steps).", rich_help_panel=MODEL)]
TauMax = Annotated[float, typer.Option("--tau-max", help="leaky: longest time constant (steps).", rich_help_panel=MODEL)]
LearnTau = Annotated[bool, typer.Option("--learn-tau", help="leaky: train the time constants too.", rich_help_panel=MODEL)]
ForgetBias = Annotated[Optional[float], typer.Option("--forget-bias", help="lstm, lnlstm: initial forget-gate bias; 1-3 keeps the cell open so long dependencies can be learned \\[torch's init].", rich_help_panel=MODEL, show_default=False)]
AdaptiveSoftmax = Annotated[Optional[str], typer.Option("--adaptive-softmax", help="Cutoffs such as 2000,6000: an adaptive softmax (Grave et al. 2017) instead of the full output layer; much faster with large word vocabularies \\[word and subword vocabularies of 5,000 or more: 20% and 60% of the vocabulary; off: the full softmax].", rich_help_panel=MODEL, show_default=False)]
Delay = Annotated[int, typer.Option("--delay", help="skip: recurrence from d steps back as well as from 1.", rich_help_panel=MODEL)]
Window = Annotated[int, typer.Option("--window", help="tdnn: inputs each unit sees (causal convolution width).", rich_help_panel=MODEL)]
LockedDropout = Annotated[bool, typer.Option("--locked-dropout", help="--dropout draws one mask per sequence, the same at every step, on the embedding, between layers and on the output (variational dropout, AWD-LSTM).", rich_help_panel=MODEL)]
EmbedDropout = Annotated[float, typer.Option("--embed-dropout", help="Training only: drop whole token types (rows of the embedding, or one-hot inputs) with this probability per batch (AWD-LSTM).", rich_help_panel=MODEL)]
WeightDrop = Annotated[float, typer.Option("--weight-drop", help="lstm, gru, rnn: DropConnect on the recurrent matrices W_hh with this probability, a new mask per step of training (AWD-LSTM).", rich_help_panel=MODEL)]

# Training options (TrainConfig fields; None = the level's default).
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", help=f"Parallel columns of the corpus {level_default_help('batch_size')}.", rich_help_panel=TRAIN, show_default=False)]
Bptt = Annotated[Optional[int], typer.Option("--bptt", help=f"Window length for truncated BPTT, in tokens {level_default_help('bptt')}.", rich_help_panel=TRAIN, show_default=False)]
SEED_MAX = 2**64 - 1  # the largest seed torch (and numpy) accept; a larger one was an internal error
Seed = Annotated[int, typer.Option("--seed", help="Random seed (CPU runs repeat bit for bit).", min=0, max=SEED_MAX, rich_help_panel=TRAIN)]
AverageWeights = Annotated[str, typer.Option("--average-weights", help="off | ema (Polyak: an exponential moving average) | swa (the equal-weight mean, Izmailov et al. 2018) "
                                             "of the weights after each step from --average-start on; validation, best.pt and the result use the average, training goes on with the raw weights.",
                                             rich_help_panel=TRAIN)]
AverageStart = Annotated[float, typer.Option("--average-start", help="With --average-weights: the fraction of the budget (steps, epochs or time) after which averaging starts.", rich_help_panel=TRAIN)]
EmaDecay = Annotated[float, typer.Option("--ema-decay", help="With --average-weights ema: the decay d of a' = d a + (1 - d) w, in (0, 1).", rich_help_panel=TRAIN)]
ScheduledSampling = Annotated[Optional[float], typer.Option("--scheduled-sampling", help="Language models: scheduled sampling (Bengio et al. 2015) with inverse sigmoid decay k >= 1: at step i each input is the model's own sample "
                                                         "with probability 1 - k/(k + exp(i/k)); unrolls one step at a time, so slower. Validation stays teacher-forced.",
                                                         rich_help_panel=TRAIN, show_default=False)]
Device = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps.", rich_help_panel=TRAIN)]
GeneratePrecision = Annotated[str, typer.Option("--precision", help="auto (bf16 on a CPU with native bf16, for a model large enough, where a start-up probe of a few steps finds it at least 1.5x faster; else fp32) "
                                               "| fp32 (torch's kernels) | bf16 (the recurrent and decoder matmuls in bf16, the softmax and sampling in fp32; lstm, gru, rnn).")]
Threads = Annotated[Optional[int], typer.Option("--threads", help="CPU threads for torch \\[torch's default].", rich_help_panel=TRAIN, show_default=False)]


@dataclasses.dataclass(frozen=True)
class Group:
    """Options that travel together: spliced into a command's signature by ``with_groups`` and handed
    to the command as one value, ``collect(**parsed)``."""

    options: tuple[tuple[str, Any, Any], ...]  # (parameter name, Annotated alias, default)
    collect: Callable[..., Any]

    def parameters(self) -> list[inspect.Parameter]:
        return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=alias, default=default) for name, alias, default in self.options]


def with_groups(command: Callable) -> Callable:
    """Typer sees each ``name: Any = Group(...)`` parameter of ``command`` as the group's options, in
    place; ``command`` is called with ``name`` set to the group's collected value."""
    sig = inspect.signature(command, eval_str=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, Group] = {}
    for p in sig.parameters.values():
        if isinstance(p.default, Group):
            groups[p.name] = p.default
            params += p.default.parameters()
        else:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(command)
    def run(**parsed):
        for name, group in groups.items():
            parsed[name] = group.collect(**{option: parsed.pop(option) for option, _, _ in group.options})
        return command(**parsed)

    run.__signature__ = sig.replace(parameters=params)
    run.__annotations__ = {p.name: p.annotation for p in params}
    return run


def _tokenizer_options(**values) -> TokenizerOptions:
    return TokenizerOptions(**values)


def tokenizer_group(*, level: str = TOKENIZER_DEFAULTS["level"], level_why: str = WORD_LEVEL_WHY, sequence_levels_only: bool = False) -> Group:
    """The tokenizer options, collected into a ``TokenizerOptions``; ``level`` is this command's default,
    ``level_why`` the reason its help gives. ``sequence_levels_only`` (train, grad-report) leaves out the
    n-gram order and the subword vocabulary cap."""
    d = TOKENIZER_DEFAULTS
    options = [("level", level_option(level, level_why), level), ("num_words", NumWords, d["num_words"]), ("oov_token", OovToken, d["oov_token"]),
               ("min_freq", MinFreq, d["min_freq"]), ("lower", Lower, d["lower"]), ("filters", Filters, d["filters"]),
               ("keep_punct", KeepPunct, d["keep_punct"]), ("eos", Eos, d["eos"]), ("ngram", Ngram, d["ngram"]),
               ("model_type", ModelType, d["model_type"]), ("vocab_size", VocabSize, d["vocab_size"]),
               ("character_coverage", CharCoverage, d["character_coverage"]), ("cap_vocab_size", CapVocab, d["cap_vocab_size"])]
    if sequence_levels_only:
        options = [o for o in options if o[0] not in ("ngram", "cap_vocab_size")]
    return Group(tuple(options), _tokenizer_options)


@dataclasses.dataclass(frozen=True)
class CorpusIO:
    """How a command that tokenizes text reads it and writes its output (tokenize, train)."""

    val: Optional[list[str]]  # --val files, as strings
    val_fraction: Optional[float]
    errors: str
    force: bool
    quiet: bool
    json: bool


def _corpus_io(*, val, val_fraction, errors, force, quiet, json_out) -> CorpusIO:
    return CorpusIO([str(v) for v in val] if val else None, val_fraction, errors, force, quiet, json_out)


def corpus_io_group() -> Group:
    """--val, --val-fraction, --errors, --force, --quiet, --json: collected into a ``CorpusIO``."""
    return Group((("val", ValFile, None), ("val_fraction", ValFraction, None), ("errors", Errors, "strict"), ("force", Force, False),
                  ("quiet", Quiet, False), ("json_out", Json, False)), _corpus_io)


def model_group() -> Group:
    """The model options (``--cell``, sizes, cell-specific ones), collected as given (a dict; None = the level's default)."""
    d = MODEL_DEFAULTS
    return Group((("cell", Cell, d["cell"]), ("hidden", Hidden, None), ("layers", Layers, None), ("embed_dim", EmbedDim, None),
                  ("dropout", Dropout, None), ("tie_weights", TieWeights, None), ("tau_min", TauMin, d["tau_min"]),
                  ("tau_max", TauMax, d["tau_max"]), ("learn_tau", LearnTau, d["learn_tau"]), ("forget_bias", ForgetBias, d["forget_bias"]),
                  ("adaptive_softmax", AdaptiveSoftmax, None), ("delay", Delay, d["delay"]), ("window", Window, d["window"])), dict)


def regularisation_group() -> Group:
    """AWD-LSTM's regularisers (Merity et al. 2017) for train: --locked-dropout, --embed-dropout, --weight-drop, as a dict of ModelConfig fields."""
    d = MODEL_DEFAULTS
    return Group((("locked_dropout", LockedDropout, d["locked_dropout"]), ("embed_dropout", EmbedDropout, d["embed_dropout"]),
                  ("weight_drop", WeightDrop, d["weight_drop"])), dict)


def model_given(model: dict[str, Any]) -> dict[str, Any]:
    """The model group's values as ``runs.model_config`` takes them: ModelConfig field names, cutoffs parsed."""
    given = {k: v for k, v in model.items() if k != "adaptive_softmax"}
    return {**given, "adaptive_cutoffs": parse_cutoffs(model["adaptive_softmax"])}


def typed(ctx, name: str) -> bool:
    """The option was typed on the command line (or set in the environment), not left at its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")  # by name: typer may vendor its own click


def given_options(ctx, keep: Callable[[str], bool]) -> list[str]:
    """The options typed on the command line (not left at their defaults) whose parameter names ``keep`` selects."""
    return [p.opts[0] for p in ctx.command.params if keep(p.name) and p.opts[0].startswith("-") and typed(ctx, p.name)]


def parse_cutoffs(text: Optional[str]) -> Optional[tuple[int, ...]]:
    """--adaptive-softmax 2000,6000 -> (2000, 6000); 'off' -> () (the full softmax, chosen); None stays None (not given:
    seqtool.lm_defaults decides)."""
    if text is None:
        return None
    if text.strip().lower() in ("off", "none"):
        return ()
    from seqtool.errors import UsageError

    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise UsageError(f"--adaptive-softmax {text!r}: give increasing integer cutoffs such as 2000,6000") from None


MAX_THREADS_PER_CPU = 4


def apply_threads(threads: Optional[int]) -> None:
    """--threads N: pin torch's CPU threads (None keeps torch's default)."""
    if threads is None:
        return
    from seqtool.errors import UsageError

    if threads < 1:
        raise UsageError(f"--threads {threads}: must be at least 1")
    # Past a few threads per core torch only adds switching (and a stack per thread); 4x leaves room for
    # hyperthreads and for containers whose CPU count understates what they may use.
    cpus = os.cpu_count() or 1
    if threads > MAX_THREADS_PER_CPU * cpus:
        raise UsageError(f"--threads {threads}: more than {MAX_THREADS_PER_CPU} per CPU (this machine has {cpus}); use at most {cpus}")
    import torch

    torch.set_num_threads(threads)
