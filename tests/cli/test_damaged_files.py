"""Damaged or foreign files: each is one line on stderr that names the file and what is wrong with it
(issue 16's catalogue: ids, tokenizer.json, config.json, checkpoints, pretrained vectors)."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.cli.helpers import one_line_error, run

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 40
TRAIN = ["--hidden", "8", "--layers", "1", "--batch-size", "4", "--bptt", "8", "--quiet"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A tokenize directory, an lstm run and a gru run, made once; tests damage copies."""
    d = tmp_path_factory.mktemp("made")
    (d / "c.txt").write_text(TEXT)
    assert run("tokenize", d / "c.txt", "--level", "char", "--val-fraction", "0.1", "--out", d / "data", "--quiet").exit_code == 0
    for cell in ("lstm", "gru"):
        r = run("train", d / "c.txt", "--cell", cell, *TRAIN, "--max-steps", "2", "--out", d / cell)
        assert r.exit_code == 0, r.output
    return d


@pytest.fixture
def copy(made, tmp_path):
    def _copy(name):
        shutil.copytree(made / name, tmp_path / name)
        return tmp_path / name
    return _copy


def _edit_json(path, change):
    d = json.loads(path.read_text())
    change(d)
    path.write_text(json.dumps(d))


# token ids

def test_truncated_ids_name_the_file(copy, tmp_path):
    data = copy("data")
    (data / "train.npy").write_bytes((data / "train.npy").read_bytes()[:100])
    r = run("train", data, *TRAIN, "--max-steps", "1", "--out", tmp_path / "o")
    one_line_error(r, 1, f"{data / 'train.npy'}: cannot read token ids")


def test_garbage_ids_are_not_a_numpy_hint_to_load_unsafely(copy, tmp_path):
    data = copy("data")
    (data / "train.npy").write_bytes(b"garbage\n")
    r = run("train", data, *TRAIN, "--max-steps", "1", "--out", tmp_path / "o")
    one_line_error(r, 1, f"{data / 'train.npy'}: not a .npy file of token ids")
    assert "pickle" not in r.stderr and "unsafe" not in r.stderr


# tokenizer.json edited by hand

@pytest.mark.parametrize("change, says", [
    (lambda d: d["vocab"]["tokens"].__setitem__(3, d["vocab"]["tokens"][2]), "vocabulary has duplicate tokens"),
    (lambda d: d["vocab"]["counts"].pop(), "vocabulary tokens and counts differ in length"),
    (lambda d: d["vocab"]["specials"].__setitem__("oov", 999), "special token id 999 (oov) is outside the vocabulary"),
    (lambda d: d.__setitem__("version", 99), "tokenizer format version 99 is not supported"),
])
def test_a_hand_edited_tokenizer_names_the_file(copy, change, says):
    data = copy("data")
    _edit_json(data / "tokenizer.json", change)
    one_line_error(run("decode", data, "1", "2"), 1, f"{data / 'tokenizer.json'}: {says}")


def test_a_tokenizer_that_is_not_json_names_the_file(copy):
    data = copy("data")
    (data / "tokenizer.json").write_text('{"format": ')
    one_line_error(run("decode", data, "1"), 1, f"{data / 'tokenizer.json'}: tokenizer file is corrupt")


def test_ids_beyond_the_vocabulary_name_the_directory(copy, tmp_path):
    data = copy("data")
    _edit_json(data / "tokenizer.json", lambda d: d["vocab"].update(tokens=d["vocab"]["tokens"][:5], counts=d["vocab"]["counts"][:5]))
    r = run("train", data, *TRAIN, "--max-steps", "1", "--out", tmp_path / "o")
    one_line_error(r, 1, f"{data}: train.npy has ids beyond its tokenizer's vocabulary")


# config.json

def test_resume_without_config_json(copy):
    lstm = copy("lstm")
    (lstm / "config.json").unlink()
    one_line_error(run("train", "--resume", lstm, "--max-steps", "4"), 1, "not a seqtool run directory (no config.json)")


def test_resume_with_a_config_that_is_not_json(copy):
    lstm = copy("lstm")
    (lstm / "config.json").write_text("{bad")
    one_line_error(run("train", "--resume", lstm, "--max-steps", "4"), 1, f"{lstm / 'config.json'}: not valid JSON")


def test_resume_refuses_a_run_made_by_a_newer_seqtool(copy):
    lstm = copy("lstm")
    _edit_json(lstm / "config.json", lambda d: d.update(seqtool_version="99.0.0", new_setting=1))
    r = run("train", "--resume", lstm, "--max-steps", "4")
    one_line_error(r, 1, f"{lstm / 'config.json'}: made by seqtool 99.0.0, newer than this one (")
    assert "upgrade seqtool to resume it" in r.stderr


# checkpoints

def test_resume_refuses_a_checkpoint_of_another_cell(copy):
    lstm, gru = copy("lstm"), copy("gru")
    shutil.copy(gru / "last.pt", lstm / "last.pt")
    r = run("train", "--resume", lstm, "--max-steps", "4")
    one_line_error(r, 1, f"{lstm / 'last.pt'}: a gru checkpoint, but {lstm / 'config.json'} says lstm")


def test_a_checkpoint_from_a_future_format_version(copy):
    import torch

    lstm = copy("lstm")
    ckpt = torch.load(lstm / "last.pt", weights_only=True)
    torch.save({**ckpt, "version": 99}, lstm / "last.pt")
    one_line_error(run("generate", lstm / "last.pt", "--length", "3"), 1, f"{lstm / 'last.pt'}: checkpoint format version 99 is not supported")
    one_line_error(run("train", "--resume", lstm, "--max-steps", "4"), 1, "checkpoint format version 99 is not supported")


# pretrained vectors

@pytest.mark.parametrize("content, says", [
    ("3 4\nthe 0.1 0.2 0.3 0.4 0.5\nquick 0.1 0.2 0.3 0.4 0.5\nbrown 0.1 0.2 0.3 0.4 0.5\n", "line 2 has more than 4 numbers after its word"),
    ("3 4\nthe 0.1 0.2 0.3 0.4\nquick 0.1 0.2 0.3 0.4\n", "the header says 3 vectors but the file has 2"),
    ("the 0.1 0.2 0.3 0.4\nquick 0.1 0.2\n", "line 2 is not 'word' followed by 4 numbers"),
    ("the 0.1 0.2 0.3 0.4\nquick 0.1 0.2 0.3 0.4 0.5\n", "line 2 has more than 4 numbers after its word"),
])
def test_ragged_or_misdeclared_vectors_name_the_file_and_line(made, tmp_path, content, says):
    vectors = tmp_path / "v.txt"
    vectors.write_text(content)
    r = run("train", made / "c.txt", "--level", "word", "--embed-dim", "4", "--pretrained-embeddings", vectors, *TRAIN[:2],
            "--batch-size", "2", "--bptt", "4", "--max-steps", "1", "--out", tmp_path / "o")
    one_line_error(r, 1, f"{vectors}: {says}")
