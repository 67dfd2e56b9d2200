"""Checkpoints: round trip on CPU, refusal of foreign/corrupt/pickled files, crash-safe writes."""
from __future__ import annotations

import random
import signal
import subprocess
import sys

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


# The writer saves a checkpoint at step 1, then arms one kill point inside seqtool.fsio's atomic write
# and saves step 2: the process SIGKILLs itself there, deterministically, at that exact instant.
WRITER = """
import os, signal, sys, torch
from seqtool.checkpoint import save_checkpoint

path, where = sys.argv[1], sys.argv[2]

def ckpt(i):
    return {"model_config": {}, "tokenizer": {}, "model_state": {"w": torch.full((512, 512), float(i))}, "step": i}

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

class HalfWriter:  # writes the first half of the bytes, then dies: a torn temp file on disk
    def __init__(self, f):
        self.f = f
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False
    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        os.fsync(self.f.fileno())
        die()

save_checkpoint(path, ckpt(1))
print("saved 1", flush=True)
if where == "write":
    real_fdopen = os.fdopen
    os.fdopen = lambda fd, mode: HalfWriter(real_fdopen(fd, mode))
elif where == "fsync":  # every byte written and flushed, not yet synced or renamed
    os.fsync = die
elif where == "replace":  # written and synced, killed just before the rename
    os.replace = die
save_checkpoint(path, ckpt(2))
print("saved 2", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_kill_during_writes_leaves_a_loadable_checkpoint(tmp_path, where):
    path = tmp_path / "last.pt"
    p = subprocess.run([sys.executable, "-c", WRITER, str(path), where], capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert p.stdout.splitlines() == ["saved 1"]  # killed inside the second save, never after it
    d = load_checkpoint(path)
    w = d["model_state"]["w"]
    assert torch.equal(w, torch.full_like(w, float(d["step"])))  # complete, not a mix
    assert d["step"] == 1  # the previous checkpoint, intact
    leftovers = [q for q in tmp_path.iterdir() if q.name != "last.pt"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".last.pt.tmp-"), leftovers  # the temp file is the only debris
    if where == "write":  # the torn temp file is refused, not half-loaded
        with pytest.raises(CheckpointError):
            load_checkpoint(leftovers[0])
    else:  # the new checkpoint was complete in its temp file, only not yet renamed into place
        assert load_checkpoint(leftovers[0])["step"] == 2


def test_failed_rename_keeps_the_previous_checkpoint_and_leaves_no_debris(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _ckpt(1.0))
    before = path.read_bytes()

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("seqtool.fsio.os.replace", fail)
    with pytest.raises(CheckpointError, match="cannot write the checkpoint"):
        save_checkpoint(path, _ckpt(2.0))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert [q.name for q in tmp_path.iterdir()] == ["last.pt"]


def test_refusals_say_what_is_wrong_and_never_suggest_loading_unsafely(tmp_path, capfd):
    marker = tmp_path / "pwned"
    torch.save({"format": "seqtool-checkpoint", "x": _Evil(str(marker))}, tmp_path / "evil.pt")
    torch.save({"format": "seqtool-checkpoint"}, tmp_path / "old.pt", pickle_protocol=1)  # torch warns about old protocols
    save_checkpoint(tmp_path / "ok.pt", _ckpt(1.0))
    (tmp_path / "cut.pt").write_bytes((tmp_path / "ok.pt").read_bytes()[:5000])
    messages = {}
    for name in ("evil", "cut"):
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(tmp_path / f"{name}.pt")
        messages[name] = str(e.value)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "old.pt")
    assert "could run code; refused without loading them" in messages["evil"] and not marker.exists()
    assert "truncated, unreadable or not a torch file" in messages["cut"]
    for m in messages.values():
        assert "weights_only" not in m and "unsafe" not in m.lower() and "\n" not in m
    assert capfd.readouterr().err == ""  # no warnings of torch's on stderr
