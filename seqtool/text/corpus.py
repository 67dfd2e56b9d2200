"""Reading corpora: validated UTF-8 text streamed in bounded chunks, with a train/validation split.

Every corpus goes through here, so every command rejects the same bad inputs with the same
messages: a missing or unreadable file, a directory, an empty file, a binary file (NUL bytes),
invalid UTF-8 (file, line and byte offset; ``errors="replace"`` goes on with U+FFFD).

Memory is bounded by the chunk size, never by the corpus or its longest line. Chunks end on a line
boundary where the line ends within twice the chunk size; a longer line (a corpus without
newlines, such as text8) is cut where the reader's tokenizer allows (``cut_before``): just before
a whitespace byte for words, anywhere for characters, and never inside a multi-byte character.
The validation split starts at the first line start after its byte offset, or at the next cut
when the line there runs on.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from seqtool.errors import CorpusError, UsageError

CHUNK_BYTES = 4 << 20

NEVER = b""
"""``cut_before`` for tokenizers whose tokens may span a whole line (n-grams): lines stay whole."""
ANYWHERE = None
"""``cut_before`` for tokenizers that can split text anywhere (characters)."""

ProgressFn = Callable[[int], None]
"""Called with the number of bytes just consumed."""


@dataclass(frozen=True)
class Source:
    """One input file (stdin is spooled to a temporary file first, so it can be read twice)."""

    path: Path
    name: str
    size: int
    spooled: bool = False  # a temporary copy of stdin, deleted when the sources are closed


def open_sources(paths: list[str], option: str = "FILE", spool_dir: str | None = None) -> list[Source]:
    """Check that every path names a readable, non-empty regular file; ``-`` reads stdin.

    A ``-`` leaves a temporary copy of stdin behind: use ``sources()`` to have it removed.
    """
    check_paths(paths, option)
    return [_spool_stdin(spool_dir) if p == "-" else Source(Path(p), p, Path(p).stat().st_size) for p in paths]


@contextlib.contextmanager
def sources(paths: list[str] | None, option: str = "FILE", spool_dir: str | None = None) -> Iterator[list[Source] | None]:
    """``open_sources`` for the length of a block (None for no paths); stdin's copy is deleted at its end, error or not."""
    opened = open_sources(paths, option, spool_dir) if paths else None
    try:
        yield opened
    finally:
        for s in opened or []:
            if s.spooled:
                with contextlib.suppress(OSError):
                    os.unlink(s.path)


def check_paths(paths: list[str], option: str = "FILE") -> None:
    """Every path (but ``-``, stdin) names a readable, non-empty regular file; checked without reading it."""
    if not paths:
        raise UsageError(f"{option}: give at least one text file, or - for stdin")
    for p in paths:
        if p == "-":
            continue
        path = Path(p)
        if not path.exists():
            raise CorpusError(f"{p}: no such file; check the path")
        if path.is_dir():
            raise CorpusError(f"{p}: is a directory; give the text files inside it")
        if not path.is_file():
            raise CorpusError(f"{p}: not a regular file (a pipe or a device); save the text to a file, or pipe it in as -")
        if not os.access(path, os.R_OK):
            raise CorpusError(f"{p}: permission denied; make the file readable")
        if path.stat().st_size == 0:
            raise CorpusError(f"{p}: file is empty; give a corpus with some text")


def _spool_stdin(spool_dir: str | None) -> Source:
    fd, name = tempfile.mkstemp(prefix="seqtool-stdin-", suffix=".txt", dir=spool_dir)
    with os.fdopen(fd, "wb") as f:
        shutil.copyfileobj(sys.stdin.buffer, f, CHUNK_BYTES)
    size = os.path.getsize(name)
    if size == 0:
        os.unlink(name)
        raise CorpusError("stdin: no input; pipe some text in or give a file")
    return Source(Path(name), "<stdin>", size, spooled=True)


def read_text(path: str | Path, errors: str = "strict") -> str:
    """The whole text of one (small) file, validated like every corpus."""
    return "".join(iter_chunks(open_sources([str(path)]), errors=errors, cut_before=ANYWHERE))


def iter_chunks(
    sources: list[Source],
    errors: str = "strict",
    chunk_bytes: int | None = None,
    progress: ProgressFn | None = None,
    cut_before: bytes | None = NEVER,
) -> Iterator[str]:
    """Decoded text of ``sources`` in order, in chunks that end on a line boundary or a cut (see the module docstring)."""
    for _, text in iter_split_chunks(sources, None, errors, chunk_bytes, progress, cut_before):
        yield text


