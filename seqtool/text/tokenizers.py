"""Tokenizers: text to ids and back, at the character, word, n-gram and subword level.

One code path for every command: ``tokenize`` fits and saves a tokenizer, ``train``, ``generate``
and ``eval`` load it and call the same ``encode``/``decode``. Fitting streams over line-aligned
text chunks (see ``seqtool.text.corpus``), so memory grows with the vocabulary, not the corpus.

Word level follows the Keras ``Tokenizer`` the lecture uses ("Working with Texts in Keras"):
lowercase, strip the Keras punctuation filters, split on whitespace, ids by descending frequency
with ties in first-occurrence order, 0 reserved for padding. With no cap, no OOV token and no
end-of-line token, ``word_index`` and ``texts_to_sequences`` agree with Keras exactly.

Internally ``encode_raw`` returns signed ids with two markers (or, when there can be no marker,
ids already in the dtype they are saved in): ``LINE_END`` (-1) where a line ended
and ``DROPPED`` (-2) where a token has no id (out of vocabulary, no OOV token). ``finish`` turns
that into the ids a model sees; the pipeline reads the markers for its statistics.
"""
from __future__ import annotations

import base64
import io
import itertools
import json
import re
from dataclasses import asdict, fields
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
_SENTINEL = "\x00"  # stands for a line end inside word streams; corpora with NUL bytes are rejected


class Tokenizer:
    """Base class: a fitted vocabulary plus the rules that split text into its tokens."""

    level = ""
    decode_sep = " "

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
        """int32 ids with ``line_end_marker`` at each line end and DROPPED for tokens without an id."""
        raise NotImplementedError

    @staticmethod
    def finish(raw: np.ndarray) -> np.ndarray:
        """Raw ids to the ids a model sees (markers removed)."""
        if len(raw) == 0 or raw.dtype.kind == "u" or raw.min() >= 0:  # unsigned ids carry no markers
            return raw
        return raw[raw >= 0]

    def encode(self, text: str) -> np.ndarray:
        """Ids of ``text`` as int64; line ends become the end-of-line token where there is one."""
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


def split_raw_lines(raw: np.ndarray, marker: int = LINE_END) -> list[np.ndarray]:
    """Raw ids to one id array per line (markers removed); a final line without its end counts too."""
    ends = np.flatnonzero(raw == marker)
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(raw)]))
    if len(raw) == 0 or raw[-1] == marker:
        starts, stops = starts[:-1], stops[:-1]
    return [raw[a:b][raw[a:b] >= 0] for a, b in zip(starts, stops)]


