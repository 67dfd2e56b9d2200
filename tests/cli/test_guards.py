"""Refusals that come before the work: output paths checked before measuring, and sizes that would not
fit in memory refused before anything is allocated (each a one-line usage or config error)."""
from __future__ import annotations

import json

import pytest

from tests.cli.helpers import one_line_error, run

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 40
TINY = ["--hidden", "8", "--layers", "1", "--timesteps", "20", "--windows", "2", "--batch-size", "4", "--bptt", "10"]


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text(TEXT)
    return p


# grad-report's outputs: checked before the measurement, an existing file kept unless --force.

@pytest.mark.parametrize("option", ["--json-out", "--plot"])
def test_grad_report_refuses_a_directory_output_before_measuring(tmp_path, option):
    (tmp_path / "d.png").mkdir()
    # --data is missing: had the measurement started first, that would be the error
    r = run("grad-report", "--data", tmp_path / "missing.txt", *TINY, option, tmp_path / "d.png")
    one_line_error(r, 1, f"{option} {tmp_path / 'd.png'}: is a directory; give a file name")


@pytest.mark.parametrize("option", ["--json-out", "--plot"])
def test_grad_report_keeps_an_existing_output_file_without_force(tmp_path, corpus, option):
    old = tmp_path / "old.png"
    old.write_text("keep me")
    r = run("grad-report", "--data", tmp_path / "missing.txt", *TINY, option, old)
    one_line_error(r, 1, f"{option} {old}: file exists; choose another path or pass --force to replace it")
    assert old.read_text() == "keep me"


def test_grad_report_force_replaces_the_json_file(tmp_path, corpus):
    old = tmp_path / "r.json"
    old.write_text("keep me")
    r = run("grad-report", "--data", corpus, *TINY, "--json-out", old, "--force", "--quiet")
    assert r.exit_code == 0, r.output
    assert json.loads(old.read_text())["models"][0]["name"]
