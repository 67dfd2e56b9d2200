"""seqtool.curves: metrics.jsonl fields against steps, tokens or time, one panel per quantity."""
from __future__ import annotations

import json

import pytest

from seqtool.curves import panels, read_logs
from seqtool.errors import ConfigError, UsageError

LINES = [
    {"step": 5, "tokens": 320, "elapsed": 1.5, "train_loss": 3.0, "lr": 0.01},
    {"step": 10, "tokens": 600, "elapsed": 3.0, "train_loss": 2.5, "lr": 0.005, "val_loss": 2.7},
]


def write_run(d, lines, torn=False):
    d.mkdir(parents=True)
    text = "".join(json.dumps(ln) + "\n" for ln in lines) + ('{"step": 15, "train_lo' if torn else "")
    (d / "metrics.jsonl").write_text(text)
    return d


def test_training_and_validation_loss_share_a_panel_by_default(tmp_path):
    logs = read_logs([write_run(tmp_path / "a", LINES), write_run(tmp_path / "b", LINES[:1], torn=True)])
    [p] = panels(logs, None, "steps")
    assert p.title == "loss"
    assert [(c.label, c.x, c.y) for c in p.curves] == [
        ("a train_loss", [5.0, 10.0], [3.0, 2.5]), ("b train_loss", [5.0], [3.0]), ("a val_loss", [10.0], [2.7])]


@pytest.mark.parametrize("x, xs", [("steps", [5.0, 10.0]), ("tokens", [320.0, 600.0]), ("time", [1.5, 3.0])])
def test_the_x_axis_is_the_lines_own_step_tokens_or_elapsed(tmp_path, x, xs):
    [p] = panels(read_logs([write_run(tmp_path / "a", LINES)]), ["lr"], x)
    assert (p.title, p.curves[0].label, p.curves[0].x, p.curves[0].y) == ("lr", "a", xs, [0.01, 0.005])


def test_each_quantity_gets_its_own_panel_and_same_named_runs_their_paths(tmp_path):
    a, b = write_run(tmp_path / "x" / "run", LINES), write_run(tmp_path / "y" / "run", LINES)
    ps = panels(read_logs([a, b]), ["val_loss", "lr"], "steps")
    assert [p.title for p in ps] == ["val_loss", "lr"]
    assert [c.label for c in ps[1].curves] == [str(a), str(b)]


def test_an_unrecorded_metric_or_axis_is_a_usage_error_and_a_missing_log_a_config_error(tmp_path):
    logs = read_logs([write_run(tmp_path / "a", LINES)])
    with pytest.raises(UsageError, match="--metric grad_norm: no run recorded it; recorded fields: elapsed, lr, train_loss, val_loss"):
        panels(logs, ["grad_norm"], "steps")
    with pytest.raises(UsageError, match="--x epochs: give one of steps, tokens, time"):
        panels(logs, None, "epochs")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="empty: has no metrics.jsonl"):
        read_logs([tmp_path / "empty"])


@pytest.mark.parametrize("field", ["step", "epoch", "tokens"])
def test_a_recorded_position_field_asked_as_a_metric_is_not_said_to_be_unrecorded(tmp_path, field):
    logs = read_logs([write_run(tmp_path / "a", [{**ln, "epoch": 0.5} for ln in LINES])])
    with pytest.raises(UsageError, match=f"--metric {field}: a position in training, not a metric; plottable fields: elapsed, lr") as e:
        panels(logs, [field], "steps")
    assert "--x" in " ".join(e.value.fixes)
