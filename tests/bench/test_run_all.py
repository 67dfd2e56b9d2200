"""run_all refuses to write a result file from an invalid run (an injected measurement; no benchmark runs)."""
from __future__ import annotations

import json
import subprocess

import pytest

from benchmarks import run_all
from tests.bench.helpers import fake_measured


@pytest.fixture
def suite(monkeypatch, tmp_path):
    """run_all with its results going to tmp_path and each benchmark script answering `result` at once."""
    monkeypatch.setattr(run_all, "RESULTS_DIR", tmp_path)
    answer = {"result": {"results": {"seqtool char": {"mb_per_s": 70.0}}}}
    ran = []

    def fake_run(cmd, **kw):
        ran.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="progress\n" + json.dumps(answer["result"]) + "\n", stderr="")

    monkeypatch.setattr(run_all.subprocess, "run", fake_run)

    def main(*argv, measured=fake_measured(100.0, 0.0)):
        monkeypatch.setattr(run_all, "Measured", measured)
        with pytest.raises(SystemExit) as e:
            run_all.main(["--only", "tokenize", *argv])
        return e.value.code, sorted(tmp_path.glob("results-*.json"))

    main.answer, main.ran = answer, ran
    return main


def test_a_run_with_foreign_cpu_writes_nothing_and_says_which_check_failed(suite, capsys):
    code, files = suite(measured=fake_measured(100.0, 8.0))  # 8 s of another process's CPU in 10 s
    assert code == run_all.INVALID_EXIT != 0
    assert files == []
    err = capsys.readouterr().err
    assert "tokenize is invalid: other processes used 0.80 cores on average over 10.0 s (40% of 2 CPUs" in err
    assert "--allow-invalid" in err
    assert len(suite.ran) == 1 and suite.ran[0][1].endswith("bench_tokenize.py")


def test_a_calibration_drift_is_refused_with_its_figures(suite, capsys):
    code, files = suite(measured=fake_measured(70.0, 0.0))
    assert (code, files) == (run_all.INVALID_EXIT, [])
    assert "calibration moved 30% (100.0 -> 70.0 GFLOP/s" in capsys.readouterr().err


def test_allow_invalid_writes_the_file_marked_invalid(suite):
    code, files = suite("--allow-invalid", measured=fake_measured(100.0, 8.0))
    assert code == 0 and len(files) == 1
    report = json.loads(files[0].read_text())
    entry = report["benchmarks"]["tokenize"]
    assert report["valid"] is False and entry["valid"] is False
    assert entry["invalid_because"][0].startswith("other processes used 0.80 cores")
    assert entry["measurement"]["foreign_cpu"]["cores"] == 0.8
    assert entry["result"]["results"]["seqtool char"]["mb_per_s"] == 70.0


def test_a_script_that_marks_itself_invalid_is_refused_too(suite, capsys):
    suite.answer["result"] = {"valid": False, "invalid_because": ["calibration moved 20% (50 -> 40 GFLOP/s; limit 15%)"]}
    code, files = suite()
    assert (code, files) == (run_all.INVALID_EXIT, [])
    assert "tokenize is invalid: its own check: calibration moved 20%" in capsys.readouterr().err


def test_a_valid_run_writes_the_file_marked_valid(suite, capsys):
    code, files = suite()
    assert code == 0 and len(files) == 1
    report = json.loads(files[0].read_text())
    assert report["valid"] is True and report["benchmarks"]["tokenize"]["invalid_because"] == []
    assert "invalid" not in capsys.readouterr().err
