"""``seqtool make-corpus`` and ``seqtool eval --long-range`` through the CLI: the file, its summary,
refusing to overwrite, one-line errors that leave no file, and probe accuracy in the eval report."""
from __future__ import annotations

import json

import pytest
import torch

from seqtool.checkpoint import save_checkpoint
from seqtool.models import ModelConfig, build_model
from seqtool.text import TokenizerOptions, make_tokenizer
from seqtool.text import longrange as lr

from tests.cli.helpers import one_line_error, run


def test_writes_the_corpus_and_says_what_to_run_next(tmp_path):
    out = tmp_path / "sub" / "france.txt"
    r = run("make-corpus", "france", "--gap", "12", "--lines", "40", "--seed", "3", "--out", out)
    assert r.exit_code == 0, r.output
    assert out.read_text() == "".join(ex.text + "\n" for ex in lr.generate("france", 12, 40, seed=3))
    assert "40" in r.stdout and "16" in r.stdout and "1/12" in r.stdout  # lines, cue -> answer distance, chance
    assert "seqtool train" in r.stderr and "--long-range france" in r.stderr
    assert list(tmp_path.rglob(".*")) == []  # no temporary file left beside it


def test_json_summary_and_quiet(tmp_path):
    r = run("make-corpus", "copy", "--gap", "0", "--lines", "5", "--out", tmp_path / "c.txt", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["lines"] == 5 and doc["tokens"] == 5 * 8 and doc["distance"] == 4 and doc["answers"] == 8
    assert doc["chance"] == pytest.approx(1 / 8) and doc["gap"] == 0 and len(doc["next"]) == 3
    r = run("make-corpus", "agreement", "--gap", "2", "--lines", "5", "--out", tmp_path / "a.txt", "--quiet")
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == ""
    assert all(lr.find_probes("agreement", line) for line in (tmp_path / "a.txt").read_text().splitlines())


def test_refuses_an_existing_file_without_force(tmp_path):
    out = tmp_path / "f.txt"
    out.write_text("keep me\n")
    one_line_error(run("make-corpus", "france", "--lines", "3", "--out", out), 1, "file exists")
    assert out.read_text() == "keep me\n"
    r = run("make-corpus", "france", "--lines", "3", "--gap", "1", "--out", out, "--force")
    assert r.exit_code == 0, r.output
    assert len(out.read_text().splitlines()) == 3
    one_line_error(run("make-corpus", "france", "--lines", "3", "--out", tmp_path), 1, "is a directory")


@pytest.mark.parametrize("args, message", [
    (["spain"], "unknown long-range task 'spain'"),
    (["france", "--gap", "-1"], "--gap -1"),
    (["copy", "--lines", "0"], "--lines 0"),
])
def test_bad_task_gap_or_lines_is_a_one_line_error_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "x.txt"
    one_line_error(run("make-corpus", *args, "--out", out), 2, message)
    assert list(tmp_path.iterdir()) == []


def test_help_ends_with_examples():
    r = run("make-corpus", "--help")
    assert r.exit_code == 0
    tail = r.stdout.rstrip().splitlines()
    assert any("seqtool make-corpus" in line for line in tail[-4:]), r.stdout
    assert "seqtool eval" in r.stdout[r.stdout.index("Examples"):]


# ------------------------------------------------------------------------------ eval --long-range


@pytest.fixture(scope="module")
def france(tmp_path_factory):
    """A france corpus and an untrained word-level RNN checkpoint whose tokenizer was fitted on it."""
    d = tmp_path_factory.mktemp("lr")
    text = "".join(ex.text + "\n" for ex in lr.generate("france", 5, 300, seed=0))
    (d / "test.txt").write_text(text)
    tok = make_tokenizer(TokenizerOptions(level="word")).fit([text])
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=len(tok.vocab), cell="rnn", hidden=8, layers=1, embed_dim=4)
    save_checkpoint(d / "w.pt", {"model_config": cfg.to_dict(), "tokenizer": tok.to_dict(), "model_state": build_model(cfg).state_dict()})
    char = make_tokenizer(TokenizerOptions(level="char")).fit([text])
    cfg = ModelConfig(vocab_size=len(char.vocab), cell="rnn", hidden=8, layers=1)
    save_checkpoint(d / "c.pt", {"model_config": cfg.to_dict(), "tokenizer": char.to_dict(), "model_state": build_model(cfg).state_dict()})
    return d


def test_eval_reports_probe_accuracy_and_chance(france):
    r = run("eval", france / "w.pt", france / "test.txt", "--long-range", "france", "--json", "--device", "cpu")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    (p,) = doc["long_range"]
    assert p["file"].endswith("test.txt") and p["task"] == "france" and p["probes"] == 300
    assert p["chance"] == pytest.approx(1 / 12) and p["mean_distance"] == 9
    assert 0 <= p["accuracy"] <= p["accuracy_among_choices"] <= 1
    assert doc["total"]["tokens"] > 0  # the loss report is still there
    r = run("eval", france / "w.pt", france / "test.txt", "--long-range", "france", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "long-range probes (france)" in r.stdout and "8.3%" in r.stdout


def test_eval_long_range_refusals_are_one_line(france):
    one_line_error(run("eval", france / "c.pt", france / "test.txt", "--long-range", "france", "--device", "cpu"), 1,
                   "--long-range needs a word-level model")
    one_line_error(run("eval", france / "w.pt", france / "test.txt", "--long-range", "paris", "--device", "cpu"), 2,
                   "unknown long-range task 'paris'")
