"""seqtool.lm_defaults: which defaults a new language-model run gets, by level, time budget and vocabulary, and the line that says why."""
from __future__ import annotations

import pytest

from seqtool import lm_defaults
from seqtool.models.config import level_defaults


def test_without_a_budget_a_char_run_gets_the_level_defaults_and_says_so():
    p = lm_defaults.pick("char", None, 2e-3)
    d = level_defaults("char")
    assert p.values == {"hidden": d["hidden"], "layers": d["layers"], "embed_dim": d["embed_dim"], "dropout": d["dropout"],
                        "batch_size": d["batch_size"], "bptt": d["bptt"], "lr": 2e-3}
    assert p.why == "char level, no --time-budget" and p.cutoffs is None
    assert "cell" not in p.values  # --cell's own default stands


def test_a_row_may_name_the_cell_and_the_line_says_so_unless_typed(monkeypatch):
    monkeypatch.setattr(lm_defaults, "CHAR_BY_BUDGET", [(None, {"cell": "lnlstm"}, "best at 2 min")])
    assert lm_defaults.pick("char", 120, 2e-3).values["cell"] == "lnlstm"
    assert lm_defaults.pick("char", 120, 2e-3).line().startswith("defaults: hidden 384, layers 2, embed dim 0, dropout 0.1, batch size 32, bptt 128, lr 0.002, cell lnlstm")
    assert "cell" not in lm_defaults.pick("char", 120, 2e-3, typed=frozenset({"cell"})).line()


@pytest.fixture
def two_rows(monkeypatch):
    monkeypatch.setattr(lm_defaults, "CHAR_BY_BUDGET", [(180, {"hidden": 200, "lr": 4e-3}, "best at 2 min"), (None, {"bptt": 99}, "best at 10 min")])


@pytest.mark.parametrize("seconds, hidden, bptt, source", [(60, 200, 128, "best at 2 min"), (180, 200, 128, "best at 2 min"),
                                                           (181, 384, 99, "best at 10 min"), (3600, 384, 99, "best at 10 min")])
def test_a_char_budget_takes_the_first_row_whose_bound_it_is_within(two_rows, seconds, hidden, bptt, source):
    p = lm_defaults.pick("char", seconds, 2e-3)
    assert (p.values["hidden"], p.values["bptt"]) == (hidden, bptt)
    assert p.values["lr"] == (4e-3 if hidden == 200 else 2e-3)
    assert p.why.endswith(source) and p.why.startswith("char level, ")


def test_the_budget_is_named_in_minutes_or_seconds(two_rows):
    assert "char level, 2 min budget" in lm_defaults.pick("char", 120, 2e-3).why
    assert "char level, 30 s budget" in lm_defaults.pick("char", 30, 2e-3).why


def test_word_and_subword_runs_ignore_the_budget(two_rows):
    for level in ("word", "subword"):
        p = lm_defaults.pick(level, 60, 2e-3)
        assert p.values["hidden"] == level_defaults("word")["hidden"] and p.values["lr"] == 2e-3
        assert p.why == f"{level} level"


def test_the_rule_table_ends_with_an_unbounded_row():
    assert lm_defaults.CHAR_BY_BUDGET[-1][0] is None
    bounds = [b for b, *_ in lm_defaults.CHAR_BY_BUDGET[:-1]]
    assert bounds == sorted(bounds)
    for _, values, _ in lm_defaults.CHAR_BY_BUDGET:
        assert set(values) <= set(lm_defaults.MODEL_FIELDS) | set(lm_defaults.TRAIN_FIELDS)


@pytest.mark.parametrize("level, vocab, cutoffs", [("word", 10_000, (2000, 6000)), ("subword", 33_278, (6700, 20_000)),
                                                   ("word", 5000, (1000, 3000)), ("word", 4999, None), ("char", 50_000, None)])
def test_adaptive_cutoffs_at_20_and_60_percent_of_a_large_word_vocabulary(level, vocab, cutoffs):
    assert lm_defaults.adaptive_cutoffs(level, vocab) == cutoffs


def _given(hidden=256, cutoffs=None):
    return {"hidden": hidden, "adaptive_cutoffs": cutoffs}


def test_the_vocabulary_adds_the_adaptive_softmax_unless_a_softmax_or_tying_was_asked_or_the_model_is_too_narrow():
    p = lm_defaults.pick("word", None, 2e-3)
    given, line = p.for_vocabulary(_given(), 10_000)
    assert given["adaptive_cutoffs"] == (2000, 6000)
    assert line.endswith("adaptive softmax 2000,6000 (word level; a vocabulary of 10,000 (>= 5,000) gets the adaptive softmax)")
    tied = lm_defaults.pick("word", None, 2e-3, tie_typed=True)
    for picked, given, vocab in [(tied, _given(), 10_000), (p, _given(hidden=15), 10_000), (p, _given(), 4000),
                                 (p, _given(cutoffs=()), 10_000), (p, _given(cutoffs=(10, 20)), 10_000)]:
        out, line = picked.for_vocabulary(given, vocab)
        assert out == given and "adaptive" not in line  # two clusters need hidden >= 16; () is --adaptive-softmax off


def test_the_line_names_only_the_values_the_user_did_not_type():
    p = lm_defaults.pick("word", None, 2e-3, typed=frozenset({"hidden", "layers", "embed_dim", "batch_size", "bptt"}))
    _, line = p.for_vocabulary(_given(), 10_000)
    assert line == "defaults: dropout 0.4, lr 0.002, adaptive softmax 2000,6000 (word level; a vocabulary of 10,000 (>= 5,000) gets the adaptive softmax)"
    everything = frozenset(lm_defaults.MODEL_FIELDS) | frozenset(lm_defaults.TRAIN_FIELDS)
    assert lm_defaults.pick("char", None, 2e-3, typed=everything).line() is None
