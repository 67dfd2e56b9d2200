"""Speed-up kernels of the text layer: code points, counting, first occurrences, interning, id dtypes.

Pure numpy and ``bytes`` machinery with no tokenization rule in it: the tokenizers and the
tokenize pipeline call these on whole chunks, so per-character and per-token work stays in C.
"""
from __future__ import annotations

import itertools

import numpy as np

SENTINEL = "\x00"  # stands for a line end inside word streams; corpora with NUL bytes are rejected


def ids_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id: uint8 (most char vocabularies), uint16, uint32."""
    return np.dtype(np.uint8 if vocab_size <= 1 << 8 else np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def codepoints(text: str) -> np.ndarray:
    """The code points of ``text``: uint8 for ASCII text (no copy of the encoded bytes), else uint32."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def bincount(a: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """np.bincount in cache-sized slices (3x faster on large uint8 arrays, which it widens to int64).

    Bytes are counted two at a time, as uint16 pairs whose 256x256 table sums to the byte counts:
    half the elements to widen and count.
    """
    if a.dtype == np.uint8 and len(a) > block and a.flags.c_contiguous:
        pairs = bincount(a[: len(a) // 2 * 2].view(np.uint16), block)
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


def first_occurrence_order(cps: np.ndarray, wanted: np.ndarray, block: int = 1 << 16) -> list[int]:
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


def char_counts(text: str) -> tuple[np.ndarray, list[int]]:
    """Code point counts of a chunk and its code points in first-occurrence order."""
    cps = codepoints(text)
    if len(cps) == 0:
        return np.zeros(0, np.int64), []
    bc = bincount(cps)
    return bc, first_occurrence_order(cps, np.flatnonzero(bc))


def add_counts(counts: np.ndarray, ids: np.ndarray, size: int) -> np.ndarray:
    """``counts`` + bincount(ids), grown to ``size``."""
    if len(counts) < size:
        counts = np.concatenate([counts, np.zeros(size - len(counts), np.int64)])
    if len(ids):
        bc = np.bincount(ids)
        counts[: len(bc)] += bc
    return counts


def ascii_translate_table(drop: str, lower: bool) -> bytes | None:
    """A ``bytes.translate`` table that maps the ASCII characters of ``drop`` to spaces, or None if it changes nothing.

    With ``lower``, upper case maps wherever its lower case does (lowercasing and dropping in one
    C-level pass, as Keras lowercases before it filters).
    """
    ascii_drop = "".join(ch for ch in drop if ch.isascii())
    table = bytearray(bytes.maketrans(ascii_drop.encode(), b" " * len(ascii_drop)))
    if lower:
        for c in range(ord("A"), ord("Z") + 1):
            table[c] = table[c + 32]
    return bytes(table) if table != bytes(range(256)) else None


def byte_table(lut: np.ndarray) -> bytes | None:
    """ASCII byte -> id as a ``bytes.translate`` table, when the first 128 entries of ``lut`` are ids that fit a byte."""
    lut = lut[:128]
    ok = lut.dtype == np.uint16 and int(lut.max()) < 256
    return lut.astype(np.uint8).tobytes() + bytes(128) if ok else None


class Interner:
    """Gives every distinct token a provisional id in first-occurrence order (0 is the line end).

    Counting becomes ``np.bincount`` over provisional ids, and a single pass over a corpus can
    write provisional ids that a lookup table later maps to the final, frequency-ordered ids.
    ASCII chunks arrive as bytes tokens (faster to split), others as str; both map to one id.
    """

    def __init__(self) -> None:
        self.tokens: list[str] = [SENTINEL]
        self._str = _InternMap(self, False)
        self._bytes = _InternMap(self, True)
        self._str[SENTINEL] = 0
        self._bytes[SENTINEL.encode()] = 0

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
