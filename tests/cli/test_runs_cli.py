"""``seqtool runs``: the table, --where/--sort/--json, damaged runs listed (not a crash), and a real trained run."""
from __future__ import annotations

import json

import pytest

from tests.cli.helpers import one_line_error, run
from tests.test_run_index import lm_lines, make_run


@pytest.fixture
def runs_dir(tmp_path):
    make_run(tmp_path / "runs" / "lstm", lm_lines())
    make_run(tmp_path / "runs" / "rnn", lm_lines("time budget used"), model={"cell": "rnn"})
    torn = make_run(tmp_path / "runs" / "torn", lm_lines(None))
    with open(torn / "metrics.jsonl", "a") as f:
        f.write('{"step": 40, "train_lo')
    cut = make_run(tmp_path / "runs" / "cut", lm_lines())
    (cut / "config.json").write_text((cut / "config.json").read_text()[:30])
    return tmp_path / "runs"


def test_the_table_has_a_row_per_run_and_damaged_runs_say_why(runs_dir):
    r = run("runs", runs_dir)
    assert r.exit_code == 0, r.output
    rows = {line.split()[0].rsplit("/", 1)[-1]: line for line in r.stdout.splitlines() if str(runs_dir) in line}
    assert sorted(rows) == ["cut", "lstm", "rnn", "torn"]
    assert "finished" in rows["lstm"] and "loss 2.0000  ppl 7.39  2.885 bits" in rows["lstm"] and "0:00:04" in rows["lstm"]
    assert "stopped by budget" in rows["rnn"] and "damaged" in rows["torn"] and "damaged" in rows["cut"]
    assert f"{runs_dir / 'torn'}: metrics.jsonl line 4 is cut off or not JSON" in r.stderr
    assert f"{runs_dir / 'cut'}: config.json is not valid JSON" in r.stderr


def test_json_where_and_sort(runs_dir):
    r = run("runs", runs_dir, "--json", "--where", "status=damaged", "--sort", "-name")
    assert r.exit_code == 0, r.output
    assert [(x["name"], x["status"]) for x in json.loads(r.stdout)] == [("torn", "damaged"), ("cut", "damaged")]
    r = run("runs", runs_dir, "--json", "--where", "cell=rnn")
    assert [x["name"] for x in json.loads(r.stdout)] == ["rnn"]


def test_a_bad_where_or_sort_is_a_usage_error(runs_dir):
    one_line_error(run("runs", runs_dir, "--where", "colour=red"), 2, "--where 'colour=red': give FIELD=VALUE with a field among name, path")
    one_line_error(run("runs", runs_dir, "--sort", "speed"), 2, "--sort 'speed': not a field")


def test_the_default_directory_is_runs_and_a_missing_one_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line_error(run("runs"), 1, "runs: no such directory; give directories holding seqtool runs")
    make_run(tmp_path / "runs" / "a", lm_lines())
    assert [x["name"] for x in json.loads(run("runs", "--json").stdout)] == ["a"]


@pytest.mark.slow
def test_a_trained_run_is_listed_as_finished(tmp_path):
    (tmp_path / "c.txt").write_text("the cat sat on the mat.\n" * 200)
    out = tmp_path / "runs" / "gru"
    r = run("train", tmp_path / "c.txt", "--cell", "gru", "--hidden", "8", "--layers", "1", "--max-steps", "6", "--eval-every", "3",
            "--batch-size", "4", "--bptt", "8", "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    [rec] = json.loads(run("runs", tmp_path / "runs", "--json").stdout)
    best = min(json.loads(ln)["val_loss"] for ln in (out / "metrics.jsonl").read_text().splitlines() if "val_loss" in ln)
    assert (rec["status"], rec["stopped"], rec["cell"], rec["size"], rec["steps"], rec["best"]) == ("finished", "max steps reached", "gru", "1x8", 6, best)
    assert rec["params"] > 0 and rec["has_best"] and rec["has_last"] and rec["tokens_per_sec"] > 0

