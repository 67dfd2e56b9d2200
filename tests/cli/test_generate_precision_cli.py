"""``seqtool generate --precision``: bf16 text of the asked length, the choice shown in --json, one-line errors."""
from __future__ import annotations

import json

import pytest

from tests.cli.helpers import one_line_error, run, untrained_checkpoint

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 20


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    out = {}
    for cell in ("lstm", "leaky"):
        d = tmp_path_factory.mktemp(cell)
        untrained_checkpoint(d, TEXT, cell)
        out[cell] = d / "m.pt"
    return out


def test_bf16_generates_the_asked_tokens_and_says_so_in_json(ckpts):
    args = ("generate", ckpts["lstm"], "--length", "25", "--seed", "4", "--json")
    r = run(*args, "--precision", "bf16")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["precision"] == "bf16" and doc["samples"][0]["num_tokens"] == 25
    assert json.loads(run(*args, "--precision", "bf16").stdout)["samples"] == doc["samples"]  # the seed repeats
    assert json.loads(run(*args, "--precision", "fp32").stdout)["precision"] == "fp32"


@pytest.mark.parametrize("cell, value, message", [("lstm", "fp16", "--precision fp16: choose one of auto, fp32, bf16"),
                                                  ("leaky", "bf16", "--precision bf16: generation in bf16 runs the cells lstm, gru, rnn, not leaky")])
def test_bad_precision_is_a_one_line_usage_error(ckpts, cell, value, message):
    one_line_error(run("generate", ckpts[cell], "--precision", value), 2, message)