def _bincount(a: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """np.bincount in cache-sized slices (3x faster on large uint8 arrays, which it widens to int64).

    Bytes are counted two at a time, as uint16 pairs whose 256x256 table sums to the byte counts:
    half the elements to widen and count.
    """
    if a.dtype == np.uint8 and len(a) > block and a.flags.c_contiguous:
        pairs = _bincount(a[: len(a) // 2 * 2].view(np.uint16), block)
        pairs = np.concatenate([pairs, np.zeros(65536 - len(pairs), np.int64)]).reshape(256, 256)
        out = pairs.sum(0) + pairs.sum(1)  # little-endian: the high byte is the second of a pair
        if len(a) % 2:
            out[a[-1]] += 1
        return out[: int(np.flatnonzero(out)[-1]) + 1]
    if len(a) <= block:
        return np.bincount(a)
    n = int(a.max()) + 1
    out = np.zeros(n, np.int64)
    for i in range(0, len(a), block):
        out += np.bincount(a[i : i + block], minlength=n)
    return out


def _first_occurrence_order(cps: np.ndarray, wanted: np.ndarray, block: int = 1 << 16) -> list[int]:
    """The code points ``wanted`` (all present in ``cps``) in order of first occurrence.

    Bytes (ASCII text): one C-level ``find`` per wanted byte. Wider code points: one forward scan
    in cache-sized blocks that looks only for the ones not found yet.
    """
    if cps.dtype == np.uint8:
        b = cps.tobytes() if not isinstance(cps.base, bytes) else cps.base
        return sorted(wanted.tolist(), key=lambda c: b.find(bytes((c,))))
    remaining = np.zeros(int(max(cps.max(), wanted.max())) + 1, dtype=bool)
    remaining[wanted] = True
    order: list[int] = []
    for start in range(0, len(cps), block):
        seg = cps[start : start + block]
        hits = np.flatnonzero(remaining[seg])
        if len(hits):
            vals, first = np.unique(seg[hits], return_index=True)
            order.extend(vals[np.argsort(first, kind="stable")].tolist())
            remaining[vals] = False
            if len(order) == len(wanted):
                break
    return order


class CharTokenizer(Tokenizer):
    """Every Unicode character (code point, not byte) is a token; '\\n' is a character like any other."""

    level = "char"
    decode_sep = ""

    def _codepoints(self, text: str) -> np.ndarray:
        if text.isascii():
            return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)

    def fit(self, chunks: Iterable[str]) -> "CharTokenizer":
        from seqtool.text.parallel import char_counts

        return self.fit_chunk_counts(char_counts(self, chunk) for chunk in chunks)

    def fit_chunk_counts(self, results: Iterable[tuple[np.ndarray, list[int]]]) -> "CharTokenizer":
        """Build the vocabulary from per-chunk (code point counts, first-occurrence order), in corpus order."""
        counts = np.zeros(128, dtype=np.int64)
        order: list[int] = []  # code points in first-occurrence order over the whole corpus
        for bc, chunk_order in results:
            if len(bc) > len(counts):
                counts = np.concatenate([counts, np.zeros(len(bc) - len(counts), np.int64)])
            order.extend(c for c in chunk_order if counts[c] == 0)
            counts[: len(bc)] += bc
        ordered = {chr(c): int(counts[c]) for c in order}
        self.total_counts = ordered
        self._build_vocab(ordered, 0)
        return self

    @property
    def line_end_id(self) -> int | None:
        return self.vocab.index.get("\n", self.vocab.oov_id)

    def _lut(self, size: int) -> np.ndarray:
        """Code point -> raw id table (int32), grown to cover ``size`` code points."""
        lut = getattr(self, "_lut_cache", None)
        if lut is None or len(lut) < size:
            miss = self.vocab.oov_id if self.vocab.oov_id is not None else DROPPED
            n = max(size, 128, max((ord(t) + 1 for t in self.vocab.tokens if len(t) == 1), default=0))
            lut = np.full(n, miss, dtype=np.int32)
            special = set(self.vocab.specials.values())
            for t, i in self.vocab.index.items():
                if len(t) == 1 and i not in special:
                    lut[ord(t)] = i
            lut[10] = self.line_end_marker
            if lut.min() >= 0 and lut.max() < 1 << 16:
                lut = lut.astype(np.uint16)  # the common case: ids come out in the dtype they are saved in
            self._lut_cache = lut
        return lut

    def _byte_table(self) -> bytes | None:
        """ASCII byte -> id as a ``bytes.translate`` table, when every ASCII id fits in a byte."""
        if not hasattr(self, "_table_cache"):
            lut = self._lut(128)[:128]
            ok = lut.dtype == np.uint16 and int(lut.max()) < 256
            self._table_cache = bytes(lut.astype(np.uint8).tobytes()) + bytes(128) if ok else None
        return self._table_cache

    def encode_raw(self, text: str) -> np.ndarray:
        if text.isascii() and (table := self._byte_table()) is not None:
            # The common case (an ASCII chunk, a vocabulary of at most 256): a C-level byte
            # translation, 4x faster than a numpy table lookup and already in the saved dtype.
            return np.frombuffer(text.encode("ascii").translate(table), dtype=np.uint8)
        cps = self._codepoints(text)
        if len(cps) == 0:
            return np.zeros(0, np.int32)
        return self._lut(128 if cps.dtype == np.uint8 else int(cps.max()) + 1)[cps]

    def decode(self, ids: Iterable[int]) -> str:
        toks = self.vocab.tokens
        specials = set(self.vocab.specials.values()) - {self.vocab.oov_id}
        try:
            return "".join(toks[int(i)] for i in ids if int(i) not in specials)
        except IndexError:
            raise TokenizerError(f"an id is outside the vocabulary (0..{len(toks) - 1}); use the tokenizer that made these ids") from None


class Interner:
    """Gives every distinct token a provisional id in first-occurrence order (0 is the line end).

    Counting becomes ``np.bincount`` over provisional ids, and a single pass over a corpus can
    write provisional ids that a lookup table later maps to the final, frequency-ordered ids.
    ASCII chunks arrive as bytes tokens (faster to split), others as str; both map to one id.
    """

    def __init__(self) -> None:
        self.tokens: list[str] = [_SENTINEL]
        self._str = _InternMap(self, False)
        self._bytes = _InternMap(self, True)
        self._str[_SENTINEL] = 0
        self._bytes[_SENTINEL.encode()] = 0

    def ids(self, units: list) -> np.ndarray:
        d = self._bytes if units and isinstance(units[0], bytes) else self._str
        return np.fromiter(map(d.__getitem__, units), dtype=np.int32, count=len(units))

    def merge(self, tokens: list[str]) -> np.ndarray:
        """Global ids (int32) of another interner's ``tokens``, adding the new ones in their order."""
        got = np.fromiter(map(self._str.get, tokens, itertools.repeat(-1)), dtype=np.int32, count=len(tokens))
        for j in np.flatnonzero(got < 0).tolist():  # a C-level lookup above; Python only for new tokens
            got[j] = self._new(tokens[j])
        return got

    def _new(self, token: str) -> int:
        i = self._str.get(token)
        if i is None:
            i = len(self.tokens)
            self.tokens.append(token)
            self._str[token] = i
        return i


class _InternMap(dict):
    def __init__(self, owner: Interner, is_bytes: bool):
        super().__init__()
        self.owner, self.is_bytes = owner, is_bytes

    def __missing__(self, key) -> int:
        i = self.owner._new(key.decode("ascii") if self.is_bytes else key)
        self[key] = i
        return i


def add_counts(counts: np.ndarray, ids: np.ndarray, size: int) -> np.ndarray:
    """``counts`` + bincount(ids), grown to ``size``."""
    if len(counts) < size:
        counts = np.concatenate([counts, np.zeros(size - len(counts), np.int64)])
    if len(ids):
        bc = np.bincount(ids)
        counts[: len(bc)] += bc
    return counts


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
            d[_SENTINEL] = self.line_end_marker
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

    def __init__(self, options: TokenizerOptions, vocab: Vocabulary | None = None):
        super().__init__(options, vocab)
        seps = "".join(ch for ch in options.filters if ch.isspace() or ch == _SENTINEL)
        self._punct = "".join(ch for ch in options.filters if ch not in seps)
        # Characters str.split() treats as whitespace but bytes.split() does not: map them to spaces
        # so the fast ASCII path and the Unicode path split identically.
        ascii_ws = "".join(chr(c) for c in range(128) if chr(c).isspace() and chr(c) not in " \t\n\r\x0b\x0c")
        drop = seps.replace("\n", "") + ascii_ws + ("" if options.keep_punct else self._punct)
        self._str_table = str.maketrans({ch: " " for ch in drop})
        ascii_drop = "".join(ch for ch in drop if ch.isascii())
        # ASCII chunks: lowercasing and dropping in one C-level pass (upper case maps wherever its
        # lower case does, as Keras lowercases before it filters).
        table = bytearray(bytes.maketrans(ascii_drop.encode(), b" " * len(ascii_drop)))
        if options.lower:
            for c in range(ord("A"), ord("Z") + 1):
                table[c] = table[c + 32]
        self._bytes_table = bytes(table) if table != bytes(range(256)) else None

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
                out.append(_SENTINEL)
        return out


class CharNgramTokenizer(NgramTokenizer):
    """Character n-grams of every order 1..N within each line."""

    level = "char-ngram"

    def _line_units(self, line: str) -> list[str]:
        return list(line.lower() if self.options.lower else line)

    def _grams(self, units: list[str], joiner: str = "") -> list[str]:
        return super()._grams(units, "")


class SubwordTokenizer(Tokenizer):
    """SentencePiece (BPE or unigram) trained in memory; its model bytes live in tokenizer.json.

    Normalisation is the identity and whitespace is kept as it is, with byte fallback where the
    vocabulary has room, so ``decode(encode(text)) == text``. Ids are SentencePiece's own: 0 is
    <pad>, 1 <unk>, 2 <eos> (when line ends are kept).
    """

    level = "subword"

    def __init__(self, options: TokenizerOptions, vocab: Vocabulary | None = None, model: bytes | None = None):
        super().__init__(options, vocab)
        self.model = model
        self._sp = None

    def fit(self, chunks: Iterable[str]) -> "SubwordTokenizer":
        import sentencepiece as spm

        o = self.options
        lines: list[str] = []
        chars: set[str] = set()
        for chunk in chunks:
            for line in chunk.split("\n"):
                if line:
                    lines.append(line)
                    if len(lines) <= 2_000_000:
                        chars.update(line)
        if not lines:
            raise TokenizerError("the training text has no tokens; give a corpus with some text")
        n_special = 3 if o.eos else 2
        byte_fallback = o.vocab_size >= n_special + 256 + len(chars)

        def train(vocab_size: int) -> bytes:
            buf = io.BytesIO()
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines),
                model_writer=buf,
                vocab_size=vocab_size,
                model_type=o.model_type,
                character_coverage=o.character_coverage,
                normalization_rule_name="identity",
                remove_extra_whitespaces=False,
                add_dummy_prefix=False,
                split_digits=False,
                byte_fallback=byte_fallback,
                pad_id=0,
                unk_id=1,
                eos_id=2 if o.eos else -1,
                bos_id=-1,
                pad_piece="<pad>",
                unk_piece="<unk>",
                eos_piece="<eos>",
                input_sentence_size=2_000_000,
                shuffle_input_sentence=True,
                max_sentence_length=1 << 16,
                num_threads=2,
                minloglevel=2,
            )
            return buf.getvalue()

        try:
            self.model = train(o.vocab_size)
        except RuntimeError as e:
            msg = str(e)
            m = re.search(r"value <= (\d+)", msg)
            if m and o.cap_vocab_size:
                self.model = train(int(m.group(1)))
            elif m:
                raise TokenizerError(
                    f"--vocab-size {o.vocab_size} is too large for this corpus; the largest that works is "
                    f"{m.group(1)} (or pass --cap-vocab-size to use it automatically)"
                ) from None
            elif "smaller than required_chars" in msg:
                need = re.search(r"vs (\d+)", msg)
                raise TokenizerError(
                    f"--vocab-size {o.vocab_size} is too small: the corpus has "
                    f"{need.group(1) if need else 'more'} characters to cover; raise --vocab-size or lower --character-coverage"
                ) from None
            else:
                raise TokenizerError(f"sentencepiece could not train: {msg.strip().splitlines()[-1]}") from None
        self._make_vocab()
        return self

    def _make_vocab(self) -> None:
        sp = self.sp
        tokens = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
        specials = {"pad": 0, "oov": 1}
        if self.options.eos:
            specials["eos"] = 2
        counts = self.vocab.counts if self.vocab is not None else [0] * len(tokens)
        self.vocab = Vocabulary(tokens, counts, specials)

    @property
    def sp(self):
        if self._sp is None:
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_proto=self.model)
        return self._sp

    def encode_raw(self, text: str) -> np.ndarray:
        lines = text.split("\n")
        pieces = self.sp.encode(lines, out_type=int)
        marker = self.line_end_marker
        out: list[int] = []
        for j, ids in enumerate(pieces):
            out.extend(ids)
            if j < len(lines) - 1:
                out.append(marker)
        return np.asarray(out, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        eos = self.vocab.eos_id
        n = len(self.vocab)
        lines: list[list[int]] = [[]]
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise TokenizerError(f"id {i} is outside the vocabulary (0..{n - 1}); use the tokenizer that made these ids")
            if i == eos:
                lines.append([])
            elif i != 0:
                lines[-1].append(i)
        return "\n".join(self.sp.decode(line) for line in lines)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["sentencepiece_model"] = base64.b64encode(self.model).decode("ascii")
        return d


_CLASSES = {c.level: c for c in (CharTokenizer, WordTokenizer, NgramTokenizer, CharNgramTokenizer, SubwordTokenizer)}


def make_tokenizer(options: TokenizerOptions) -> Tokenizer:
    """An unfitted tokenizer for ``options`` (validated and with level defaults filled in)."""
    o = options.resolved()
    return _CLASSES[o.level](o)


def tokenizer_from_dict(d: dict, source: str = "tokenizer") -> Tokenizer:
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise TokenizerError(f"{source}: not a seqtool tokenizer; give the tokenizer.json written by seqtool tokenize")
    if d.get("version") != FORMAT_VERSION:
        raise TokenizerError(f"{source}: tokenizer format version {d.get('version')} is not supported by this seqtool (reads {FORMAT_VERSION}); upgrade seqtool or re-run tokenize")
    try:
        known = {f.name for f in fields(TokenizerOptions)}
        opts = TokenizerOptions(**{k: v for k, v in d["options"].items() if k in known})
        vocab = Vocabulary.from_dict(d["vocab"])
        cls = _CLASSES[d["level"]]
        if cls is SubwordTokenizer:
            tok = SubwordTokenizer(opts, vocab, base64.b64decode(d["sentencepiece_model"]))
            tok.sp  # fail now, not at first use, if the model bytes are damaged
            return tok
        return cls(opts, vocab)
    except TokenizerError:
        raise
    except Exception as e:  # noqa: BLE001 - any damage in the file is the same error for the user
        raise TokenizerError(f"{source}: tokenizer file is corrupt ({type(e).__name__}: {e}); re-run seqtool tokenize") from None


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load ``tokenizer.json`` (or a directory holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise TokenizerError(f"{p}: no tokenizer here; give a seqtool tokenize output directory or its tokenizer.json")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenizerError(f"{p}: tokenizer file is corrupt ({e}); re-run seqtool tokenize") from None
    return tokenizer_from_dict(d, str(p))
