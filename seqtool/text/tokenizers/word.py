"""Word and n-gram levels: the Keras ``Tokenizer`` rules.

Word level follows the Keras ``Tokenizer`` the lecture uses ("Working with Texts in Keras"):
lowercase, strip the Keras punctuation filters, split on whitespace, ids by descending frequency
with ties in first-occurrence order, 0 reserved for padding. With no cap, no OOV token and no
end-of-line token, ``word_index`` and ``texts_to_sequences`` agree with Keras exactly.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Iterable

import numpy as np

from seqtool.text.kernels import SENTINEL, Interner, add_counts, ascii_translate_table
from seqtool.text.tokenizers.base import DROPPED, Tokenizer
from seqtool.text.options import TokenizerOptions
from seqtool.text.vocab import Vocabulary


class UnitTokenizer(Tokenizer):
    """Tokenizers whose tokens are strings cut out of the text (words, n-grams)."""

    def units(self, text: str) -> list:
        """The tokens of ``text``, with the sentinel where each line ended."""
        raise NotImplementedError

    def fit(self, chunks: Iterable[str]) -> "UnitTokenizer":
        interner = Interner()
        counts = np.zeros(1, np.int64)
        for chunk in chunks:
            ids = interner.ids(self.units(chunk))
            counts = add_counts(counts, ids, len(interner.tokens))
        return self.fit_counts(interner, counts)

    def fit_counts(self, interner: Interner, counts: np.ndarray) -> "UnitTokenizer":
        """Build the vocabulary from provisional-id counts (what ``fit`` and the pipeline gather)."""
        counts = np.concatenate([counts, np.zeros(max(0, len(interner.tokens) - len(counts)), np.int64)])
        ordered = {t: int(c) for t, c in zip(interner.tokens[1:], counts[1:].tolist()) if c > 0}
        self.total_counts = ordered
        self._build_vocab(ordered, int(counts[0]))
        return self

    def remap_table(self, interner: Interner) -> np.ndarray:
        """Provisional id -> raw id (final id, OOV, DROPPED, or the line-end marker)."""
        lk = self._lookup()
        return np.fromiter((lk[t] for t in interner.tokens), dtype=np.int32, count=len(interner.tokens))

    def _lookup(self) -> "_Lookup":
        if getattr(self, "_lookup_cache", None) is None:
            miss = self.vocab.oov_id if self.vocab.oov_id is not None else DROPPED
            special = set(self.vocab.specials.values())
            d = {t: i for t, i in self.vocab.index.items() if i not in special}
            d[SENTINEL] = self.line_end_marker
            self._lookup_cache = _Lookup(d, miss)
            self._lookup_bytes = _Lookup({t.encode(): i for t, i in d.items() if t.isascii()}, miss)
        return self._lookup_cache

    def encode_raw(self, text: str) -> np.ndarray:
        units = self.units(text)
        lk = self._lookup()
        if units and isinstance(units[0], bytes):
            lk = self._lookup_bytes
        return np.fromiter(map(lk.__getitem__, units), dtype=np.int32, count=len(units))


class _Lookup(dict):
    """A token -> id dict whose misses give ``miss`` (the OOV id, or DROPPED)."""

    def __init__(self, d: dict, miss: int):
        super().__init__(d)
        self.miss = miss

    def __missing__(self, key) -> int:
        return self.miss


class WordTokenizer(UnitTokenizer):
    """Words split on whitespace after lowercasing and stripping (or splitting off) punctuation."""

    level = "word"
    # Whitespace that separates words on both the bytes and the str path (a word ends there whatever
    # the filters). A longer run without any is cut between characters: its pieces are two words.
    cut_before = b" \t\r\x0b\x0c\x1c\x1d\x1e\x1f"

    def __init__(self, options: TokenizerOptions, vocab: Vocabulary | None = None):
        super().__init__(options, vocab)
        seps = "".join(ch for ch in options.filters if ch.isspace() or ch == SENTINEL)
        self._punct = "".join(ch for ch in options.filters if ch not in seps)
        # Characters str.split() treats as whitespace but bytes.split() does not: map them to spaces
        # so the fast ASCII path and the Unicode path split identically.
        ascii_ws = "".join(chr(c) for c in range(128) if chr(c).isspace() and chr(c) not in " \t\n\r\x0b\x0c")
        drop = seps.replace("\n", "") + ascii_ws + ("" if options.keep_punct else self._punct)
        self._str_table = str.maketrans({ch: " " for ch in drop})
        self._bytes_table = ascii_translate_table(drop, options.lower)  # ASCII chunks: one C-level pass

    def units(self, text: str) -> list:
        """Tokens with a sentinel where each line ended (bytes for ASCII text, else str)."""
        o = self.options
        if text.isascii():
            b = text.encode("ascii").replace(b"\n", b" \x00 ")
            if self._bytes_table is not None:
                b = b.translate(self._bytes_table)
            if o.keep_punct:
                for ch in self._punct:
                    c = ch.encode()
                    if c in b:
                        b = b.replace(c, b" " + c + b" ")
            return b.split()
        if o.lower:
            text = text.lower()
        text = text.replace("\n", " \x00 ").translate(self._str_table)
        if o.keep_punct:
            for ch in self._punct:
                if ch in text:
                    text = text.replace(ch, f" {ch} ")
        return text.split()


class NgramTokenizer(UnitTokenizer):
    """Word n-grams of every order 1..N, in order of their first word (the lecture's n-gram sets)."""

    level = "ngram"
    decode_sep = " | "
    cut_before = b""  # an n-gram may span any point of its line: lines are read whole, however long

    def __init__(self, options: TokenizerOptions, vocab: Vocabulary | None = None):
        super().__init__(options, vocab)
        wo = TokenizerOptions(**{**asdict(options), "level": "word", "eos": False, "num_words": None, "oov_token": None})
        self._words = WordTokenizer(wo)

    def _line_units(self, line: str) -> list[str]:
        return [t.decode() if isinstance(t, bytes) else t for t in self._words.units(line)]

    def _grams(self, units: list[str], joiner: str = " ") -> list[str]:
        n = self.options.ngram
        return [joiner.join(units[i : i + k]) for i in range(len(units)) for k in range(1, n + 1) if i + k <= len(units)]

    def units(self, text: str) -> list:
        out: list[str] = []
        lines = text.split("\n")
        for j, line in enumerate(lines):
            out.extend(self._grams(self._line_units(line)))
            if j < len(lines) - 1:
                out.append(SENTINEL)
        return out


class CharNgramTokenizer(NgramTokenizer):
    """Character n-grams of every order 1..N within each line."""

    level = "char-ngram"

    def _line_units(self, line: str) -> list[str]:
        return list(line.lower() if self.options.lower else line)

    def _grams(self, units: list[str], joiner: str = "") -> list[str]:
        return super()._grams(units, "")
