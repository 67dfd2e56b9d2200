"""Corpus reading: line-aligned chunks, the validation split, and every bad input."""
from __future__ import annotations

import pytest

from seqtool.errors import CorpusError
from seqtool.text.corpus import iter_chunks, iter_split_chunks, open_sources


def test_chunks_end_on_line_boundaries_and_rebuild_the_text(write):
    text = "".join(f"line {i} é\n" for i in range(500))
    chunks = list(iter_chunks(open_sources([str(write("a.txt", text))]), chunk_bytes=37))
    assert "".join(chunks) == text
    assert all(c.endswith("\n") for c in chunks)


def test_val_fraction_splits_on_a_line_boundary(write):
    text = "".join(f"{i:04d}\n" for i in range(100))  # 5 bytes a line
    parts = list(iter_split_chunks(open_sources([str(write("a.txt", text))]), 0.1, chunk_bytes=64))
    train = "".join(t for s, t in parts if s == "train")
    val = "".join(t for s, t in parts if s == "val")
    assert train + val == text
    assert val.count("\n") == 10 and val.startswith("0090")


def test_multiple_files_in_order(write):
    a, b = write("a.txt", "one\n"), write("b.txt", "two\n")
    assert "".join(iter_chunks(open_sources([str(a), str(b)]))) == "one\ntwo\n"


def test_missing_directory_empty(tmp_path, write):
    with pytest.raises(CorpusError, match="no such file"):
        open_sources([str(tmp_path / "nope.txt")])
    with pytest.raises(CorpusError, match="is a directory"):
        open_sources([str(tmp_path)])
    with pytest.raises(CorpusError, match="file is empty"):
        open_sources([str(write("e.txt", ""))])


def test_invalid_utf8_names_line_and_offset(write):
    p = write("bad.txt", b"ok\nfine\nab\xffc\n")
    with pytest.raises(CorpusError, match=r"bad.txt: invalid UTF-8 at line 3, byte offset 10"):
        list(iter_chunks(open_sources([str(p)])))
    assert "".join(iter_chunks(open_sources([str(p)]), errors="replace")) == "ok\nfine\nab\ufffdc\n"


def test_invalid_utf8_offset_is_exact_across_chunks(write):
    p = write("bad.txt", b"abcd\n" * 100 + b"\xc3(\n")
    with pytest.raises(CorpusError, match="line 101, byte offset 500"):
        list(iter_chunks(open_sources([str(p)]), chunk_bytes=16))


def test_binary_file_is_refused(write):
    with pytest.raises(CorpusError, match="binary"):
        list(iter_chunks(open_sources([str(write("b.bin", b"abc\x00def"))])))
