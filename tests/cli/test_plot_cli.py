"""``seqtool plot``: a terminal chart without --out, a PNG of the expected size with it, one-line errors."""
from __future__ import annotations

import struct
import sys

import pytest

from tests.cli.helpers import one_line_error, run
from tests.test_curves import LINES, write_run


@pytest.fixture
def two_runs(tmp_path):
    later = [{**ln, "train_loss": ln["train_loss"] / 2, "val_loss": 1.0} for ln in LINES]
    return write_run(tmp_path / "lstm", LINES), write_run(tmp_path / "rnn", later)


def test_without_out_a_terminal_chart_with_a_legend(two_runs):
    r = run("plot", *two_runs, "--metric", "val_loss", "--x", "tokens")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[1] == "val_loss against tokens seen"
    assert lines[2].split() == ["2.7", "●"] and lines[2].endswith("●")  # lstm's one validation: top right
    assert lines[13].split() == ["1", "▲", "▲"]  # rnn's two, at the bottom
    assert lines[14].split() == ["320", "tokens", "seen", "600"]
    assert lines[15].split() == ["●", "lstm", "▲", "rnn"]


def test_default_is_training_and_validation_loss_in_one_panel(two_runs):
    r = run("plot", *two_runs, "--log")
    assert r.exit_code == 0, r.output
    assert "loss (log scale) against steps" in r.stdout
    assert r.stdout.splitlines()[-1].split() == ["●", "lstm", "train_loss", "▲", "rnn", "train_loss", "■", "lstm", "val_loss", "◆", "rnn", "val_loss"]


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_out_writes_a_png_of_one_panel_per_quantity(two_runs, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "curves.png"
    r = run("plot", *two_runs, "--metric", "val_loss", "--metric", "lr", "--x", "time", "--out", out)
    assert r.exit_code == 0, r.output
    assert png_size(out) == (1200, 400)  # two panels of 6 x 4 inches at 100 dpi
    assert f"wrote {out}" in r.stderr and r.stdout == ""
    one_line_error(run("plot", *two_runs, "--out", out), 1, f"{out}")  # exists: --force to replace it
    assert run("plot", *two_runs, "--out", out, "--force").exit_code == 0
    assert png_size(out) == (600, 400)


def test_out_without_matplotlib_says_how_to_install_it(two_runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    r = run("plot", *two_runs, "--out", tmp_path / "c.png")
    one_line_error(r, 1, "--out needs matplotlib, which is not installed: pip install 'seqtool[plot]' (or drop --out for a terminal chart)")
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("args, code, message", [
    (["--out", "c.jpg"], 2, "--out c.jpg: give a .png file name"),
    (["--metric", "grad_norm"], 2, "--metric grad_norm: no run recorded it"),
    (["--x", "epochs"], 2, "--x epochs: give one of steps, tokens, time"),
])
def test_bad_options_are_one_line(two_runs, args, code, message):
    one_line_error(run("plot", *two_runs, *args), code, message)


def test_a_directory_without_metrics_is_named(tmp_path):
    (tmp_path / "nothing").mkdir()
    one_line_error(run("plot", tmp_path / "nothing"), 1, "nothing: has no metrics.jsonl; give run directories made by seqtool train --out")


def test_a_log_scale_of_a_field_with_no_positive_value_says_so(tmp_path):
    d = write_run(tmp_path / "z", [{**ln, "skipped_steps": 0} for ln in LINES])
    r = run("plot", d, "--metric", "skipped_steps", "--log")
    assert r.exit_code == 0, r.output
    assert "skipped_steps: no positive value to draw on a log scale (drop --log)" in r.stderr and "nothing to plot yet" not in r.stderr


def test_runs_without_the_metric_are_named_on_one_line_and_every_other_run_drawn(tmp_path):
    scored = [{**ln, "val_accuracy": 0.5 + ln["step"] / 100} for ln in LINES]
    cls, cls2 = write_run(tmp_path / "cls", scored), write_run(tmp_path / "cls2", scored)
    tag = write_run(tmp_path / "tag", [{**ln, "val_f1": 0.25} for ln in LINES])  # another task: another metric
    lm = write_run(tmp_path / "lm", LINES)
    for out in ([], ["--out", tmp_path / "c.png"]):
        r = run("plot", cls, tag, cls2, lm, "--metric", "val_accuracy", *out)
        assert r.exit_code == 0, r.output
        assert r.stderr.strip().splitlines()[0] == "not drawn, no val_accuracy: tag, lm"
    r = run("plot", cls, tag, cls2, lm, "--metric", "val_accuracy")
    assert r.stdout.splitlines()[-1].split() == ["●", "cls", "▲", "cls2"]
    assert run("plot", cls, cls2, "--metric", "val_accuracy").stderr == ""
