"""The tokenize job: worker processes and many small chunks give exactly the single-process output."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from seqtool.text import corpus, parallel
from seqtool.text.pipeline import TokenizeJob, run_tokenize
from seqtool.text.options import TokenizerOptions

TEXT = "".join(f"Line {i}: the {'cat' if i % 3 else 'dög'} sat, on mat {i % 7}!\n" for i in range(400)) + "tail without newline ✓"


def outputs(out):
    return (
        (out / "tokenizer.json").read_text(),
        np.load(out / "train.npy").tolist(),
        np.load(out / "val.npy").tolist(),
        {k: v for k, v in json.loads((out / "stats.json").read_text()).items() if k != "inputs"},
    )


@pytest.mark.slow
@pytest.mark.parametrize("level", ["char", "word", "ngram"])
@pytest.mark.parametrize("num_words", [20, None])
def test_parallel_small_chunks_equal_single_process(tmp_path, write, monkeypatch, level, num_words):
    """Uncapped, the vocabulary order of hundreds of count-1 tokens is first-occurrence order across workers."""
    src = str(write("c.txt", TEXT))
    opts = TokenizerOptions(level=level, oov_token="<unk>", num_words=num_words)
    run_tokenize(TokenizeJob([src], tmp_path / "serial", opts, val_fraction=0.2))
    monkeypatch.setattr(corpus, "CHUNK_BYTES", 97)  # many chunks, boundaries everywhere
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)  # worker processes even for a small file
    run_tokenize(TokenizeJob([src], tmp_path / "parallel", opts, val_fraction=0.2))
    assert outputs(tmp_path / "serial") == outputs(tmp_path / "parallel")


def test_line_length_statistics(tmp_path, write):
    src = str(write("c.txt", "a b c\n\nd\ne f\n"))
    report = run_tokenize(TokenizeJob([src], tmp_path / "o", TokenizerOptions(level="word")))
    ll = report["train"]["line_length"]
    assert report["train"]["lines"] == 4
    assert (ll["min"], ll["p50"], ll["max"], ll["mean"]) == (0, 1, 3, 1.5)
    assert report["train"]["tokens"] == 6 + 4  # words + one <eos> per line


def test_ids_dtype_is_the_smallest_that_fits():
    from seqtool.text.kernels import ids_dtype

    assert [ids_dtype(n) for n in (2, 256, 257, 65536, 65537)] == [np.uint8, np.uint8, np.uint16, np.uint16, np.uint32]


KILLED_PARENT = """
import os, signal, sys, threading, time
from seqtool.text.parallel import chunk_mapper

with chunk_mapper(1 << 40, workers=2) as pmap:
    results = pmap(time.sleep, ((i, (30,)) for i in range(4)))
    threading.Thread(target=lambda: list(results), daemon=True).start()  # submits the work
    deadline = time.time() + 60
    kids = []
    while len(kids) < 2 and time.time() < deadline:  # the workers, once spawned
        kids = [int(p) for p in os.listdir("/proc") if p.isdigit() and
                open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == str(os.getpid())]
        time.sleep(0.1)
    print(" ".join(map(str, kids)), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_worker_processes_die_with_a_killed_parent():
    import subprocess
    import time

    p = subprocess.run([sys.executable, "-c", KILLED_PARENT], capture_output=True, text=True, timeout=120)
    assert p.returncode == -9, p.stderr
    kids = [int(x) for x in p.stdout.split()]
    assert len(kids) >= 2, p.stdout  # the pool's workers (and its resource tracker)
    deadline = time.time() + 20
    while time.time() < deadline and any(os.path.exists(f"/proc/{k}") for k in kids):
        time.sleep(0.2)
    alive = [k for k in kids if os.path.exists(f"/proc/{k}") and "Z" not in open(f"/proc/{k}/stat").read().rsplit(")", 1)[1].split()[0]]
    assert alive == []


ONE_LINE = "".join(f"the {'cat' if i % 3 else 'dög'} sat, on mat {i % 7}! ✓ Σίσυφος " for i in range(300))  # no newline


@pytest.mark.parametrize("opts", [
    dict(level="char"),
    dict(level="word", oov_token="<unk>", num_words=8),
    dict(level="subword", vocab_size=60, cap_vocab_size=True, model_type="bpe"),
    dict(level="subword", vocab_size=60, cap_vocab_size=True, model_type="unigram"),
])
def test_a_line_without_newlines_is_read_in_bounded_chunks_with_the_ids_of_the_whole(tmp_path, write, monkeypatch, opts):
    from seqtool.text import make_tokenizer

    src = str(write("c.txt", ONE_LINE))
    options = TokenizerOptions(**opts)
    run_tokenize(TokenizeJob([src], tmp_path / "whole", options))
    texts = []
    encode_raw = type(make_tokenizer(options)).encode_raw
    monkeypatch.setattr(type(make_tokenizer(options)), "encode_raw", lambda self, t: texts.append(t) or encode_raw(self, t))
    monkeypatch.setattr(corpus, "CHUNK_BYTES", 64)
    run_tokenize(TokenizeJob([src], tmp_path / "cut", options))
    whole, cut = (np.load(tmp_path / d / "train.npy").tolist() for d in ("whole", "cut"))
    assert cut == whole
    stats = [json.loads((tmp_path / d / "stats.json").read_text())["train"] for d in ("whole", "cut")]
    assert stats[1] == stats[0] and stats[0]["lines"] == 1
    if options.level != "word":  # (word level encodes in the one-pass reader, not through encode_raw)
        assert len(texts) > 50 and max(len(t.encode()) for t in texts) <= 128


@pytest.mark.slow
@pytest.mark.parametrize("level", ["char", "word"])
def test_one_long_line_in_worker_processes_equals_single_process(tmp_path, write, monkeypatch, level):
    src = str(write("c.txt", ONE_LINE))
    opts = TokenizerOptions(level=level, oov_token="<unk>")
    run_tokenize(TokenizeJob([src], tmp_path / "serial", opts, val_fraction=0.2))
    monkeypatch.setattr(corpus, "CHUNK_BYTES", 97)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setenv("SEQTOOL_WORKERS", "2")
    run_tokenize(TokenizeJob([src], tmp_path / "parallel", opts, val_fraction=0.2))
    serial, par = outputs(tmp_path / "serial"), outputs(tmp_path / "parallel")
    assert par == serial and len(serial[2]) > 0


def test_documents_stay_whole_when_a_line_is_read_in_pieces(tmp_path, write, monkeypatch):
    src = str(write("c.txt", "\n".join(ONE_LINE[: 40 * k] for k in range(1, 6)) + "\n"))
    job = lambda out: TokenizeJob([src], out, TokenizerOptions(level="char"), pad_to=250)  # noqa: E731
    run_tokenize(job(tmp_path / "whole"))
    monkeypatch.setattr(corpus, "CHUNK_BYTES", 16)
    run_tokenize(job(tmp_path / "cut"))
    whole, cut = (np.load(tmp_path / d / "train_padded.npy") for d in ("whole", "cut"))
    assert cut.shape == whole.shape == (5, 250)
    np.testing.assert_array_equal(cut, whole)


def test_line_length_statistics_cost_nothing_for_a_line_of_any_length():
    from seqtool.text.pipeline import SplitStats

    s = SplitStats()
    s._count(np.array([3, 3, 5, 10**11, 0]))  # a dense histogram of this would take 800 GB
    assert s.lines == 5
    assert s.length_summary() == {"min": 0, "mean": round((11 + 10**11) / 5, 2), "p50": 3, "p90": 10**11, "p99": 10**11, "max": 10**11}
