"""Renamed options (seqtool.cli.renamed): each old spelling still works, says its new name once on
stderr, and gives exactly the output of the new spelling; --help shows only the new names."""
from __future__ import annotations

import json

import pytest

from seqtool.cli.renamed import rewrite

from tests.cli.helpers import one_line_error, run, untrained_checkpoint

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 40
MODEL = ["--cell", "rnn", "--hidden", "8", "--layers", "1", "--batch-size", "4", "--bptt", "10"]


def deprecations(r) -> list[str]:
    return [line for line in r.stderr.splitlines() if "the old name will go" in line]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A text and an untrained char-level RNN checkpoint fitted on it."""
    d = tmp_path_factory.mktemp("renamed")
    untrained_checkpoint(d, TEXT, "rnn")
    return d


@pytest.mark.parametrize("old, new, line", [
    (["--steps", "12", "--batches", "2", "--json", "-"], ["--timesteps", "12", "--windows", "2", "--json"],
     ["seqtool: --steps is now --timesteps; the old name will go", "seqtool: --batches is now --windows; the old name will go",
      "seqtool: --json - is now --json; the old name will go"]),
    (["--steps=12", "--batches=2", "--json=-"], ["--timesteps", "12", "--windows", "2", "--json"], None),
])
def test_grad_report_old_names_give_the_same_json(files, old, new, line):
    a = run("grad-report", "--data", files / "c.txt", *MODEL, *old)
    b = run("grad-report", "--data", files / "c.txt", *MODEL, *new)
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert a.stdout == b.stdout and json.loads(a.stdout)["steps"] == 12 and json.loads(a.stdout)["windows"] == 2
    assert len(deprecations(a)) == 3 and not deprecations(b)
    if line:
        assert deprecations(a) == line


def test_grad_report_old_json_file_is_json_out(files, tmp_path):
    args = ("grad-report", "--data", files / "c.txt", *MODEL, "--timesteps", "12", "--windows", "2", "--quiet")
    a = run(*args, "--json", tmp_path / "a.json")
    b = run(*args, "--json-out", tmp_path / "b.json")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert deprecations(a) == ["seqtool: --json FILE is now --json-out FILE; the old name will go"] and not deprecations(b)


def test_grad_report_json_flag_before_a_checkpoint_stays_a_flag(files):
    r = run("grad-report", "--json", files / "m.pt", "--timesteps", "12", "--windows", "2", "--data", files / "c.txt")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["models"][0]["source"] == "checkpoint" and not deprecations(r)
    assert (files / "m.pt").read_bytes()[:2] == b"PK"  # still the checkpoint, not overwritten with JSON


def test_an_old_name_given_twice_warns_once_and_errors_name_the_new_option(files):
    r = run("grad-report", "--data", files / "c.txt", *MODEL, "--steps", "5", "--steps", "1")
    assert r.exit_code == 2 and "--timesteps 1: must be at least 2" in r.stderr
    assert deprecations(r) == ["seqtool: --steps is now --timesteps; the old name will go"]
    assert len(r.stderr.strip().splitlines()) == 2, r.stderr


def test_json_out_dash_is_refused(files):
    one_line_error(run("grad-report", "--data", files / "c.txt", "--json-out", "-"), 2, "--json prints the JSON on stdout")


def test_eval_window_is_bptt(files):
    a = run("eval", files / "m.pt", files / "c.txt", "--window", "7", "--json")
    b = run("eval", files / "m.pt", files / "c.txt", "--bptt", "7", "--json")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert a.stdout == b.stdout
    assert deprecations(a) == ["seqtool: --window is now --bptt; the old name will go"] and not deprecations(b)


@pytest.mark.parametrize("command, old", [("grad-report", "--steps"), ("grad-report", "--batches"), ("eval", "--window")])
def test_help_shows_only_the_new_names(command, old):
    r = run(command, "--help")
    assert r.exit_code == 0 and old not in r.stdout


def test_rewrite_leaves_everything_after_a_double_dash():
    assert rewrite(["--steps", "3", "--", "--steps"], {"--steps": "--timesteps"}) == ["--timesteps", "3", "--", "--steps"]
    assert rewrite(["--json", "r.JSON", "--json"], {}, json_file="--json-out") == ["--json-out", "r.JSON", "--json"]
