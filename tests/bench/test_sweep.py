"""benchmarks/sweep.py: the --try grammar, the table, and a sweep with stand-in training runs (no model trains)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from benchmarks import sweep
from tests.bench.helpers import fake_measured


def test_parse_try_splits_the_name_from_the_options():
    assert sweep.parse_try("h512-d0.3: --hidden 512 --dropout 0.3") == ("h512-d0.3", ["--hidden", "512", "--dropout", "0.3"])
    assert sweep.parse_try("base:") == ("base", [])


@pytest.mark.parametrize("text, says", [("--hidden 512", "NAME: OPTIONS"), ("two words: --hidden 8", "NAME: OPTIONS"),
                                        (": --hidden 8", "NAME: OPTIONS"), ("x: --hidden 8 --time-budget 5m", "--time-budget is set by the sweep"),
                                        ("x: --out=runs/x", "--out is set by the sweep")])
def test_parse_try_refuses_a_bad_configuration(text, says):
    with pytest.raises(ValueError, match=says):
        sweep.parse_try(text)


def test_configurations_put_the_preset_first_and_refuse_a_name_twice():
    configs = sweep.configurations(["mine: --hidden 8"], ["char10"])
    assert configs[0] == ("default", ["--level", "char"])
    assert configs[-1] == ("mine", ["--hidden", "8"]) and len(configs) == len(sweep.PRESETS["char10"]) + 1
    with pytest.raises(ValueError, match="given twice: h512"):
        sweep.configurations(["h512: --hidden 8"], ["char10"])
    with pytest.raises(ValueError, match="nothing to sweep"):
        sweep.configurations([], [])


def test_a_bad_try_on_the_command_line_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        sweep.parse_args(["--try", "no colon here"])
    assert e.value.code == 2 and "NAME: OPTIONS" in capsys.readouterr().err


def test_train_figures_skip_the_first_interval(tmp_path):
    rows = [{"step": 10, "tokens_per_sec": 100.0}, {"step": 20, "tokens_per_sec": 300.0}, {"step": 30, "tokens_per_sec": 500.0},
            {"step": 40, "tokens_per_sec": 400.0, "tokens": 4096, "params": 1234}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert sweep.train_figures(tmp_path) == {"tokens_per_sec": 400, "tokens": 4096, "params": 1234}


def row(name, loss, valid=True, **kw):
    return {"name": name, "command": f"python -m seqtool train c.txt --{name}", "valid": valid,
            "invalid_because": [] if valid else ["other processes used 0.80 cores"], "best_val_loss": loss,
            "steps": 10, "epochs": 0.5, "tokens_per_sec": 12345, "params": 1000, **kw}


def test_markdown_ranks_by_loss_with_failures_last_and_lists_commands_and_reasons():
    text = sweep.markdown([row("b", 2.0), row("broken", None, error="train failed: no such option"), row("a", 1.5, valid=False)])
    lines = text.splitlines()
    assert lines[2].startswith("| 1 | a | 1.5000 | 10 | 0.50 | 12,345 | 1,000 | NO |")
    assert lines[3].startswith("| 2 | b | 2.0000 |") and lines[4].startswith("| 3 | broken | failed |")
    assert "- a: `python -m seqtool train c.txt --a`" in lines
    assert "- a: other processes used 0.80 cores" in lines and "- broken failed: train failed: no such option" in lines


@pytest.fixture
def fake_train(monkeypatch):
    """seqtool train stood in for: writes metrics.jsonl into --out and prints a summary; 'broken' configurations fail."""
    calls, pauses = [], []

    def run(cmd, **kw):
        calls.append(cmd)
        if "--broken" in cmd:
            return subprocess.CompletedProcess(cmd, 2, stdout="", stderr="Error: no such option: --broken\n")
        out = Path(cmd[cmd.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "metrics.jsonl").write_text(json.dumps({"step": 7, "tokens_per_sec": 900.0, "tokens": 700, "params": 55}) + "\n")
        loss = 2.0 if "--hidden" in cmd else 3.0
        return subprocess.CompletedProcess(cmd, 0, stdout=json.dumps({"best_val_loss": loss, "steps": 7, "epochs": 0.1}), stderr="")

    monkeypatch.setattr(sweep.subprocess, "run", run)
    monkeypatch.setattr(sweep.time, "sleep", pauses.append)
    monkeypatch.setattr(sweep, "Measured", fake_measured(100.0, 0.0))
    return calls, pauses


def test_a_sweep_runs_each_configuration_alone_with_a_pause_and_writes_json(fake_train, tmp_path, capsys):
    calls, pauses = fake_train
    corpus = tmp_path / "c.txt"
    corpus.write_text("abc\n")
    code = sweep.main([str(corpus), "--minutes", "0.1", "--try", "base: --level char", "--try", "wide: --level char --hidden 64",
                       "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "sweep.json")])
    assert code == 0
    assert pauses == [60.0]  # between the two runs, not before the first
    assert calls[1][3:] == ["train", str(corpus), "--val-fraction", "0.1", "--level", "char", "--hidden", "64", "--time-budget", "0.1m",
                            "--out", str(tmp_path / "runs" / "wide"), "--force", "--quiet", "--json"]
    report = json.loads((tmp_path / "sweep.json").read_text())
    wide = report["runs"][1]
    assert (wide["name"], wide["best_val_loss"], wide["steps"], wide["tokens_per_sec"], wide["params"]) == ("wide", 2.0, 7, 900, 55)
    assert wide["valid"] is True and wide["calibration_before"]["gflops"] == 100.0 and wide["foreign_cpu"]["cores"] == 0.0
    assert wide["command"].endswith("--hidden 64 --time-budget 0.1m --out " + str(tmp_path / "runs" / "wide") + " --force --quiet --json")
    assert "| 1 | wide | 2.0000 |" in capsys.readouterr().out


def test_a_failed_configuration_is_recorded_and_the_sweep_goes_on(fake_train, tmp_path):
    calls, _ = fake_train
    corpus = tmp_path / "c.txt"
    corpus.write_text("abc\n")
    code = sweep.main([str(corpus), "--pause", "0", "--try", "bad: --broken", "--try", "ok: --level char",
                       "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "sweep.json")])
    assert code == 1 and len(calls) == 2
    bad, ok = json.loads((tmp_path / "sweep.json").read_text())["runs"]
    assert bad["error"] == "Error: no such option: --broken" and bad["exit_code"] == 2
    assert ok["best_val_loss"] == 3.0