def iter_split_chunks(
    sources: list[Source],
    val_fraction: float | None,
    errors: str = "strict",
    chunk_bytes: int | None = None,
    progress: ProgressFn | None = None,
    cut_before: bytes | None = NEVER,
) -> Iterator[tuple[str, str]]:
    """Yield ``(split, text)`` with split "train" or "val".

    With ``val_fraction`` the last fraction of the bytes (across all sources, moved forward to the
    next line start, or to the next cut of a long line) is "val"; without it everything is "train".
    ``cut_before``: the bytes a line longer than twice ``chunk_bytes`` may be cut just before
    (ANYWHERE: at any character boundary; NEVER: lines stay whole, however long).
    """
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    total = sum(s.size for s in sources)
    cut = None if not val_fraction else int(total * (1.0 - val_fraction))
    offset = 0  # bytes before the current chunk, across sources
    for src in sources:
        try:
            f = open(src.path, "rb")
        except OSError as e:
            raise CorpusError(f"{src.name}: cannot read ({e.strerror}); check the file") from e
        with f:
            file_off = 0
            while True:
                data = _read_chunk(f, chunk_bytes, cut_before)
                if not data:
                    break
                if b"\x00" in data:
                    at = file_off + data.index(b"\x00")
                    raise CorpusError(
                        f"{src.name}: looks like a binary file (NUL byte at offset {at}); give a UTF-8 text file"
                    )
                pieces = [("train", data)]
                if cut is not None and offset + len(data) > cut:
                    if offset >= cut:
                        pieces = [("val", data)]
                    else:
                        split_at = _val_start(data, cut - offset, cut_before)
                        pieces = [("train", data[:split_at]), ("val", data[split_at:])]
                for split, part in pieces:
                    if part:
                        yield split, _decode(part, src, errors, file_off)
                        file_off += len(part)
                offset += len(data)
                if progress is not None:
                    progress(len(data))


def _val_start(data: bytes, at: int, cut_before: bytes | None) -> int:
    """Where in ``data`` the validation text starts, given its byte offset ``at``: the next line
    start, or where the line there runs on past the chunk, the next place it may be cut."""
    nl = data.find(b"\n", max(at - 1, 0))  # an offset at a line start stays there
    if nl >= 0:
        return nl + 1
    if cut_before == NEVER:
        return len(data)
    if cut_before == ANYWHERE:
        starts = (i for i in range(at, len(data)) if data[i] & 0xC0 != 0x80)  # not a UTF-8 continuation byte
    else:
        starts = (i for i in (data.find(b, at) for b in cut_before) if i >= 0)
    return min(starts, default=len(data))


def _read_chunk(f, chunk_bytes: int, cut_before: bytes | None) -> bytes:
    """About ``chunk_bytes`` from ``f``, up to the end of the line, or to a cut if the line runs
    on for more than another ``chunk_bytes``."""
    data = f.read(chunk_bytes)
    if not data or data.endswith(b"\n"):
        return data
    if cut_before == NEVER:
        return data + f.readline()
    rest = f.readline(chunk_bytes)
    data += rest
    if len(rest) == chunk_bytes and not rest.endswith(b"\n"):  # a long line, and not its end
        keep = _cut(data, cut_before)
        f.seek(keep - len(data), os.SEEK_CUR)  # the rest is read again with the next chunk
        data = data[:keep]
    return data


def _cut(data: bytes, cut_before: bytes | None) -> int:
    """Where to end a chunk inside a long line: just before the last of the ``cut_before`` bytes,
    else (none of them, or ANYWHERE) before the last byte that starts a character. Never 0."""
    at = max((data.rfind(b) for b in cut_before or b""), default=-1)
    if at > 0:
        return at
    at = len(data) - 1
    while at > 0 and data[at] & 0xC0 == 0x80:  # a UTF-8 continuation byte: not a character start
        at -= 1
    return at if at > 0 else len(data)


def _decode(data: bytes, src: Source, errors: str, file_off: int) -> str:
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        at = file_off + e.start
        raise CorpusError(
            f"{src.name}: invalid UTF-8 at line {_line_of(src.path, at)}, byte offset {at}",
            fixes=("convert the file to UTF-8", "pass --errors replace"),
        ) from None


def _line_of(path: Path, offset: int) -> int:
    """1-based line number of a byte offset (counted only when an error needs it)."""
    line = 1
    with open(path, "rb") as f:
        while offset > 0:
            block = f.read(min(offset, CHUNK_BYTES))
            if not block:
                break
            line += block.count(b"\n")
            offset -= len(block)
    return line
