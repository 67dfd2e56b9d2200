"""seqtool.run_index: a run directory read back into a summary, whatever state it was left in."""
from __future__ import annotations

import json
import math

import pytest

from seqtool.errors import ConfigError, UsageError
from seqtool.fsio import DirLock
from seqtool.run_index import find_runs, select, summarize

MODEL = {"cell": "lstm", "layers": 2, "hidden": 16, "vocab_size": 10, "embed_dim": 8, "tie_weights": False}


def make_run(d, lines, model=None, task=None, level="char"):
    """A run directory with config.json and metrics.jsonl (``lines``: dicts, or raw strings written as they are)."""
    d.mkdir(parents=True)
    config = {"seqtool_version": "0.1.0", "model": {**MODEL, **(model or {})}, "train": {}, "data": {"dir": "data"}, "level": level}
    if task:
        config["task"] = task
    (d / "config.json").write_text(json.dumps(config))
    (d / "metrics.jsonl").write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines))
    (d / "last.pt").write_bytes(b"x")
    return d


def lm_lines(stopped="max steps reached"):
    return [
        {"step": 10, "epoch": 0.5, "train_loss": 3.0, "tokens_per_sec": 100.0, "elapsed": 1.0},
        {"step": 20, "epoch": 1.0, "train_loss": 2.5, "tokens_per_sec": 300.0, "elapsed": 2.0, "val_loss": 2.0},
        {"step": 30, "epoch": 1.5, "train_loss": 2.4, "tokens_per_sec": 200.0, "elapsed": 3.5, "val_loss": 2.2,
         **({"stopped": stopped, "params": 1234} if stopped else {})},
    ]


def test_a_finished_language_model_run(tmp_path):
    s = summarize(make_run(tmp_path / "lstm", lm_lines()))
    assert (s.name, s.status, s.stopped, s.problem) == ("lstm", "finished", "max steps reached", None)
    assert (s.task, s.level, s.cell, s.size, s.params) == ("lm", "char", "lstm", "2x16", 1234)
    assert (s.steps, s.epochs, s.elapsed, s.tokens_per_sec) == (30, 1.5, 3.5, 200.0)
    assert (s.metric, s.best, s.best_step) == ("val_loss", 2.0, 20)  # the lowest validation loss, not the last
    assert s.best_val_ppl == pytest.approx(math.exp(2.0)) and s.best_val_bits == pytest.approx(2.0 / math.log(2))
    assert (s.has_last, s.has_best) == (True, False)


@pytest.mark.parametrize("stopped, status", [
    ("epochs done", "finished"),
    ("early stopping: no validation improvement in 3 evaluations", "finished"),
    ("time budget used", "stopped by budget"),
    ("interrupted", "interrupted"),
    ("diverged", "diverged"),
    (None, "interrupted"),  # no mark: killed (SIGKILL, power loss) before it could say why
])
def test_the_status_comes_from_the_stop_mark_on_the_last_line(tmp_path, stopped, status):
    s = summarize(make_run(tmp_path / "r", lm_lines(stopped)))
    assert (s.status, s.stopped) == (status, stopped)


def test_without_a_mark_the_parameters_are_counted_from_the_config(tmp_path):
    from seqtool.models import ModelConfig

    s = summarize(make_run(tmp_path / "r", lm_lines(None)))
    assert s.params == ModelConfig.from_dict(MODEL).param_count()


def test_a_run_whose_lock_is_held_is_running(tmp_path):
    d = make_run(tmp_path / "r", lm_lines(None))
    with DirLock().acquire(d):
        assert summarize(d).status == "running"
        assert DirLock.holder(d) > 0
    assert summarize(d).status == "interrupted"  # the lock file stays, nobody holds it
    assert DirLock.holder(d) is None


def test_a_truncated_config_is_damaged_not_a_crash(tmp_path):
    d = make_run(tmp_path / "r", lm_lines())
    (d / "config.json").write_text((d / "config.json").read_text()[:40])
    s = summarize(d)
    assert s.status == "damaged" and "config.json is not valid JSON" in s.problem
    assert s.steps is None


@pytest.mark.parametrize("config, problem", [(None, "no config.json"), ("[1, 2]", "config.json has no model section"),
                                             ('{"model": {"cell": "lstm", "layers": 1, "hidden": 8}, "task": "x"}', "config.json's task record is damaged")])
def test_a_missing_or_foreign_config_is_damaged(tmp_path, config, problem):
    d = make_run(tmp_path / "r", lm_lines())
    if config is None:
        (d / "config.json").unlink()
    else:
        (d / "config.json").write_text(config)
    s = summarize(d)
    assert s.status == "damaged" and problem in s.problem


