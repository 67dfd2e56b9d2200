"""train picks its defaults by level, --time-budget and vocabulary (seqtool.lm_defaults), says which and why in one
line, and lets every typed option win."""
from __future__ import annotations

import json

import pytest

from seqtool import lm_defaults
from tests.cli.helpers import run

TINY = ("--hidden", 16, "--embed-dim", 16, "--layers", 1, "--batch-size", 2, "--bptt", 4, "--max-steps", 1)


@pytest.fixture(scope="module")
def many_words(tmp_path_factory):
    """A word corpus of 6,000 types (>= lm_defaults.ADAPTIVE_MIN_VOCAB), each seen twice."""
    p = tmp_path_factory.mktemp("words") / "words.txt"
    words = [f"w{i}" for i in range(6000)]
    p.write_text("\n".join(" ".join(words[i:i + 20]) for i in range(0, 6000, 20)) * 2)
    return p


def _config(run_dir):
    return json.loads((run_dir / "config.json").read_text())["model"]


def _defaults_lines(r):
    return [ln for ln in r.output.splitlines() if ln.strip().startswith("defaults:")]


def test_a_large_word_vocabulary_gets_the_adaptive_softmax_and_the_line_says_why(many_words, tmp_path):
    r = run("train", many_words, "--level", "word", *TINY, "--out", tmp_path / "r")
    assert r.exit_code == 0, r.output
    m = _config(tmp_path / "r")
    v = m["vocab_size"]
    assert v >= 6000 and m["adaptive_cutoffs"] == [round(v * 0.2, -2), round(v * 0.6, -2)] and m["tie_weights"] is False
    (line,) = _defaults_lines(r)
    assert f"adaptive softmax {round(v * 0.2, -2):.0f},{round(v * 0.6, -2):.0f}" in line and "gets the adaptive softmax" in line
    assert "hidden" not in line and "bptt" not in line and "dropout 0.4" in line  # typed options are not defaults


@pytest.mark.parametrize("option, cutoffs, tied", [(("--adaptive-softmax", "off"), [], True), (("--tie-weights",), [], True),
                                                   (("--adaptive-softmax", "100,200"), [100, 200], False)])
def test_a_typed_softmax_or_tying_wins_over_the_rule(many_words, tmp_path, option, cutoffs, tied):
    r = run("train", many_words, "--level", "word", *TINY, *option, "--out", tmp_path / "r")
    assert r.exit_code == 0, r.output
    m = _config(tmp_path / "r")
    assert m["adaptive_cutoffs"] == cutoffs and m["tie_weights"] is tied
    assert all("gets the adaptive softmax" not in ln for ln in _defaults_lines(r))


def test_summary_says_the_defaults_in_text_and_json(many_words):
    r = run("train", many_words, "--level", "word", "--summary", "--hidden", 32)
    assert r.exit_code == 0, r.output
    (line,) = _defaults_lines(r)
    assert "adaptive softmax" in line and "embed dim 256" in line
    j = json.loads(run("train", many_words, "--level", "word", "--summary", "--json", "--hidden", 32).stdout)
    assert j["config"]["adaptive_cutoffs"] and j["defaults"].startswith("defaults: ") and "adaptive softmax" in j["defaults"]


def test_a_char_time_budget_takes_its_rule_and_typed_options_still_win(monkeypatch, tmp_path):
    monkeypatch.setattr(lm_defaults, "CHAR_BY_BUDGET", [(60, {"hidden": 24, "bptt": 6, "lr": 5e-3}, "measured for the test"), (None, {}, "level")])
    corpus = tmp_path / "c.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog\n" * 40)
    r = run("train", corpus, "--level", "char", "--time-budget", "2s", "--max-steps", 2, "--layers", 1, "--batch-size", 2,
            "--hidden", 20, "--out", tmp_path / "r")
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["model"]["hidden"] == 20  # typed
    assert cfg["train"]["bptt"] == 6 and cfg["train"]["lr"] == 5e-3  # the rule's
    (line,) = _defaults_lines(r)
    assert "bptt 6" in line and "lr 0.005" in line and "hidden" not in line and "char level, 2 s budget: measured for the test" in line


@pytest.mark.parametrize("typed, cell", [((), "lnlstm"), (("--cell", "gru"), "gru"), (("--cell", "lstm"), "lstm"),
                                         (("--weight-drop", "0.2"), "lstm")])
def test_a_rule_may_pick_the_cell_unless_one_is_typed_or_weight_drop_needs_torchs(monkeypatch, tmp_path, typed, cell):
    # --weight-drop drops the W_hh of torch's cells: with it the rule's cell would be an error the user never caused.
    monkeypatch.setattr(lm_defaults, "CHAR_BY_BUDGET", [(None, {"cell": "lnlstm", "hidden": 12}, "measured for the test")])
    corpus = tmp_path / "c.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog\n" * 40)
    r = run("train", corpus, "--level", "char", "--time-budget", "2s", "--max-steps", 1, "--layers", 1, "--batch-size", 2,
            "--bptt", 4, *typed, "--out", tmp_path / "r")
    assert r.exit_code == 0, r.output
    assert _config(tmp_path / "r")["cell"] == cell and _config(tmp_path / "r")["hidden"] == 12
    (line,) = _defaults_lines(r)
    assert ("cell lnlstm" in line) == (cell == "lnlstm")
