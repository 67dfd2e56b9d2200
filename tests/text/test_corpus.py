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


def test_a_line_longer_than_a_chunk_is_cut_at_a_character_boundary(write):
    text = "ab é✓ " * 400  # no newline at all; two- and three-byte characters
    chunks = list(iter_chunks(open_sources([str(write("a.txt", text))]), chunk_bytes=32, cut_before=None))
    assert "".join(chunks) == text
    assert max(len(c.encode()) for c in chunks) <= 64 and len(chunks) > 20


def test_a_long_line_is_cut_just_before_a_break_byte(write):
    text = "ab cd\tef gh" * 100
    chunks = list(iter_chunks(open_sources([str(write("a.txt", text))]), chunk_bytes=16, cut_before=b" "))
    assert "".join(chunks) == text
    assert all(c.startswith(" ") for c in chunks[1:]) and max(map(len, chunks)) <= 32


def test_a_run_without_break_bytes_is_cut_at_a_character_boundary_all_the_same(write):
    text = "é" * 1000 + " tail"
    chunks = list(iter_chunks(open_sources([str(write("a.txt", text))]), chunk_bytes=16, cut_before=b" "))
    assert "".join(chunks) == text and max(len(c.encode()) for c in chunks) <= 32


def test_lines_are_never_cut_by_default(write):
    text = "ab cd " * 100 + "\nnext\n"
    chunks = list(iter_chunks(open_sources([str(write("a.txt", text))]), chunk_bytes=16))
    assert chunks[0] == text.split("\n")[0] + "\n"


def test_val_fraction_on_one_long_line_starts_at_a_cut(write):
    text = "word " * 400  # 2000 bytes, no newline (text8 is like this)
    parts = list(iter_split_chunks(open_sources([str(write("a.txt", text))]), 0.1, chunk_bytes=64, cut_before=b" "))
    train = "".join(t for s, t in parts if s == "train")
    val = "".join(t for s, t in parts if s == "val")
    assert train + val == text
    assert 0 < len(val) <= 200 and val.startswith(" ")
