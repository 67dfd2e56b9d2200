"""``seqtool train --locked-dropout / --embed-dropout / --weight-drop``: runs that learn, a run that
resumes, generates and evaluates with the options it was trained with, and one-line refusals."""
from __future__ import annotations

import json

import pytest
import torch

from tests.cli.helpers import one_line_error, run

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 80
SMALL = ["--hidden", "24", "--layers", "2", "--embed-dim", "8", "--dropout", "0.2", "--batch-size", "4", "--bptt", "16",
         "--log-every", "20", "--lr", "0.03", "--seed", "0"]
OPTIONS = {"locked": ["--locked-dropout"], "embed": ["--embed-dropout", "0.1"], "weight": ["--weight-drop", "0.3"]}


@pytest.fixture
def corpus(write):
    return write("c.txt", TEXT)


def _losses(run_dir):
    return [json.loads(line)["train_loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("name", OPTIONS)
def test_a_run_with_each_option_learns(tmp_path, corpus, name):
    out = tmp_path / name
    r = run("train", corpus, "--out", out, *SMALL, *OPTIONS[name], "--max-steps", "100", "--eval-every", "100", "--quiet")
    assert r.exit_code == 0, r.output
    losses = _losses(out)
    assert len(losses) == 5 and losses[-1] < losses[0] - 0.8, losses


@pytest.mark.slow
def test_the_options_travel_with_the_run_to_resume_generate_and_eval(tmp_path, corpus):
    out = tmp_path / "run"
    given = ["--locked-dropout", "--embed-dropout", "0.1", "--weight-drop", "0.3"]
    assert run("train", corpus, "--out", out, *SMALL, *given, "--max-steps", "20", "--eval-every", "20", "--quiet").exit_code == 0
    saved = {"locked_dropout": True, "embed_dropout": 0.1, "weight_drop": 0.3}
    model = json.loads((out / "config.json").read_text())["model"]
    assert {k: model[k] for k in saved} == saved
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert {k: ckpt["model_config"][k] for k in saved} == saved
    assert set(ckpt["model_state"]) == {"encoder.weight", "decoder.weight", "decoder.bias",
                                        *(f"rnn.{n}_l{k}" for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") for k in (0, 1))}
    r = run("train", "--resume", out, "--max-steps", "40", "--quiet", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["steps"] == 40
    assert {k: torch.load(out / "last.pt", weights_only=True)["model_config"][k] for k in saved} == saved
    g = run("generate", out, "--length", "5", "--seed", "0")
    assert g.exit_code == 0 and g.stdout.strip(), g.output
    e = run("eval", out, corpus, "--json")
    assert e.exit_code == 0, e.output
    assert json.loads(e.stdout)["total"]["loss"] > 0


@pytest.mark.parametrize("args,message", [
    (["--embed-dropout", "-0.1"], "--embed-dropout must be in [0, 1)"),
    (["--embed-dropout", "nan"], "--embed-dropout must be a finite number"),
    (["--weight-drop", "1"], "--weight-drop must be in [0, 1)"),
    (["--weight-drop", "nan"], "--weight-drop must be a finite number"),
    (["--weight-drop", "0.2", "--cell", "leaky"], "--weight-drop applies to --cell lstm, gru, rnn"),
])
def test_bad_values_are_one_line_errors_naming_the_option(tmp_path, corpus, args, message):
    one_line_error(run("train", corpus, "--out", tmp_path / "run", *args), 2, message)


def test_the_options_are_for_language_models(tmp_path, write):
    data = write("s.tsv", "good film\tpos\nbad film\tneg\n" * 10)
    r = run("train", data, "--task", "classify", "--locked-dropout", "--weight-drop", "0.2", "--out", tmp_path / "run")
    one_line_error(r, 2, "--locked-dropout, --weight-drop applies to --task lm")
