"""``seqtool tokenize`` / ``decode`` through the CLI: outputs, statistics, and every bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from seqtool.text import load_tokenizer

from tests.cli.helpers import run

KERAS_TEXT = "The cat sat on the mat.\nThe dog ate my homework.\n"


def test_word_level_outputs_match_keras(tmp_path, write):
    out = tmp_path / "out"
    r = run("tokenize", write("s.txt", KERAS_TEXT), "--out", out, "--no-eos")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["stats.json", "tokenizer.json", "train.npy"]
    ids = np.load(out / "train.npy")
    assert ids.dtype == np.uint8 and ids.tolist() == [1, 2, 3, 4, 1, 5, 1, 6, 7, 8, 9]  # the smallest dtype that fits
    stats = json.loads((out / "stats.json").read_text())
    assert stats["train"]["lines"] == 2 and stats["train"]["tokens"] == 11 and stats["train"]["types"] == 9
    assert stats["top_tokens"][0] == ["the", 3]
    assert stats["train"]["line_length"]["min"] == 5 and stats["train"]["line_length"]["max"] == 6


def test_val_fraction_vocab_from_training_text_only(tmp_path, write):
    text = "a b c\n" * 9 + "zzz a\n"
    out = tmp_path / "o"
    r = run("tokenize", write("s.txt", text), "--out", out, "--val-fraction", "0.1", "--oov-token", "<unk>", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    tok = load_tokenizer(out)
    assert "zzz" not in tok.vocab.index
    assert report["val"]["oov_rate"] == pytest.approx(0.5)
    val = np.load(out / "val.npy").tolist()
    assert val == [tok.vocab.oov_id, tok.vocab.index["a"], tok.vocab.eos_id]


def test_separate_val_file_and_stdin(tmp_path, write):
    out = tmp_path / "o"
    r = run("tokenize", "-", "--out", out, "--val", write("v.txt", "b a\n"), "--level", "char", input="abc\nab\n")
    assert r.exit_code == 0, r.output
    tok = load_tokenizer(out)
    assert tok.decode(np.load(out / "train.npy")) == "abc\nab\n"
    assert tok.decode(np.load(out / "val.npy")) == "b a\n".replace(" ", "")  # ' ' never seen in training: dropped


def test_decode_command(tmp_path, write):
    out = tmp_path / "o"
    assert run("tokenize", write("s.txt", KERAS_TEXT), "--out", out).exit_code == 0
    r = run("decode", out, "--npy", "train.npy")
    assert r.exit_code == 0, r.output
    assert r.stdout == "the cat sat on the mat\nthe dog ate my homework\n\n"
    r = run("decode", out / "tokenizer.json", "2", "3")
    assert r.stdout.strip() == "the cat"


def test_matrix_padding_and_one_hot_outputs(tmp_path, write):
    out = tmp_path / "o"
    r = run("tokenize", write("s.txt", KERAS_TEXT), "--out", out, "--no-eos", "--matrix", "binary", "--pad-to", "4", "--one-hot")
    assert r.exit_code == 0, r.output
    m = np.load(out / "train_matrix.npy")
    assert m.shape == (2, 10) and m[0].tolist() == [0, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    padded = np.load(out / "train_padded.npy")
    assert padded.tolist() == [[3, 4, 1, 5], [6, 7, 8, 9]]  # 'pre' truncation keeps the ends
    oh = np.load(out / "train_onehot.npy")
    assert oh.shape == (2, 4, 10) and oh[0, 0, 3] == 1 and oh.sum() == 8


def test_one_hot_refused_above_memory_limit_with_estimate(tmp_path, write):
    out = tmp_path / "o"
    r = run("tokenize", write("s.txt", KERAS_TEXT), "--out", out, "--one-hot", "--pad-to", "6", "--max-memory", "50")
    assert r.exit_code == 1
    assert "2 lines x 6 steps x 11 ids" in r.stderr and "--max-memory" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "setup, args, code, message",
    [
        (None, ["missing.txt"], 1, "no such file"),
        ("dir", ["DIR"], 1, "is a directory"),
        (b"", ["F"], 1, "file is empty"),
        (b"ok\n\xff\n", ["F"], 1, "invalid UTF-8 at line 2, byte offset 3"),
        (b"ab\x00c", ["F"], 1, "binary"),
        (b"!!! ...\n", ["F"], 1, "no tokens"),
        (b"a b\n", ["F", "--level", "ngram", "--ngram", "0"], 2, "--ngram 0"),
        (b"a b\n", ["F", "--level", "bogus"], 2, "--level bogus"),
        (b"a b\n", ["F", "--val", "F", "--val-fraction", "0.1"], 2, "cannot be used together"),
        (b"a b\n", ["F", "--val-fraction", "1.5"], 2, "--val-fraction"),
        (b"a b\n", ["F", "--level", "char", "--eos"], 2, "--eos"),
        (b"a b\n", ["F", "--nonsense"], 2, "No such option"),
        (b"abc abd\n" * 10, ["F", "--level", "subword", "--vocab-size", "5000"], 1, "largest that works is"),
    ],
)
def test_bad_input_one_line_error_and_nothing_written(tmp_path, setup, args, code, message):
    f = tmp_path / "f.txt"
    if isinstance(setup, bytes):
        f.write_bytes(setup)
    args = [str(f) if a == "F" else str(tmp_path) if a == "DIR" else str(tmp_path / a) if a == "missing.txt" else a for a in args]
    out = tmp_path / "out"
    r = run("tokenize", *args, "--out", out)
    assert r.exit_code == code, r.output
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_existing_output_dir_refused_then_replaced_with_force(tmp_path, write):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    src = write("s.txt", KERAS_TEXT)
    r = run("tokenize", src, "--out", out)
    assert r.exit_code == 1 and "--force" in r.stderr
    assert (out / "keep.txt").read_text() == "precious"
    r = run("tokenize", src, "--out", out, "--force")
    assert r.exit_code == 0 and (out / "train.npy").exists() and not (out / "keep.txt").exists()


def test_debug_variable_shows_traceback(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "seqtool", "tokenize", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, env={"SEQTOOL_DEBUG": "1", "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 1 and "Traceback" in r.stderr and "CorpusError" in r.stderr


def test_help_and_version_without_torch():
    code = "import sys; from seqtool.cli import main; sys.argv=['seqtool','--help']\ntry: main()\nexcept SystemExit as e: assert e.code == 0\nassert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "tokenize" in r.stdout and "decode" in r.stdout
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.startswith("seqtool ")


@pytest.mark.parametrize("cmd", ["tokenize", "decode"])
def test_every_command_help_ends_with_examples(cmd):
    r = run(cmd, "--help")
    assert r.exit_code == 0
    text = r.stdout[r.stdout.index("Examples"):]
    assert "seqtool " + cmd in text and "seqtool" in r.stdout.strip().splitlines()[-1] + r.stdout.strip().splitlines()[-2]
