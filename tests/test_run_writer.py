"""seqtool.run_writer: metrics lines appended, trimmed for a resume and marked at the end; a failed write is one line; process > 0 writes nothing."""
from __future__ import annotations

import json

import pytest

from seqtool.errors import OutputError
from seqtool.run_writer import RunWriter


def lines(w: RunWriter) -> list[dict]:
    return [json.loads(ln) for ln in w.metrics_path.read_text().splitlines()]


def test_append_trim_and_mark_end(tmp_path):
    w = RunWriter(tmp_path)
    for step in (10, 20, 30):
        w.append({"step": step, "train_loss": 1.0 / step})
    w.mark_end({"stopped": "max steps reached", "params": 7}, 30)
    assert lines(w)[-1] == {"step": 30, "train_loss": 1.0 / 30, "stopped": "max steps reached", "params": 7}
    with open(w.metrics_path, "a") as f:
        f.write('{"step": 40, "tra')  # a torn append
    w.trim(20)  # resumed from step 20: later lines, the torn one and the end mark go
    assert [r["step"] for r in lines(w)] == [10, 20] and all("stopped" not in r for r in lines(w))


def test_a_process_other_than_the_first_writes_nothing(tmp_path):
    w = RunWriter(tmp_path, enabled=False)
    w.append({"step": 1})
    w.mark_end({"stopped": "x"}, 1)
    assert not w.metrics_path.exists()


def test_a_failed_write_is_one_line_naming_the_file_or_the_missing_run_directory(tmp_path):
    w = RunWriter(tmp_path / "gone")
    with pytest.raises(OutputError, match="the run directory was removed or moved while training"):
        w.append({"step": 1})
    w.mark_end({"stopped": "x"}, 1, must=False)  # a run already failing for another reason: no second error
    (tmp_path / "run").mkdir()
    w = RunWriter(tmp_path / "run")
    w.metrics_path.mkdir()  # not writable as a file
    with pytest.raises(OutputError, match=r"metrics.jsonl: cannot write \(.*\); free some space, then resume"):
        w.append({"step": 1})
