"""``seqtool grad-report`` through the CLI: fresh models, --compare, checkpoints with --init, the
JSON file, the chart, --plot, and one-line errors."""
from __future__ import annotations

import json
import math
import sys

import pytest

from seqtool.models import CELLS

from tests.cli.helpers import one_line_error, run

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 40
TINY = ["--hidden", "8", "--layers", "1", "--timesteps", "20", "--windows", "2", "--batch-size", "4", "--bptt", "10"]


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text(TEXT)
    return p


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("gr")
    (d / "c.txt").write_text(TEXT)
    r = run("train", d / "c.txt", "--out", d / "run", "--cell", "lstm", "--hidden", "8", "--layers", "1", "--batch-size", "4",
            "--bptt", "16", "--max-steps", "20", "--eval-every", "20", "--quiet")
    assert r.exit_code == 0, r.output
    return d / "run"


def test_compare_every_cell_writes_every_number(corpus, tmp_path):
    out = tmp_path / "r.json"
    r = run("grad-report", "--compare", ",".join(CELLS), "--data", corpus, *TINY, "--json-out", out)
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    assert [m["cell"] for m in report["models"]] == list(CELLS)
    for m in report["models"]:
        assert m["source"] == "init" and m["clip_suggestion"] > 0 and math.isfinite(m["clip_suggestion"])
        for layer in m["layers"]:
            for key in ("grad_norm_by_lag", "input_grad_norm_by_lag"):
                assert len(layer[key]) == 20 and all(math.isfinite(v) and v >= 0 for v in layer[key])
            assert "horizon" in layer and math.isfinite(layer["decay_per_step"])
            if m["cell"] in ("jordan", "tdnn"):
                assert layer["spectral_radius"] is None
            else:
                assert layer["spectral_radius"] > 0 and len(layer["singular_values"]) == 8
    # the terminal output: the table, the chart's legend, the explanation
    for cell in CELLS:
        assert f"{cell} (init)" in r.stdout
    assert "lag T - t" in r.stdout and "How far back the last prediction reaches" in r.stdout


def test_json_to_stdout_is_the_only_output(corpus):
    r = run("grad-report", "--cell", "rnn", "--data", corpus, *TINY, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["steps"] == 20 and doc["models"][0]["cell"] == "rnn" and doc["explanation"]


def test_checkpoint_with_its_initial_model(run_dir):
    r = run("grad-report", run_dir, "--init", "--timesteps", "10", "--windows", "2", "--json")
    assert r.exit_code == 0, r.output
    models = json.loads(r.stdout)["models"]
    assert [m["name"] for m in models] == ["run", "run (init)"] and [m["source"] for m in models] == ["checkpoint", "init"]
    # same architecture, different weights: the trained model's numbers differ from its initial ones
    assert models[0]["parameters"] == models[1]["parameters"]
    assert models[0]["layers"][0]["singular_values"] != models[1]["layers"][0]["singular_values"]


def test_checkpoint_measured_on_other_text(run_dir, tmp_path):
    p = tmp_path / "other.txt"
    p.write_text("the lazy dog jumps over the quick brown fox.\n" * 20)
    r = run("grad-report", run_dir / "best.pt", "--data", p, "--timesteps", "10", "--windows", "2", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["models"][0]["name"] == "run"


def test_plot_writes_a_png(corpus, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "g.png"
    r = run("grad-report", "--compare", "rnn,lstm", "--data", corpus, *TINY, "--plot", out, "--quiet")
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".g.png")]


def test_plot_without_matplotlib_is_a_clear_error_before_any_work(corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    r = run("grad-report", "--data", corpus, *TINY, "--plot", tmp_path / "g.png")
    one_line_error(r, 1, "pip install 'seqtool[plot]'")
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("args, code, message", [
    (["--timesteps", "1"], 2, "--timesteps 1: must be at least 2"),
    (["--threshold", "0"], 2, "--threshold 0.0"),
    (["--compare", "rnn,transformer"], 2, "--compare: unknown cell transformer"),
    (["--timesteps", "5000"], 1, "fewer than one window needs"),
    (["--init"], 2, "--init adds the initial model of each checkpoint"),
    (["--hidden", "0"], 2, "--hidden"),
])
def test_bad_options_are_one_line_errors(corpus, args, code, message):
    r = run("grad-report", "--data", corpus, "--hidden", "8", "--layers", "1", "--windows", "1", *args)
    one_line_error(r, code, message)


def test_missing_checkpoint_and_missing_data_are_one_line_errors(tmp_path, corpus):
    one_line_error(run("grad-report", tmp_path / "nope"), 1, "nope")
    one_line_error(run("grad-report", "--cell", "lstm"), 2, "a fresh model needs --data FILE")
    one_line_error(run("grad-report", "--data", tmp_path / "missing.txt"), 1, "missing.txt")


def test_checkpoint_and_compare_do_not_mix(run_dir):
    one_line_error(run("grad-report", run_dir, "--compare", "rnn,lstm"), 2, "give either checkpoints or --compare")


def test_model_and_tokenizer_options_with_a_checkpoint_are_refused_by_name(run_dir):
    # The checkpoint's own model and tokenizer are measured: --cell gru --hidden 32 used to be ignored without a word.
    r = run("grad-report", run_dir, "--cell", "gru", "--hidden", "32", "--level", "word", "--timesteps", "10", "--windows", "2")
    one_line_error(r, 2, "--cell, --hidden, --level: ")
    assert "a checkpoint's model and tokenizer are its own" in r.stderr
    one_line_error(run("grad-report", run_dir, "--cell", "lstm"), 2, "--cell: ")  # typed, even at its default
