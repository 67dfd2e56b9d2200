"""Read pretrained word vectors (word2vec text or binary, GloVe) into a matrix for a vocabulary.

Its job: given a file and the model's tokens (index = token id), return a float32 matrix with one
row per token and say how many tokens the file covered. The format is detected from the file:

- word2vec text:   first line "N D", then "word f1 ... fD" per line
- GloVe text:      no header; every line is "word f1 ... fD"
- word2vec binary: first line "N D", then per word: word, a space, D little-endian float32 (4D
                   bytes), optionally a newline (Mikolov et al. 2013, word2vec.c's output)

Only the rows for the requested tokens are kept, so large files do not fill memory. Tokens are
matched exactly first, then by their lowercased form. Tokens not in the file get small random
normal vectors (seeded), except id 0 (padding), which gets zeros. numpy only; no torch.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from seqtool.errors import ConfigError

MISSING_STD = 0.1  # std of the random vectors for tokens the file lacks
_MAX_MISSING_EXAMPLES = 10


def _parse_header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _text_vector(line: str, dim: int) -> tuple[str, np.ndarray] | None:
    """'word f1 .. fD' -> (word, vector), or None when the line is not that. Words may hold spaces."""
    parts = line.rstrip("\r\n").rstrip(" ").rsplit(" ", dim)
    if len(parts) != dim + 1 or not parts[0]:
        return None
    try:
        return parts[0], np.array(parts[1:], dtype=np.float32)
    except ValueError:
        return None


def _detect(path: Path, first: bytes, second: bytes) -> tuple[str, int]:
    """Return (format, dim) from the first two lines of the file."""
    header = _parse_header(first)
    if header is not None:
        _, dim = header
        if dim < 1:
            raise ConfigError(f"{path}: word2vec header says dimension {dim}; the file is not usable")
        # Text if the first entry reads as 'word f1 .. fD'; binary float bytes practically never do.
        try:
            text = second.decode("utf-8")
        except UnicodeDecodeError:
            return "word2vec-binary", dim
        return ("word2vec-text" if _text_vector(text, dim) is not None else "word2vec-binary"), dim
    try:
        fields = first.decode("utf-8").split()
    except UnicodeDecodeError:
        fields = []
    # GloVe: the trailing numbers are the vector; a word may hold spaces ("new york") or be a number.
    numbers = 0
    for field in reversed(fields):
        try:
            float(field)
        except ValueError:
            break
        numbers += 1
    dim = min(numbers, len(fields) - 1)
    if dim >= 1:
        return "glove", dim
    raise ConfigError(
        f"{path}: unknown vector format; expected word2vec text or binary (header 'N D') "
        "or GloVe text ('word f1 ... fD' per line)"
    )


def _iter_text(path: Path, stream: io.BufferedReader, dim: int, count: int | None = None, first_line: int = 1):
    """(word, vector) per line; ``count``: the vectors a word2vec header promises (its data starts at line 2)."""
    n = 0
    for lineno, raw in enumerate(stream, start=first_line):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = raw.decode("utf-8", errors="replace")
        parsed = _text_vector(line, dim)
        if parsed is None:
            raise ConfigError(
                f"{path}: line {lineno} is not 'word' followed by {dim} numbers; "
                "is the dimension the same on every line?"
            )
        if _number_in_word(parsed[0]):
            raise ConfigError(f"{path}: line {lineno} has more than {dim} numbers after its word "
                              f"(the {'header' if count is not None else 'first line'} says {dim}); is the dimension the same on every line?")
        if not np.isfinite(parsed[1]).all():
            raise ConfigError(f"{path}: line {lineno} ({parsed[0]!r}) has a value that is not a finite number (nan or inf); fix or drop that vector")
        n += 1
        yield parsed
    if count is not None and n != count:
        raise ConfigError(f"{path}: the header says {count} vectors but the file has {n}; the file is truncated or its header is wrong")


def _number_in_word(word: str) -> bool:
    """'the 0.5': a word whose last space-separated part is a decimal number is a vector with one number too many
    (GloVe words may hold spaces, 'new york', and be numbers, '1984', but not end in ' 0.5')."""
    head, _, last = word.rpartition(" ")
    if not head or not any(c in last for c in ".eE"):
        return False
    try:
        float(last)
    except ValueError:
        return False
    return True


def _iter_binary(path: Path, stream: io.BufferedReader, count: int, dim: int):
    nbytes = 4 * dim
    for i in range(count):
        word = bytearray()
        while True:
            ch = stream.read(1)
            if not ch:
                raise ConfigError(f"{path}: word2vec binary file ends after {i} of {count} vectors")
            if ch == b" ":
                break
            if ch == b"\n" and not word:  # the optional newline after the previous vector
                continue
            word += ch
        data = stream.read(nbytes)
        if len(data) != nbytes:
            raise ConfigError(f"{path}: word2vec binary file ends inside vector {i + 1} of {count}")
        vec = np.frombuffer(data, dtype="<f4").astype(np.float32)
        if not np.isfinite(vec).all():
            raise ConfigError(f"{path}: vector {i + 1} of {count} ({word.decode('utf-8', errors='replace')!r}) has a value that is not "
                              "a finite number (nan or inf); fix or drop that vector")
        yield word.decode("utf-8", errors="replace"), vec


def load_pretrained_vectors(
    path, tokens: list[str], dim_expected: int | None = None, *, seed: int = 0
) -> tuple[np.ndarray, dict]:
    """Matrix (len(tokens), D) float32 for ``tokens`` (index = token id) and a coverage report.

    coverage = {"found": tokens found, "total": len(tokens), "missing_examples": first few missing,
    "format": "word2vec-text" | "word2vec-binary" | "glove", "dim": D}.
    Raises ConfigError, naming the file, when it is missing, of unknown format, truncated, holds a
    NaN or infinite value (naming the line), or its dimension differs from ``dim_expected``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: pretrained vectors file not found")
    wanted = set(tokens) | {t.lower() for t in tokens}
    vectors: dict[str, np.ndarray] = {}
    with path.open("rb") as stream:
        first = stream.readline()
        if not first.strip():
            raise ConfigError(f"{path}: pretrained vectors file is empty")
        header = _parse_header(first)
        data_start = stream.tell()
        second = stream.readline() if header is not None else b""
        fmt, dim = _detect(path, first, second)
        if dim_expected is not None and dim != dim_expected:
            raise ConfigError(
                f"{path}: vectors have dimension {dim} but --embed-dim is {dim_expected}", fixes=(f"set --embed-dim {dim}",)
            )
        if fmt == "glove":
            stream.seek(0)
            entries = _iter_text(path, stream, dim)
        else:
            stream.seek(data_start)
            entries = (_iter_text(path, stream, dim, header[0], first_line=2) if fmt == "word2vec-text"
                       else _iter_binary(path, stream, header[0], dim))
        for word, vec in entries:
            if word in wanted and word not in vectors:  # the first occurrence wins
                vectors[word] = vec

    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, MISSING_STD, size=(len(tokens), dim)).astype(np.float32)
    found, missing = 0, []
    for i, tok in enumerate(tokens):
        vec = vectors.get(tok)
        if vec is None:
            vec = vectors.get(tok.lower())  # fallback: "Paris" -> "paris"
        if vec is not None:
            matrix[i] = vec
            found += 1
        else:
            if i == 0:
                matrix[0] = 0.0  # id 0 is padding: a zero vector adds nothing to what follows
            if len(missing) < _MAX_MISSING_EXAMPLES:
                missing.append(tok)
    coverage = {"found": found, "total": len(tokens), "missing_examples": missing, "format": fmt, "dim": dim}
    return matrix, coverage
