"""The tokenizer contract every level keeps: options, fitting, ``encode``/``decode``, persistence.

``encode_raw`` returns int32 ids with two markers: ``LINE_END`` (-1) where a line ended and
``DROPPED`` (-2) where a token has no id (out of vocabulary, no OOV token). Where no marker can
occur (char level with an OOV token: every code point and the line end have an id) it returns
unsigned ids instead, uint8 or uint16, cheaper to make and to write. ``finish`` turns either into
the ids a model sees; the pipeline reads the markers for its statistics.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import numpy as np

from seqtool.errors import TokenizerError
from seqtool.text.options import TokenizerOptions
from seqtool.text.vocab import Vocabulary

FORMAT = "seqtool-tokenizer"
FORMAT_VERSION = 1
LINE_END = -1
DROPPED = -2


class Tokenizer:
    """Base class: a fitted vocabulary plus the rules that split text into its tokens."""

    level = ""
    decode_sep = " "
    cut_before: bytes | None = b""
    """Where the corpus reader may cut a line too long for one chunk without changing the ids
    (see ``seqtool.text.corpus``): just before one of these bytes, anywhere (None), or never (b"")."""

    def __init__(self, options: TokenizerOptions, vocab: Vocabulary | None = None):
        self.options = options
        self.vocab = vocab

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, chunks: Iterable[str]) -> "Tokenizer":
        """Build the vocabulary from line-aligned training text chunks."""
        raise NotImplementedError

    def _build_vocab(self, counts: dict[str, int], lines: int) -> None:
        o = self.options
        specials = []
        if o.oov_token is not None:
            specials.append(("oov", o.oov_token))
        if o.eos:
            specials.append(("eos", "<eos>"))
        self.vocab = Vocabulary.build(counts, specials, o.num_words, o.min_freq, {"eos": lines})
        for cache in ("_lut_cache", "_table_cache", "_lookup_cache"):  # built lazily from the vocabulary
            self.__dict__.pop(cache, None)
        if len(self.vocab) <= len(specials) + 1:
            raise TokenizerError("the training text has no tokens; give a corpus with some text")

    # -- encoding --------------------------------------------------------------------------
    @property
    def line_end_id(self) -> int | None:
        """The id a line end becomes (the eos token, or the character '\\n'), or None to drop it."""
        return self.vocab.eos_id

    @property
    def line_end_marker(self) -> int:
        """What marks a line end in ``encode_raw`` output: its id, or LINE_END where it has none."""
        le = self.line_end_id
        return LINE_END if le is None else le

    def encode_raw(self, text: str) -> np.ndarray:
        """Ids with ``line_end_marker`` at each line end and DROPPED for tokens without an id.

        int32, or unsigned (uint8/uint16, no markers possible) where a subclass can prove that
        every token has an id: see the module docstring.
        """
        raise NotImplementedError

    @staticmethod
    def finish(raw: np.ndarray) -> np.ndarray:
        """Raw ids to the ids a model sees (markers removed)."""
        if len(raw) == 0 or raw.dtype.kind == "u" or raw.min() >= 0:  # unsigned ids carry no markers
            return raw
        return raw[raw >= 0]

    def encode(self, text: str) -> np.ndarray:
        """Ids of ``text``; line ends become the end-of-line token where there is one.

        int32, or uint8/uint16 at char level (the dtype of ``encode_raw``); cast where a fixed
        dtype matters (``kernels.ids_dtype`` gives the one ``tokenize`` saves).
        """
        return self.finish(self.encode_raw(text))

    def encode_lines(self, text: str) -> list[np.ndarray]:
        """One id array per line (no end-of-line token): Keras ``texts_to_sequences``."""
        return split_raw_lines(self.encode_raw(text), self.line_end_marker)

    def texts_to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        """Keras ``texts_to_sequences``: one id list per text (a text with no tokens gives [])."""
        out = []
        for t in texts:
            lines = self.encode_lines(t.replace("\n", " "))
            out.append(lines[0].tolist() if lines else [])
        return out

    # -- decoding --------------------------------------------------------------------------
    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; padding is skipped, the end-of-line token becomes a newline."""
        toks = self.vocab.tokens
        eos = self.vocab.eos_id
        out: list[str] = []
        line: list[str] = []
        for i in ids:
            i = int(i)
            if i < 0 or i >= len(toks):
                raise TokenizerError(f"id {i} is outside the vocabulary (0..{len(toks) - 1}); use the tokenizer that made these ids")
            if i == 0:
                continue
            if i == eos:
                out.append(self.decode_sep.join(line) + "\n")
                line = []
            else:
                line.append(toks[i])
        out.append(self.decode_sep.join(line))
        return "".join(out)

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        if self.vocab is None:
            raise TokenizerError("the tokenizer is not fitted; call fit() first")
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "level": self.level,
            "options": asdict(self.options),
            "vocab": self.vocab.to_dict(),
        }

    def save(self, path: str | Path) -> None:
        from seqtool.fsio import atomic_write_bytes

        atomic_write_bytes(Path(path), json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8"))

    @property
    def word_index(self) -> dict[str, int]:
        """Token -> id without padding and specials: Keras ``Tokenizer.word_index``."""
        special = set(self.vocab.specials.values())
        return {t: i for t, i in self.vocab.index.items() if i not in special}


def surrogate_error(e: UnicodeEncodeError) -> TokenizerError:
    """A lone surrogate in text to encode (invalid UTF-8 read with surrogateescape, e.g. a command
    line argument): it is no character, so it has no token."""
    cp = ord(e.object[e.start])
    return TokenizerError(f"the text has a lone surrogate (U+{cp:04X} at character {e.start}), not a character",
                          fixes=("fix its encoding", "read files with --errors replace"))


def split_raw_lines(raw: np.ndarray, marker: int = LINE_END) -> list[np.ndarray]:
    """Raw ids to one id array per line (markers removed); a final line without its end counts too."""
    ends = np.flatnonzero(raw == marker)
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(raw)]))
    if len(raw) == 0 or raw[-1] == marker:
        starts, stops = starts[:-1], stops[:-1]
    return [raw[a:b][raw[a:b] >= 0] for a, b in zip(starts, stops)]
