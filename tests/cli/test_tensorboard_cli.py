"""``seqtool train --tensorboard``: events written into the run (or --tensorboard-dir), read back with tensorboard's reader."""
from __future__ import annotations

import pytest

from tests.cli.helpers import one_line_error, run


TINY_TRAIN = ("--cell", "gru", "--hidden", "8", "--layers", "1", "--max-steps", "4", "--eval-every", "2", "--log-every", "1",
              "--batch-size", "4", "--bptt", "8", "--quiet")


@pytest.mark.slow
def test_train_tensorboard_writes_events_into_the_run_and_nothing_without_the_flag(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (tmp_path / "c.txt").write_text("the cat sat on the mat.\n" * 200)
    assert run("train", tmp_path / "c.txt", *TINY_TRAIN, "--out", tmp_path / "plain").exit_code == 0
    assert not list((tmp_path / "plain").glob("events.out.tfevents*"))
    r = run("train", tmp_path / "c.txt", *TINY_TRAIN, "--tensorboard", "--out", tmp_path / "tb")
    assert r.exit_code == 0, r.output
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4] and [e.step for e in events.Scalars("val/loss")] == [2, 4]
    r = run("train", "--resume", tmp_path / "tb", "--max-steps", "6", "--tensorboard-dir", tmp_path / "elsewhere", "--quiet")
    assert r.exit_code == 0, r.output
    events = EventAccumulator(str(tmp_path / "elsewhere"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [5, 6]


def test_train_tensorboard_without_the_package_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard -> ImportError
    (tmp_path / "c.txt").write_text("the cat sat on the mat.\n" * 200)
    r = run("train", tmp_path / "c.txt", *TINY_TRAIN, "--tensorboard", "--out", tmp_path / "tb")
    one_line_error(r, 1, "--tensorboard needs tensorboard, which is not installed: pip install 'seqtool[tensorboard]' (or drop --tensorboard)")
    assert not (tmp_path / "tb").exists()
