"""Checkpoints: round trip on CPU, refusal of foreign/corrupt/pickled files, crash-safe writes."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from seqtool.checkpoint import load_checkpoint, save_checkpoint
from seqtool.errors import CheckpointError


def _ckpt(value: float) -> dict:
    return {"model_config": {"vocab_size": 3}, "tokenizer": {"level": "char"}, "model_state": {"w": torch.full((256, 256), value)}, "step": int(value)}


def test_round_trip(tmp_path):
    save_checkpoint(tmp_path / "last.pt", _ckpt(3.0))
    d = load_checkpoint(tmp_path, prefer="last")
    assert d["step"] == 3 and d["format"] == "seqtool-checkpoint" and d["version"] == 1
    torch.testing.assert_close(d["model_state"]["w"], torch.full((256, 256), 3.0))


def test_missing_foreign_corrupt_and_pickled_code(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="no checkpoint in this directory"):
        load_checkpoint(tmp_path)
    for seed in range(50):  # garbage fails in many places of the unpickler; every one is a clear error
        (tmp_path / "junk.pt").write_bytes(random.Random(seed).randbytes(1000))
        with pytest.raises(CheckpointError, match="not a readable seqtool checkpoint"):
            load_checkpoint(tmp_path / "junk.pt")
    torch.save({"hello": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a seqtool checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    # A pickle that would run code on load must be refused, not executed.
    marker = tmp_path / "pwned"
    torch.save({"format": "seqtool-checkpoint", "x": _Evil(str(marker))}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()
    save_checkpoint(tmp_path / "ok.pt", _ckpt(1.0))
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "cut.pt")


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


WRITER = """
import sys, torch
from seqtool.checkpoint import save_checkpoint
i = 0
while True:
    i += 1
    save_checkpoint(sys.argv[1], {"model_config": {}, "tokenizer": {}, "model_state": {"w": torch.full((512, 512), float(i))}, "step": i})
    print(i, flush=True)
"""


@pytest.mark.slow
def test_kill_during_writes_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _ckpt(0.0))
    for delay in (0.35, 0.5, 0.65):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        p.stdout.readline()  # at least one write finished; now kill it somewhere in the next ones
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        d = load_checkpoint(path)
        w = d["model_state"]["w"]
        assert torch.equal(w, torch.full_like(w, float(d["step"])))  # complete, not a mix
    leftovers = [q.name for q in tmp_path.iterdir() if q.name != "last.pt"]
    assert all(n.startswith(".last.pt.tmp-") for n in leftovers)
