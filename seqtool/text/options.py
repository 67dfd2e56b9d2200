"""TokenizerOptions: the typed, validated description of how text becomes ids, saved in ``tokenizer.json``.

Its job is to hold the options in plain values and reject impossible combinations once, with a
message naming the option. Field names match the CLI options that set them (``num_words`` <->
``--num-words``). This module imports neither numpy nor torch, so the CLI reads its defaults for
``--help`` without paying for them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from seqtool.errors import UsageError
from seqtool.text.constants import KERAS_FILTERS, LEVELS


@dataclass
class TokenizerOptions:
    """Everything that decides how text becomes ids; saved inside ``tokenizer.json``."""

    level: str = "word"
    lower: bool = True
    filters: str = KERAS_FILTERS
    keep_punct: bool = False
    num_words: int | None = None
    min_freq: int = 1
    oov_token: str | None = None
    eos: bool | None = None  # None: the level's default (on for word and subword)
    ngram: int = 2
    model_type: str = "unigram"
    vocab_size: int = 4000
    character_coverage: float = 1.0
    cap_vocab_size: bool = False

    def resolved(self) -> "TokenizerOptions":
        """A validated copy with level defaults filled in."""
        o = TokenizerOptions(**asdict(self))
        if o.level not in LEVELS:
            raise UsageError(f"--level {o.level}: unknown level; choose one of {', '.join(LEVELS)}")
        if o.eos is None:
            o.eos = o.level in ("word", "subword")
        if o.eos and o.level not in ("word", "subword"):
            raise UsageError("--eos: only word and subword levels have an end-of-line token (char keeps '\\n' as a character)")
        if o.level in ("ngram", "char-ngram") and o.ngram < 1:
            raise UsageError(f"--ngram {o.ngram}: the n-gram order must be at least 1")
        if o.num_words is not None and o.num_words < 1:
            raise UsageError(f"--num-words {o.num_words}: must be at least 1")
        if o.min_freq < 1:
            raise UsageError(f"--min-freq {o.min_freq}: must be at least 1")
        if o.level == "subword":
            if o.model_type not in ("bpe", "unigram"):
                raise UsageError(f"--model-type {o.model_type}: choose bpe or unigram")
            if not 0.0 < o.character_coverage <= 1.0:
                raise UsageError(f"--character-coverage {o.character_coverage}: must be in (0, 1]")
            if o.vocab_size < 4:
                raise UsageError(f"--vocab-size {o.vocab_size}: must be at least 4")
            if o.num_words is not None or o.min_freq != 1:
                raise UsageError("--num-words/--min-freq do not apply to --level subword", fixes=("use --vocab-size",))
        if o.keep_punct and o.level not in ("word", "ngram"):
            raise UsageError("--keep-punct applies to word and ngram levels only")
        if o.oov_token is not None and o.oov_token == "":
            raise UsageError("--oov-token: give a non-empty token such as <unk>")
        return o


#: What ``--errors`` may say about invalid UTF-8: stop with the place, or go on with U+FFFD.
DECODE_ERRORS = ("strict", "replace")


def check_errors(errors: str) -> str:
    """``errors`` if it is one of DECODE_ERRORS, else a UsageError naming ``--errors``."""
    if errors not in DECODE_ERRORS:
        raise UsageError(f"--errors {errors}: choose strict or replace")
    return errors
