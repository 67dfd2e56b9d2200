"""Options shared by several commands, declared once (name, help text, units) as Annotated aliases."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from seqtool.text.constants import KERAS_FILTERS

if TYPE_CHECKING:
    from seqtool.text.options import TokenizerOptions

TOK = "Tokenizer"
MODEL = "Model"
TRAIN = "Training"

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (and --json output).")]
Json = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON summary on stdout instead of tables.")]
Force = Annotated[bool, typer.Option("--force", help="Replace --out if it exists and is not empty.")]
Errors = Annotated[
    str, typer.Option("--errors", help="Invalid UTF-8: 'strict' stops with the file, line and byte offset; 'replace' goes on with U+FFFD.")
]

Level = Annotated[str, typer.Option("--level", help="char | word | ngram | char-ngram | subword.", rich_help_panel=TOK)]
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

ValFile = Annotated[Optional[list[Path]], typer.Option("--val", help="Validation text file(s); the vocabulary never sees them.")]
ValFraction = Annotated[Optional[float], typer.Option("--val-fraction", help="Hold out the last fraction of the input (split on a line boundary) for validation.")]


def tokenizer_options(
    level: str,
    num_words: Optional[int],
    oov_token: Optional[str],
    min_freq: int,
    lower: bool,
    filters: str,
    keep_punct: bool,
    eos: Optional[bool],
    ngram: int,
    model_type: str,
    vocab_size: int,
    character_coverage: float,
    cap_vocab_size: bool,
) -> "TokenizerOptions":
    from seqtool.text.options import TokenizerOptions

    return TokenizerOptions(
        level=level,
        lower=lower,
        filters=filters,
        keep_punct=keep_punct,
        num_words=num_words,
        min_freq=min_freq,
        oov_token=oov_token,
        eos=eos,
        ngram=ngram,
        model_type=model_type,
        vocab_size=vocab_size,
        character_coverage=character_coverage,
        cap_vocab_size=cap_vocab_size,
    )


DEFAULT_FILTERS = KERAS_FILTERS


# Model and run options shared by train and grad-report (help texts name the level defaults).
Cell = Annotated[str, typer.Option("--cell", help="rnn (tanh, lecture Design 1) | gru | lstm | leaky | skip | jordan (Design 2) | tdnn.", rich_help_panel=MODEL)]
Hidden = Annotated[Optional[int], typer.Option("--hidden", help="Units per recurrent layer [char: 384, word: 256].", rich_help_panel=MODEL, show_default=False)]
Layers = Annotated[Optional[int], typer.Option("--layers", help="Stacked recurrent layers [2].", rich_help_panel=MODEL, show_default=False)]
EmbedDim = Annotated[Optional[int], typer.Option("--embed-dim", help="Embedding width; 0 = one-hot inputs as char-rnn [char: 0, word: 256].", rich_help_panel=MODEL, show_default=False)]
Dropout = Annotated[Optional[float], typer.Option("--dropout", help="Dropout probability [char: 0.1, word: 0.4].", rich_help_panel=MODEL, show_default=False)]
TieWeights = Annotated[Optional[bool], typer.Option("--tie-weights/--no-tie-weights", help="Share embedding and output matrices (needs --embed-dim = --hidden) [word: on].", rich_help_panel=MODEL, show_default=False)]
TauMin = Annotated[float, typer.Option("--tau-min", help="leaky: shortest time constant (steps).", rich_help_panel=MODEL)]
TauMax = Annotated[float, typer.Option("--tau-max", help="leaky: longest time constant (steps).", rich_help_panel=MODEL)]
LearnTau = Annotated[bool, typer.Option("--learn-tau", help="leaky: train the time constants too.", rich_help_panel=MODEL)]
ForgetBias = Annotated[Optional[float], typer.Option("--forget-bias", help="lstm: initial forget-gate bias; 1-3 keeps the cell open so long dependencies can be learned [torch's init].", rich_help_panel=MODEL, show_default=False)]
AdaptiveSoftmax = Annotated[Optional[str], typer.Option("--adaptive-softmax", help="Cutoffs such as 2000,6000: an adaptive softmax (Grave et al. 2017) instead of the full output layer; much faster with large word vocabularies.", rich_help_panel=MODEL, show_default=False)]
Delay = Annotated[int, typer.Option("--delay", help="skip: recurrence from d steps back as well as from 1.", rich_help_panel=MODEL)]
Window = Annotated[int, typer.Option("--window", help="tdnn: inputs each unit sees (causal convolution width).", rich_help_panel=MODEL)]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", help="Parallel columns of the corpus [char: 32, word: 20].", rich_help_panel=TRAIN, show_default=False)]
Bptt = Annotated[Optional[int], typer.Option("--bptt", help="Window length for truncated BPTT, in tokens [char: 128, word: 35].", rich_help_panel=TRAIN, show_default=False)]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (CPU runs repeat bit for bit).", rich_help_panel=TRAIN)]
Device = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps.", rich_help_panel=TRAIN)]
Threads = Annotated[Optional[int], typer.Option("--threads", help="CPU threads for torch [torch's default].", rich_help_panel=TRAIN, show_default=False)]


def parse_cutoffs(text: Optional[str]) -> Optional[tuple[int, ...]]:
    """--adaptive-softmax 2000,6000 -> (2000, 6000); None stays None (the full softmax)."""
    if text is None:
        return None
    from seqtool.errors import UsageError

    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise UsageError(f"--adaptive-softmax {text!r}: give increasing integer cutoffs such as 2000,6000") from None


def apply_threads(threads: Optional[int]) -> None:
    """--threads N: pin torch's CPU threads (None keeps torch's default)."""
    if threads is None:
        return
    from seqtool.errors import UsageError

    if threads < 1:
        raise UsageError(f"--threads {threads}: must be at least 1")
    import torch

    torch.set_num_threads(threads)
