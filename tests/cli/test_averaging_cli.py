"""``seqtool train --average-weights / --scheduled-sampling`` from the command line: option checks, every task, eval of such a run."""
from __future__ import annotations

import json

import pytest
import torch

from tests.cli.helpers import one_line_error, run
from tests.cli.test_train_task import SMALL, labelled, tagged  # noqa: F401 (fixtures)

TEXT = "the cat sat on the mat. the dog ate my homework.\n" * 40
LM = ["--level", "char", "--hidden", "16", "--layers", "1", "--batch-size", "4", "--bptt", "16", "--threads", "1", "--quiet", "--val-fraction", "0.1"]


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text(TEXT)
    return p


@pytest.mark.parametrize("extra, message", [
    (["--ema-decay", "0.99"], "--average-start and --ema-decay need --average-weights ema or swa"),
    (["--average-start", "0.2"], "--average-start and --ema-decay need --average-weights ema or swa"),
    (["--average-weights", "swa", "--ema-decay", "0.99"], "--ema-decay applies to --average-weights ema"),
    (["--average-weights", "ema", "--ema-decay", "nan"], "--ema-decay nan: must be between 0 and 1"),
    (["--average-weights", "ema", "--ema-decay", "1.5"], "--ema-decay 1.5: must be between 0 and 1"),
    (["--average-weights", "swa", "--average-start", "-1"], "--average-start -1.0: must be a fraction"),
    (["--average-weights", "mean"], "--average-weights mean: choose one of off, ema, swa"),
    (["--scheduled-sampling", "nan"], "--scheduled-sampling nan: must be a finite number k of at least 1"),
    (["--scheduled-sampling", "-5"], "--scheduled-sampling -5.0: must be a finite number"),
])
def test_bad_values_and_combinations_are_one_line(tmp_path, corpus, extra, message):
    one_line_error(run("train", corpus, *LM, "--max-steps", "2", *extra, "--out", tmp_path / "r"), 2, message)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("task", ["classify", "tag"])
def test_scheduled_sampling_is_for_language_models_only(tmp_path, labelled, tagged, task):
    data = labelled if task == "classify" else tagged
    r = run("train", data, "--task", task, "--scheduled-sampling", "100", "--max-steps", "2", "--out", tmp_path / "r")
    one_line_error(r, 2, f"--scheduled-sampling applies to language models (--task lm), not --task {task}")


@pytest.mark.slow
def test_an_lm_run_with_both_averages_samples_and_its_best_checkpoint_evaluates_free_running(tmp_path, corpus):
    out = tmp_path / "run"
    r = run("train", corpus, *LM, "--max-steps", "12", "--log-every", "4", "--eval-every", "6", "--average-weights", "ema",
            "--average-start", "0.4", "--ema-decay", "0.9", "--scheduled-sampling", "3", "--out", out)
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    probs = [x["sampling_prob"] for x in lines]
    assert probs == sorted(probs) and 0 < probs[0] < probs[-1] < 1  # the schedule grows
    assert [x.get("averaged_steps") for x in lines if "val_loss" in x] == [2, 8]  # steps 5..12 (0.4 x 12 = 4.8)
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["average"] == {"kind": "ema", "count": 8}
    r = run("train", "--resume", out, "--average-weights", "swa")
    one_line_error(r, 2, "--average-weights cannot change")
    r = run("eval", out, corpus, "--free-running", "3", "--positions", "20", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    steps = report["free_running"]["steps"]
    assert [x["step"] for x in steps] == [1, 2, 3] and all(0 <= x["accuracy"] <= 1 for x in steps)


@pytest.mark.parametrize("task", ["classify", "tag"])
def test_classifiers_and_taggers_average_too(tmp_path, labelled, tagged, task):
    data, extra = (labelled, []) if task == "classify" else (tagged, ["--tag-column", "2"])
    out = tmp_path / "run"
    r = run("train", data, "--task", task, *extra, *SMALL, "--max-steps", "10", "--eval-every", "5", "--average-weights", "swa",
            "--average-start", "0.5", "--json", "--out", out)
    assert r.exit_code == 0, r.output
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["average"] == {"kind": "swa", "count": 6}  # steps 5..10
    assert any(not torch.equal(last["model_state"][k], v) for k, v in last["train_weights"].items())
    r = run("eval", out, data, *extra, "--json")
    assert r.exit_code == 0, r.output
