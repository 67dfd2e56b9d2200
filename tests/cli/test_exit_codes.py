"""Exit codes across commands: a value that is wrong on its own (out of range, an unknown choice,
malformed, not finite) is bad usage, exit 2, whichever command and whichever module checks it; one
line on stderr names the option, and nothing is written (seqtool/errors.py says the rule)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from seqtool.cli import app

from tests.cli.helpers import untrained_checkpoint

runner = CliRunner()
TEXT = "the quick brown fox jumps over the lazy dog.\n" * 40


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A corpus and an untrained char GRU checkpoint, in a directory of their own."""
    d = tmp_path_factory.mktemp("inputs")
    untrained_checkpoint(d, TEXT, "gru")
    return d


def _files(d):
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


TRAIN = ["train", "C", "--out", "OUT"]
TOKENIZE = ["tokenize", "C", "--out", "OUT"]
GRAD = ["grad-report", "--data", "C", "--hidden", "8", "--layers", "1"]


@pytest.mark.parametrize("args, option", [
    # train: the model options (ModelConfig) ...
    (TRAIN + ["--hidden", "0"], "--hidden"),
    (TRAIN + ["--layers", "0"], "--layers"),
    (TRAIN + ["--embed-dim", "-1"], "--embed-dim"),
    (TRAIN + ["--dropout", "1"], "--dropout"),
    (TRAIN + ["--dropout", "nan"], "--dropout"),
    (TRAIN + ["--cell", "transformer"], "--cell"),
    (TRAIN + ["--cell", "leaky", "--tau-min", "0.5"], "--tau-min"),
    (TRAIN + ["--cell", "leaky", "--tau-min", "5", "--tau-max", "2"], "--tau-max"),
    (TRAIN + ["--forget-bias", "nan"], "--forget-bias"),
    (TRAIN + ["--cell", "skip", "--delay", "1"], "--delay"),
    # ... and the training options (TrainConfig, devices)
    (TRAIN + ["--batch-size", "0"], "--batch-size"),
    (TRAIN + ["--bptt", "0"], "--bptt"),
    (TRAIN + ["--lr", "0"], "--lr"),
    (TRAIN + ["--lr", "nan"], "--lr"),
    (TRAIN + ["--weight-decay", "-1"], "--weight-decay"),
    (TRAIN + ["--epochs", "0"], "--epochs"),
    (TRAIN + ["--max-steps", "0"], "--max-steps"),
    (TRAIN + ["--eval-every", "0"], "--eval-every"),
    (TRAIN + ["--patience", "0"], "--patience"),
    (TRAIN + ["--time-budget", "soon"], "--time-budget"),
    (TRAIN + ["--time-budget", "0"], "--time-budget"),
    (TRAIN + ["--time-budget", "nan"], "--time-budget"),
    (TRAIN + ["--optimizer", "rmsprop"], "--optimizer"),
    (TRAIN + ["--schedule", "step"], "--schedule"),
    (TRAIN + ["--precision", "fp8"], "--precision"),
    (TRAIN + ["--device", "tpu"], "--device"),
    (TRAIN + ["--val-fraction", "1.5"], "--val-fraction"),
    # tokenize
    (TOKENIZE + ["--level", "ngram", "--ngram", "0"], "--ngram"),
    (TOKENIZE + ["--num-words", "0"], "--num-words"),
    (TOKENIZE + ["--min-freq", "0"], "--min-freq"),
    (TOKENIZE + ["--level", "subword", "--vocab-size", "2"], "--vocab-size"),
    (TOKENIZE + ["--level", "subword", "--character-coverage", "0"], "--character-coverage"),
    (TOKENIZE + ["--pad-to", "0"], "--pad-to"),
    (TOKENIZE + ["--max-memory", "lots"], "--max-memory"),
    # generate
    (["generate", "M", "--temperature", "0"], "--temperature"),
    (["generate", "M", "--top-k", "0"], "--top-k"),
    (["generate", "M", "--top-p", "1.5"], "--top-p"),
    (["generate", "M", "--length", "0"], "--length"),
    (["generate", "M", "--device", "tpu"], "--device"),
    # eval
    (["eval", "M", "C", "--free-running", "0"], "--free-running"),
    (["eval", "M", "C", "--free-running", "5", "--positions", "0"], "--positions"),
    (["eval", "M", "C", "--device", "tpu"], "--device"),
    # grad-report
    (GRAD + ["--threshold", "0"], "--threshold"),
    (GRAD[:3] + ["--hidden", "0"], "--hidden"),
    (GRAD + ["--dropout", "2"], "--dropout"),
    (GRAD + ["--compare", "rnn,transformer"], "--compare"),
    (GRAD + ["--device", "tpu"], "--device"),
    # make-corpus
    (["make-corpus", "france", "--gap", "-1", "--out", "OUT"], "--gap"),
    (["make-corpus", "france", "--lines", "0", "--out", "OUT"], "--lines"),
])
def test_a_value_out_of_range_is_exit_2_one_line_and_nothing_written(tmp_path, inputs, args, option):
    paths = {"C": inputs / "c.txt", "M": inputs / "m.pt", "OUT": tmp_path / "out"}
    before = _files(inputs)
    r = runner.invoke(app, [str(paths.get(a, a)) for a in args])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0], r.stderr
    assert r.stdout == "" and list(tmp_path.iterdir()) == [] and _files(inputs) == before
