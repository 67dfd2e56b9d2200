"""train --precision auto on a CPU with native bf16: a large enough LSTM language model trains with the bf16 kernel
and the run says so; --precision fp32 keeps torch's fused cells."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.cli.helpers import run

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="the bf16 kernel's C steps need a C compiler")


@pytest.fixture
def native_bf16(monkeypatch):
    from seqtool import devices

    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)


@pytest.mark.parametrize("precision, expected", [("auto", "bf16"), ("fp32", "fp32")])
def test_auto_picks_the_bf16_kernel_for_a_wide_lstm_and_says_so(tmp_path, write, native_bf16, precision, expected):
    corpus = write("c.txt", "the quick brown fox jumps over the lazy dog. " * 40)
    r = run("train", corpus, "--level", "char", "--hidden", 384, "--layers", 1, "--batch-size", 32, "--bptt", 4,
            "--max-steps", 1, "--precision", precision, "--out", tmp_path / "run", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["precision"] == expected
    assert ("precision: bf16, which auto picks" in r.stderr) is (expected == "bf16")


def test_auto_keeps_fp32_for_a_small_lstm(tmp_path, write, native_bf16):
    corpus = write("c.txt", "the quick brown fox jumps over the lazy dog. " * 40)
    r = run("train", corpus, "--level", "char", "--hidden", 32, "--batch-size", 8, "--bptt", 4, "--max-steps", 1,
            "--out", tmp_path / "run", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["precision"] == "fp32" and "which auto picks" not in r.stderr