def test_a_torn_metrics_line_is_damaged_and_the_whole_lines_still_read(tmp_path):
    lines = lm_lines(None)
    d = make_run(tmp_path / "r", [*lines[:2], json.dumps(lines[2])[:25]])
    s = summarize(d)
    assert s.status == "damaged" and s.problem == "metrics.jsonl line 3 is cut off or not JSON"
    assert (s.steps, s.best) == (20, 2.0)


def test_a_classifier_is_ranked_by_its_best_accuracy(tmp_path):
    lines = [{"step": 5, "val_loss": 0.9, "val_accuracy": 0.6, "val_macro_f1": 0.5},
             {"step": 10, "val_loss": 0.8, "val_accuracy": 0.8, "val_macro_f1": 0.7},
             {"step": 15, "val_loss": 0.7, "val_accuracy": 0.7, "val_macro_f1": 0.75, "stopped": "epochs done", "params": 99}]
    s = summarize(make_run(tmp_path / "r", lines, task={"kind": "classify", "labels": ["a", "b"]}))
    assert (s.task, s.metric, s.best, s.best_step, s.best_val_macro_f1, s.params) == ("classify", "val_accuracy", 0.8, 10, 0.7, 99)
    assert s.best_val_ppl is None


def test_a_tagger_with_entity_tags_is_ranked_by_f1(tmp_path):
    lines = [{"step": 5, "val_loss": 0.9, "val_f1": 0.4, "val_token_accuracy": 0.9}, {"step": 10, "val_loss": 1.0, "val_f1": 0.5, "val_token_accuracy": 0.8}]
    s = summarize(make_run(tmp_path / "r", lines, task={"kind": "tag", "labels": ["O", "B-X"]}))
    assert (s.metric, s.best, s.best_step) == ("val_f1", 0.5, 10)


def test_find_runs_looks_below_and_skips_hidden_directories(tmp_path):
    make_run(tmp_path / "a", lm_lines())
    make_run(tmp_path / "group" / "b", lm_lines())
    make_run(tmp_path / ".stage-x", lm_lines())
    (tmp_path / "empty").mkdir()
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "metrics.jsonl").write_text("")  # a run whose config was never written: still found
    assert [p.relative_to(tmp_path).as_posix() for p in find_runs([tmp_path])] == ["a", "group/b", "half"]
    assert find_runs([tmp_path / "a"]) == [tmp_path / "a"]
    with pytest.raises(ConfigError, match="nope: no such directory"):
        find_runs([tmp_path / "nope"])


def test_find_runs_lists_a_run_once_when_the_directories_given_overlap(tmp_path):
    make_run(tmp_path / "a", lm_lines())
    make_run(tmp_path / "group" / "b", lm_lines())
    found = find_runs([tmp_path / "group" / "b", tmp_path, tmp_path / "a", tmp_path / "group" / ".." / "a"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["group/b", "a"]


def test_select_filters_and_sorts_with_missing_values_last(tmp_path):
    a = summarize(make_run(tmp_path / "a", lm_lines()))
    b = summarize(make_run(tmp_path / "b", lm_lines(), model={"cell": "rnn"}))
    c = summarize(make_run(tmp_path / "c", lm_lines()[:1], model={"cell": "rnn"}))  # no validation yet
    b.best = 1.5
    assert [r.name for r in select([a, b, c], ["cell=RNN"], None)] == ["b", "c"]
    assert [r.name for r in select([a, b, c], ["cell=lstm", "steps=30"], None)] == ["a"]
    assert [r.name for r in select([a, b, c], [], "best")] == ["b", "a", "c"]
    assert [r.name for r in select([a, b, c], [], "-best")] == ["a", "b", "c"]
    hi, lo = summarize(make_run(tmp_path / "hi", lm_lines())), summarize(make_run(tmp_path / "lo", lm_lines()))
    hi.metric = lo.metric = "val_accuracy"  # task runs: a higher score is better
    hi.best, lo.best = 0.9, 0.6
    assert [r.name for r in select([lo, hi], [], "best")] == ["hi", "lo"]
    assert [r.name for r in select([lo, hi], [], "-best")] == ["lo", "hi"]
    with pytest.raises(UsageError, match="--where 'colour=red'"):
        select([a], ["colour=red"], None)
    with pytest.raises(UsageError, match="--where 'cell'"):
        select([a], ["cell"], None)
    with pytest.raises(UsageError, match="--sort 'speed': not a field"):
        select([a], [], "speed")
