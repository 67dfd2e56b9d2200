"""``seqtool demo --quick``: the whole tour end to end, and its refusals."""
from __future__ import annotations

import json

import pytest

from tests.cli.helpers import run


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "tour"
    r = run("demo", "--quick", "--out", out, "--threads", "1", "--prompt", "The owl")
    assert r.exit_code == 0, r.output
    # every step left its usual outputs
    for p in ("data/tokenizer.json", "data/train.npy", "data/val.npy", "lstm/best.pt", "rnn/best.pt", "lstm/config.json", "grad-report.json"):
        assert (out / p).is_file(), p
    cfg = {c: json.loads((out / c / "config.json").read_text())["model"] for c in ("lstm", "rnn")}
    assert cfg["lstm"]["cell"] == "lstm" and cfg["rnn"]["cell"] == "rnn"
    assert cfg["lstm"]["hidden"] == cfg["rnn"]["hidden"] and cfg["lstm"]["layers"] == cfg["rnn"]["layers"] == 1
    # samples from both, after the prompt
    assert r.stdout.count("The owl") >= 2 and "--- lstm ---" in r.stdout and "--- rnn ---" in r.stdout
    # the comparison: trained and initial models of both cells, and the paragraph that reads it
    models = json.loads((out / "grad-report.json").read_text())["models"]
    assert [m["name"] for m in models] == ["lstm", "lstm (init)", "rnn", "rnn (init)"]
    assert "How far back the last prediction reaches" in r.stdout
    for step in range(1, 6):
        assert f"[{step}/5]" in r.stderr
    # the training curves, where matplotlib is installed (the test extra has it)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert not (out / "curves.png").exists()
    else:
        assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"{out / 'curves.png'}" in r.stderr
    # and the next commands it suggests work on what it made
    g = run("generate", out / "lstm", "--prompt", "The", "--length", "20", "--seed", "1")
    assert g.exit_code == 0, g.output


def test_demo_refuses_a_non_empty_output_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    r = run("demo", "--quick", "--out", tmp_path)
    assert r.exit_code == 1 and "not empty" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (tmp_path / "keep.txt").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_demo_with_a_missing_corpus_is_a_one_line_error(tmp_path):
    r = run("demo", "--quick", "--out", tmp_path / "t", "--corpus", tmp_path / "none.txt")
    assert r.exit_code == 1 and "none.txt" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "t").exists()
