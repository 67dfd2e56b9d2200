"""``seqtool train`` through the CLI: a run end to end, --summary, resume, Ctrl-C, bad input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from seqtool.models import ModelConfig, build_model

from tests.cli.helpers import one_line_error, run

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 80
SMALL = ["--hidden", "24", "--layers", "1", "--batch-size", "4", "--bptt", "16", "--log-every", "5"]


@pytest.fixture
def corpus(write):
    return write("c.txt", TEXT)


def test_train_from_text_writes_a_complete_run_directory(tmp_path, corpus):
    out = tmp_path / "run"
    r = run("train", corpus, "--out", out, *SMALL, "--max-steps", "20", "--eval-every", "10", "--json", "--quiet")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["steps"] == 20 and summary["stopped"] == "max steps reached"
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "tokenizer.json", "metrics.jsonl", "best.pt", "last.pt", "data"} <= names
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["hidden"] == 24 and config["train"]["bptt"] == 16 and config["level"] == "char"
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["step"] == 20 and ck["tokenizer"]["level"] == "char"


def test_resume_raises_the_budget_and_continues(tmp_path, corpus):
    out = tmp_path / "run"
    assert run("train", corpus, "--out", out, *SMALL, "--max-steps", "10", "--eval-every", "10", "--quiet").exit_code == 0
    r = run("train", "--resume", out, "--max-steps", "20", "--quiet", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["steps"] == 20
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20]
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["max_steps"] == 20  # config.json says what the run trains to now, as the checkpoint does
    assert not list(out.glob(".config.json*"))


def test_summary_counts_match_the_model(tmp_path, corpus):
    r = run("train", corpus, "--summary", "--json", "--cell", "gru", "--hidden", "32", "--layers", "2", "--embed-dim", "16")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    model = build_model(ModelConfig(**s["config"]))
    assert s["total_params"] == sum(p.numel() for p in model.parameters())
    assert s["total_params"] == sum(layer["params"] for layer in s["layers"])
    assert [layer["layer"] for layer in s["layers"]] == ["embedding", "gru[0]", "gru[1]", "decoder"]


@pytest.mark.parametrize("args, code, message", [
    (["--cell", "transformer"], 2, "--cell"),
    (["--tie-weights", "--embed-dim", "8"], 2, "--tie-weights"),
    (["--batch-size", "64", "--bptt", "200"], 1, "needs at least 12,864"),
    (["--optimizer", "rmsprop"], 2, "--optimizer"),
    (["--time-budget", "soon"], 2, "--time-budget"),
    (["--level", "ngram"], 2, "--level ngram"),
    (["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "tpu"], 1 if not torch.cuda.is_available() else 2, "--device"),
])
def test_bad_options_one_line_errors(tmp_path, corpus, args, code, message):
    out = tmp_path / "run"
    r = run("train", corpus, "--out", out, "--max-steps", "2", *args)
    one_line_error(r, code, message)


def test_resume_errors(tmp_path, corpus):
    r = run("train", "--resume", tmp_path / "nowhere")
    assert r.exit_code == 1 and "not a seqtool run directory" in r.stderr
    out = tmp_path / "run"
    assert run("train", corpus, "--out", out, *SMALL, "--max-steps", "5", "--eval-every", "5", "--quiet").exit_code == 0
    (out / "last.pt").write_bytes(b"garbage" * 100)
    r = run("train", "--resume", out)
    assert r.exit_code == 1 and "not a readable seqtool checkpoint" in r.stderr
    # Re-tokenize the data differently behind the run's back: a tokenizer mismatch.
    out2 = tmp_path / "run2"
    assert run("train", corpus, "--out", out2, *SMALL, "--max-steps", "5", "--eval-every", "5", "--quiet").exit_code == 0
    other = tmp_path / "other.txt"
    other.write_text("completely different alphabet XYZ 123\n" * 50)
    assert run("tokenize", other, "--level", "char", "--out", out2 / "data", "--force", "--val-fraction", "0.1").exit_code == 0
    r = run("train", "--resume", out2)
    assert r.exit_code == 1 and "does not match" in r.stderr


def test_output_dir_refused_and_unwritable(tmp_path, corpus):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious").write_text("x")
    r = run("train", corpus, "--out", out, "--max-steps", "2")
    assert r.exit_code == 1 and "--force" in r.stderr and (out / "precious").exists()
    r = run("train", corpus, "--out", corpus / "sub", "--max-steps", "2")  # a path under a file
    assert r.exit_code == 1 and "--out" in r.stderr


@pytest.mark.slow
def test_ctrl_c_saves_last_and_exits_130_with_the_resume_command(tmp_path, corpus):
    out = tmp_path / "run"
    p = subprocess.Popen(
        [sys.executable, "-m", "seqtool", "train", str(corpus), "--out", str(out), *SMALL, "--max-steps", "100000", "--eval-every", "100000", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.time() + 60
    while not (out / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert f"seqtool train --resume {out}" in err
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["step"] >= 5


def test_pretrained_glove_vectors_reported_and_frozen(tmp_path, write):
    words = write("w.txt", "the cat sat on the mat\nthe dog ate my homework\n" * 40)
    glove = write("g.txt", "the 0.1 0.2 0.3 0.4\ncat 0.5 0.6 0.7 0.8\nzebra 1 1 1 1\n")
    out = tmp_path / "run"
    r = run("train", words, "--level", "word", "--out", out, "--embed-dim", "4", "--hidden", "8", "--layers", "1", "--no-tie-weights",
            "--pretrained-embeddings", glove, "--freeze-embeddings", "--batch-size", "4", "--bptt", "8", "--max-steps", "5", "--eval-every", "5")
    assert r.exit_code == 0, r.output
    assert "glove" in r.stderr and "2 of" in r.stderr
    ck = torch.load(out / "last.pt", weights_only=True)
    tokens = ck["tokenizer"]["vocab"]["tokens"]
    emb = ck["model_state"]["encoder.weight"]
    torch.testing.assert_close(emb[tokens.index("cat")], torch.tensor([0.5, 0.6, 0.7, 0.8]))
    r = run("train", words, "--level", "word", "--out", tmp_path / "r2", "--embed-dim", "8", "--pretrained-embeddings", glove, "--max-steps", "2")
    assert r.exit_code == 1 and "dimension 4" in r.stderr


def test_adaptive_softmax_from_the_command_line(tmp_path):
    from seqtool.checkpoint import load_checkpoint

    lines = [" ".join(f"w{(i * 7 + j) % 37}" for j in range(30)) for i in range(300)]
    (tmp_path / "w.txt").write_text("\n".join(lines) + "\n")
    r = run("train", tmp_path / "w.txt", "--level", "word", "--adaptive-softmax", "8,20", "--hidden", "16",
            "--embed-dim", "16", "--layers", "1", "--batch-size", "4", "--bptt", "10", "--max-steps", "30", "--out", tmp_path / "run", "--quiet")
    assert r.exit_code == 0, r.output
    cfg = load_checkpoint(tmp_path / "run")["model_config"]
    assert cfg["adaptive_cutoffs"] in ([8, 20], (8, 20)) and cfg["tie_weights"] is False  # the word-level tying default yields
    g = run("generate", tmp_path / "run", "--length", "5", "--seed", "0")
    assert g.exit_code == 0, g.output
    bad = run("train", tmp_path / "w.txt", "--level", "word", "--adaptive-softmax", "8,x", "--out", tmp_path / "r2")
    assert bad.exit_code == 2 and "--adaptive-softmax '8,x'" in bad.stderr
    too_big = run("train", tmp_path / "w.txt", "--level", "word", "--adaptive-softmax", "8,500", "--hidden", "16",
                  "--embed-dim", "16", "--out", tmp_path / "r3")
    assert too_big.exit_code == 1 and "cutoffs must increase and lie between 1 and the vocabulary size" in too_big.stderr


# --force replaces a run only once the new one is ready; it never deletes inputs, the current
# directory, or a good run on a failed start (issue: train --force deleted --out before checking).

def _snapshot(d):
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture
def good_run(tmp_path, corpus):
    out = tmp_path / "good"
    assert run("train", corpus, "--out", out, *SMALL, "--max-steps", "5", "--eval-every", "5", "--quiet").exit_code == 0
    return out


def test_force_with_the_current_directory_as_out_deletes_nothing(tmp_path, corpus, monkeypatch):
    (tmp_path / "notes.txt").write_text("unrelated")
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    r = run("train", corpus.name, "--out", ".", "--force", *SMALL, "--max-steps", "2")
    assert r.exit_code == 1 and "current directory" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["missing input", "bad option", "data too small", "pretrained missing"])
def test_force_keeps_the_old_run_when_the_new_one_fails(tmp_path, corpus, good_run, case):
    before = _snapshot(good_run)
    args = {
        "missing input": [tmp_path / "typo.txt"],
        "bad option": [corpus, "--optimizer", "rmsprop"],
        "data too small": [corpus, "--batch-size", "64", "--bptt", "200"],  # found only after tokenizing
        "pretrained missing": [corpus, "--level", "word", "--embed-dim", "4", "--pretrained-embeddings", tmp_path / "nope.vec"],
    }[case]
    r = run("train", *args, "--out", good_run, "--force", "--max-steps", "2")
    assert r.exit_code == (2 if case == "bad option" else 1) and len(r.stderr.strip().splitlines()) == 1, r.output
    assert _snapshot(good_run) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["c.txt", "good"])  # no staging debris beside it


def test_force_refuses_an_out_that_holds_its_own_input(tmp_path, good_run):
    before = _snapshot(good_run)
    r = run("train", good_run / "data", "--out", good_run, "--force", "--max-steps", "2")
    assert r.exit_code == 1 and "contains the input" in r.stderr, r.output
    assert _snapshot(good_run) == before


def test_force_replaces_the_old_run_with_a_complete_new_one(tmp_path, corpus, good_run):
    (good_run / "stale.txt").write_text("from the old run")
    r = run("train", corpus, "--out", good_run, "--force", *SMALL, "--max-steps", "3", "--eval-every", "3", "--quiet")
    assert r.exit_code == 0, r.output
    assert not (good_run / "stale.txt").exists()
    assert torch.load(good_run / "last.pt", weights_only=True)["step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["c.txt", "good"])


def test_a_moved_run_directory_resumes(tmp_path, good_run):
    assert json.loads((good_run / "config.json").read_text())["data"]["dir"] == "data"  # recorded relative to the run
    moved = tmp_path / "moved"
    good_run.rename(moved)
    r = run("train", "--resume", moved, "--max-steps", "8", "--quiet", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["steps"] == 8
