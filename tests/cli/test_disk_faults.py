"""A full disk, a read-only run directory, a run directory removed mid-run: injected while `train` writes.

Each failure is injected at a known write (a checkpoint's fsync, a metrics append) and the test checks
what a user relies on: one line naming the path, exit 1, the previous checkpoint intact and loadable,
no temporary files left, and a run that resumes once the cause is gone.
"""
from __future__ import annotations

import builtins
import errno
import os
import shutil

import pytest

from seqtool import run_writer, training
from seqtool.checkpoint import load_checkpoint

from tests.cli.helpers import one_line_error, run

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 80
ARGS = ["--hidden", "16", "--layers", "1", "--batch-size", "4", "--bptt", "16", "--log-every", "5", "--eval-every", "5", "--save-every", "0"]
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def corpus(write):
    return write("c.txt", TEXT)


def debris(run_dir):
    return [p.name for p in run_dir.rglob("*.tmp-*")]


def at_step(monkeypatch, step, action):
    """Call ``action(trainer)`` once, right after optimizer step ``step``."""
    real = training.Trainer._train_step

    def train_step(self, meter):
        lr = real(self, meter)
        if self.step == step:
            action(self)
        return lr

    monkeypatch.setattr(training.Trainer, "_train_step", train_step)


def test_a_full_disk_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, corpus, monkeypatch):
    out = tmp_path / "run"
    real_fsync = os.fsync
    full = []

    def fsync(fd):
        if full:
            raise ENOSPC  # the data did not fit: reported at the flush
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    at_step(monkeypatch, 10, lambda t: full.append(True))
    r = run("train", corpus, "--out", out, *ARGS, "--max-steps", "20", "--quiet")
    name = "best.pt" if "best.pt" in r.stderr else "last.pt"  # the first checkpoint of the step-10 validation
    one_line_error(r, 1, f"{out / name}: cannot write the checkpoint (No space left on device)")
    monkeypatch.undo()
    assert load_checkpoint(out, prefer="last")["step"] == 5
    assert debris(out) == []
    r = run("train", "--resume", out, "--quiet")  # space freed: the run goes on from step 5
    assert r.exit_code == 0, r.output


def test_a_full_disk_during_a_metrics_append_is_one_line_and_resumable(tmp_path, corpus, monkeypatch):
    out = tmp_path / "run"
    real_open = builtins.open

    class Full:
        """A file on a device that fills after half a line."""

        def __init__(self, f):
            self.f = f

        def write(self, s):
            self.f.write(s[: len(s) // 2])
            self.f.flush()
            raise ENOSPC

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def open_(path, mode="r", *a, **k):
        f = real_open(path, mode, *a, **k)
        return Full(f) if str(path).endswith("metrics.jsonl") and mode == "a" and full else f

    full = []
    monkeypatch.setattr(run_writer, "open", open_, raising=False)
    at_step(monkeypatch, 12, lambda t: full.append(True))
    r = run("train", corpus, "--out", out, *ARGS, "--max-steps", "20", "--quiet")
    one_line_error(r, 1, f"{out / 'metrics.jsonl'}: cannot write (No space left on device); free some space, then resume")
    monkeypatch.undo()
    assert load_checkpoint(out, prefer="last")["step"] == 10 and debris(out) == []
    assert run("train", "--resume", out, "--quiet").exit_code == 0
    steps = [int(ln.split(",")[0].split(":")[1]) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20]  # the torn line is gone


def test_a_run_directory_removed_mid_run_is_one_line(tmp_path, corpus, monkeypatch):
    out = tmp_path / "run"
    at_step(monkeypatch, 7, lambda t: shutil.rmtree(t.run_dir))
    r = run("train", corpus, "--out", out, *ARGS, "--max-steps", "20", "--quiet")
    one_line_error(r, 1, f"{out}: the run directory was removed or moved while training")
    assert not out.exists()


@pytest.mark.parametrize("how", ["chmod", "injected"])
def test_resume_in_a_read_only_run_directory_is_one_line_and_changes_nothing(tmp_path, corpus, monkeypatch, how):
    out = tmp_path / "run"
    assert run("train", corpus, "--out", out, *ARGS, "--max-steps", "5", "--quiet").exit_code == 0
    (out / ".last.pt.tmp-k1ll3d").write_bytes(b"")
    before = sorted(p.name for p in out.iterdir())
    out.chmod(0o555)
    try:
        if how == "injected":  # root (as CI runs) writes through permissions: the check is made to see a read-only directory
            real = os.access
            monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if (mode & os.W_OK and os.path.samefile(p, out)) else real(p, mode, **kw))
        elif os.access(out, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes (the injected case covers it)")
        r = run("train", "--resume", out, "--max-steps", "10")
        one_line_error(r, 1, f"--resume {out}: the run directory is not writable")
        assert sorted(p.name for p in out.iterdir()) == before
    finally:
        out.chmod(0o755)


def test_a_full_disk_while_grad_report_writes_its_json_leaves_no_file(tmp_path, corpus, monkeypatch):
    from seqtool import fsio

    out = tmp_path / "report.json"
    real = fsio.atomic_write_bytes

    def full(path, data):
        if path == out:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(fsio, "atomic_write_bytes", full)
    r = run("grad-report", "--data", corpus, "--hidden", "8", "--layers", "1", "--timesteps", "4", "--windows", "1", "--json-out", out)
    one_line_error(r, 1, f"--json-out {out}: cannot write the file (No space left on device)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]
