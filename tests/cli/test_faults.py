"""Faults a long job meets — SIGTERM, Ctrl-C, a second writer — injected deterministically.

Each test sends the signal from inside the work (a patched step of the pipeline or trainer) so the
fault lands at a known point, then checks what a user relies on: the exit code and its one line,
nothing left half-written, and the previous run intact.
"""
from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from seqtool import runs
from seqtool.fsio import DirLock
from seqtool.text import pipeline

from tests.cli.helpers import run

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 80
SMALL = ["--hidden", "24", "--layers", "1", "--batch-size", "4", "--bptt", "16", "--log-every", "5"]


def snapshot(d):
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file() and p.name != DirLock.NAME}


@pytest.fixture
def corpus(write):
    return write("c.txt", TEXT)


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Ctrl-C raises KeyboardInterrupt even when the suite runs as a background job (which starts
    with SIGINT ignored, so Python installs no handler of its own)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def signal_during_write(monkeypatch, signum):
    """Deliver ``signum`` to this process while the first block of token ids is written."""
    real = pipeline.NpyWriter.write

    def write(self, a):
        os.kill(os.getpid(), signum)
        return real(self, a)

    monkeypatch.setattr(pipeline.NpyWriter, "write", write)


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_a_signal_during_tokenize_leaves_no_temporary_directory(tmp_path, corpus, monkeypatch, signum, code, word):
    signal_during_write(monkeypatch, signum)
    r = run("tokenize", corpus, "--out", tmp_path / "tok")
    assert r.exit_code == code, r.output
    assert r.stderr.strip() == f"seqtool: {word}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


def test_sigterm_while_train_tokenizes_keeps_the_old_run_and_no_debris(tmp_path, corpus):
    out = tmp_path / "run"
    assert run("train", corpus, "--out", out, *SMALL, "--max-steps", "5", "--eval-every", "5", "--quiet").exit_code == 0
    before = snapshot(out)
    mp = pytest.MonkeyPatch()
    signal_during_write(mp, signal.SIGTERM)
    try:
        r = run("train", corpus, "--out", out, "--force", *SMALL, "--max-steps", "5")
    finally:
        mp.undo()
    assert r.exit_code == 143 and "terminated" in r.stderr, r.output
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt", "run"]


def test_sigterm_in_training_finishes_the_step_saves_last_and_exits_143(tmp_path, corpus, monkeypatch):
    from seqtool import training

    real = training.Trainer.save
    sent = []

    def save(self, name, metrics, **kw):
        if self.step == 10 and not sent:
            sent.append(os.kill(os.getpid(), signal.SIGTERM))  # arrives mid-run, during the step-10 validation's save
        return real(self, name, metrics, **kw)

    monkeypatch.setattr(training.Trainer, "save", save)
    out = tmp_path / "run"
    r = run("train", corpus, "--out", out, *SMALL, "--max-steps", "1000", "--eval-every", "10")
    assert r.exit_code == 143, r.output
    assert f"terminated; saved {out}/last.pt. Resume with: seqtool train --resume {out}" in r.stderr
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 10  # the step under way finished and was saved
    monkeypatch.undo()
    r = run("train", "--resume", out, "--max-steps", "15", "--quiet", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["steps"] == 15, r.output


def test_a_second_writer_is_refused_while_a_run_is_live(tmp_path, corpus):
    out = tmp_path / "run"
    assert run("train", corpus, "--out", out, *SMALL, "--max-steps", "5", "--eval-every", "5", "--quiet").exit_code == 0
    before = snapshot(out)
    with DirLock().acquire(out):  # as a live `seqtool train` holds it
        for args in (["--resume", out, "--max-steps", "10"], [corpus, "--out", out, "--force", *SMALL, "--max-steps", "5"]):
            r = run("train", *args)
            assert r.exit_code == 1 and f"in use by seqtool process {os.getpid()}" in r.stderr, r.output
            assert len(r.stderr.strip().splitlines()) == 1
        assert snapshot(out) == before
    r = run("train", "--resume", out, "--max-steps", "10", "--quiet")  # released: resume works again
    assert r.exit_code == 0, r.output


def test_a_run_that_appears_while_tokenizing_is_not_replaced(tmp_path, corpus, monkeypatch):
    """Two `train --out SAME` started together: the one that finishes preparing second refuses."""
    out = tmp_path / "run"
    real = runs.prepare_data
    other = DirLock()

    def prepare_data(*a, **k):
        spec = real(*a, **k)
        out.mkdir()
        other.acquire(out)  # the first run swapped itself in meanwhile and is training
        (out / "last.pt").write_bytes(b"theirs")
        return spec

    monkeypatch.setattr(runs, "prepare_data", prepare_data)
    try:
        r = run("train", corpus, "--out", out, "--force", *SMALL, "--max-steps", "5")
    finally:
        other.release()
    assert r.exit_code == 1 and "in use by seqtool process" in r.stderr, r.output
    assert (out / "last.pt").read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt", "run"]


@pytest.mark.parametrize("args, message", [
    (["--time-budget", "nan"], "--time-budget nan: must be a finite number"),
    (["--time-budget", "inf"], "--time-budget inf: must be a finite number"),
    (["--clip-norm", "nan"], "--clip-norm nan: must be a finite number"),
    (["--weight-decay", "nan"], "--weight-decay nan: must be a finite number"),
    (["--lr", "inf"], "--lr inf: must be a finite number"),
    (["--batch-size", "0"], "--batch-size 0: must be at least 1"),  # a zero is never quietly a default
    (["--bptt", "0"], "--bptt 0: must be at least 1"),
    (["--val-fraction", "0"], "--val-fraction 0.0: must be between 0 and 1"),
])
def test_non_finite_and_zero_values_are_refused_before_any_work(tmp_path, corpus, args, message):
    r = run("train", corpus, "--out", tmp_path / "run", *args)
    assert r.exit_code == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


def test_resume_refuses_a_finished_run_and_options_it_would_ignore(tmp_path, corpus):
    out = tmp_path / "run"
    assert run("train", corpus, "--out", out, *SMALL, "--max-steps", "10", "--eval-every", "5", "--quiet").exit_code == 0
    before = snapshot(out)
    r = run("train", "--resume", out)  # nothing left to do: no step past --max-steps, no checkpoint rewritten
    assert r.exit_code == 2 and "has finished (max steps reached, step 10)" in r.stderr, r.output
    r = run("train", "--resume", out, "--max-steps", "20", "--hidden", "64", "--lr", "0.1")
    assert r.exit_code == 2 and "--hidden, --lr cannot change" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output
    assert snapshot(out) == before


def test_resume_after_a_torn_metrics_append(tmp_path, corpus):
    out = tmp_path / "run"
    assert run("train", corpus, "--out", out, *SMALL, "--max-steps", "10", "--eval-every", "10", "--quiet").exit_code == 0
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 15, "train_lo')  # a crash in the middle of an append
    r = run("train", "--resume", out, "--max-steps", "20", "--quiet")
    assert r.exit_code == 0, r.output
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20]


def test_the_time_budget_counts_the_whole_run_across_resumes(tmp_path, corpus):
    out = tmp_path / "run"
    assert run("train", corpus, "--out", out, *SMALL, "--max-steps", "4", "--eval-every", "4", "--quiet").exit_code == 0
    ck = torch.load(out / "last.pt", weights_only=True)
    ck["elapsed"] = 100.0  # as if the run had trained for 100 s before it stopped
    torch.save(ck, out / "last.pt")
    r = run("train", "--resume", out, "--max-steps", "1000", "--time-budget", "90")
    assert r.exit_code == 2 and "time budget used" in r.stderr, r.output


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    """Where stdin is spooled: a folder of the test's own, so leftovers can be counted."""
    import tempfile

    d = tmp_path / "spool"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def test_stdin_copies_are_deleted_after_tokenize_and_eval(tmp_path, corpus, spool_dir):
    r = run("tokenize", "-", "--level", "char", "--out", tmp_path / "tok", input=TEXT)
    assert r.exit_code == 0, r.output
    r = run("tokenize", "-", "--out", corpus, input=TEXT)  # fails after spooling: --out is a file
    assert r.exit_code == 1, r.output
    run_dir = tmp_path / "run"
    assert run("train", corpus, "--out", run_dir, *SMALL, "--max-steps", "2", "--eval-every", "2", "--quiet").exit_code == 0
    r = run("eval", run_dir, "-", input=TEXT[:400])
    assert r.exit_code == 0, r.output
    assert list(spool_dir.iterdir()) == []


@pytest.mark.parametrize("make", ["fifo", "device"])
def test_a_pipe_or_device_is_named_as_such_not_as_empty(tmp_path, make):
    if make == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    r = run("tokenize", path, "--out", tmp_path / "tok")  # must not block reading it either
    assert r.exit_code == 1 and "not a regular file (a pipe or a device)" in r.stderr, r.output


def test_a_full_disk_while_tokenize_writes_is_one_line_and_leaves_nothing(tmp_path, corpus, monkeypatch):
    import errno

    def write(self, a):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "tok" / "train.npy"))

    monkeypatch.setattr(pipeline.NpyWriter, "write", write)
    r = run("tokenize", corpus, "--out", tmp_path / "tok")
    assert r.exit_code == 1, r.output
    assert r.stderr.strip().splitlines() == [
        f"seqtool: error: cannot read or write {tmp_path / 'tok' / 'train.npy'}: No space left on device; free some space or check the path and device"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


def test_stdout_on_a_full_device_is_one_line_not_an_internal_error(corpus):
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "seqtool", "make-corpus", "--help"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 1 and p.stderr.strip().splitlines() == [
        "seqtool: error: cannot read or write the output (stdout or a file): No space left on device; free some space or check the path and device"], p.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "c.txt", "--out", "run", "--seed", str(2**64)], "--seed"),
    (["train", "c.txt", "--out", "run", "--seed", "-1"], "--seed"),
    (["make-corpus", "france", "--out", "m.txt", "--seed", str(2**64)], "--seed"),
    (["tokenize", "c.txt", "--out", "tok", "--matrix", "bogus"], "--matrix bogus: choose one of binary, count, freq, tfidf"),
    (["tokenize", "c.txt", "--out", "."], "--out .: is the current directory or contains it"),
])
def test_values_refused_before_any_work(tmp_path, corpus, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = run(*args)
    assert r.exit_code in (1, 2) and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output
    assert "internal error" not in r.stderr and r.stdout == ""  # refused before any work: no report of it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


def test_bare_seqtool_shows_the_help_and_no_empty_error():
    r = run()
    assert r.exit_code == 0 and "Usage: seqtool" in r.output and "error" not in r.stderr


def test_save_every_is_saved_with_the_run_and_may_change_on_resume(tmp_path, corpus):
    out = tmp_path / "run"
    r = run("train", corpus, "--out", out, *SMALL, "--max-steps", "8", "--eval-every", "100", "--save-every", "3", "--quiet")
    assert r.exit_code == 0, r.output
    assert json.loads((out / "config.json").read_text())["train"]["save_every"] == "3"
    r = run("train", "--resume", out, "--max-steps", "12", "--save-every", "2m", "--quiet")
    assert r.exit_code == 0, r.output
    assert torch.load(out / "last.pt", weights_only=True)["train_config"]["save_every"] == "2m"
    r = run("train", "--resume", out, "--max-steps", "14", "--save-every", "1.5")
    assert r.exit_code == 2 and "--save-every 1.5: give a number of steps" in r.stderr, r.output


WALL_CLOCK = ("tokens_per_sec", "elapsed")


def metrics_lines(run_dir):
    """metrics.jsonl without its wall-clock fields: what two runs of the same seed must agree on."""
    return [{k: v for k, v in json.loads(ln).items() if k not in WALL_CLOCK} for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_interrupt_and_resume_write_the_metrics_lines_of_an_uninterrupted_run(tmp_path, corpus, monkeypatch):
    from seqtool import training

    args = [*SMALL, "--max-steps", "30", "--eval-every", "15", "--quiet"]
    assert run("train", corpus, "--out", tmp_path / "whole", *args).exit_code == 0
    real = training.Trainer._train_step

    def step(self, meter):
        lr = real(self, meter)
        if self.step == 23:  # mid log interval (lines at 20 and 25): steps 21-23 are in the meter
            os.kill(os.getpid(), signal.SIGTERM)
        return lr

    monkeypatch.setattr(training.Trainer, "_train_step", step)
    out = tmp_path / "split"
    assert run("train", corpus, "--out", out, *args).exit_code == 143
    monkeypatch.undo()
    assert run("train", "--resume", out, "--quiet").exit_code == 0
    assert metrics_lines(out) == metrics_lines(tmp_path / "whole")


def test_resume_removes_the_temporary_files_of_killed_writes_once_it_holds_the_lock(tmp_path, corpus):
    out = tmp_path / "run"
    assert run("train", corpus, "--out", out, *SMALL, "--max-steps", "5", "--eval-every", "5", "--quiet").exit_code == 0
    debris = [out / n for n in (".last.pt.tmp-k1ll3d", ".metrics.jsonl.tmp-abc", ".config.json.tmp-x_y")]
    for p in debris:
        p.write_bytes(b"half a write")
    with DirLock().acquire(out):  # another writer: its temporary files are its own
        assert run("train", "--resume", out, "--max-steps", "10").exit_code == 1
        assert all(p.exists() for p in debris)
    assert run("train", "--resume", out, "--max-steps", "10", "--quiet").exit_code == 0
    assert not any(p.exists() for p in debris)


def test_a_new_run_removes_stale_staging_directories_of_killed_runs_only(tmp_path, corpus):
    import time

    def stage(name, age, lock=True):
        d = tmp_path / name
        (d / "data").mkdir(parents=True)
        if lock:
            (d / DirLock.NAME).write_text("12345\n")
        old = time.time() - age
        for p in (d / DirLock.NAME, d):
            if p.exists():
                os.utime(p, (old, old))
        return d

    stale = stage(".run.tmp-dead", age=120)
    fresh = stage(".run.tmp-young", age=5)  # may be a run that is just starting
    other = stage(".run.tmp-nolock", age=120, lock=False)  # not a train stage (tokenize --out run): not ours
    live = stage(".run.tmp-live", age=120)
    unrelated = stage(".runs.tmp-dead", age=120)
    with DirLock().acquire(live):
        r = run("train", corpus, "--out", tmp_path / "run", *SMALL, "--max-steps", "2", "--eval-every", "2", "--quiet")
        assert r.exit_code == 0, r.output
    assert not stale.exists()
    assert fresh.exists() and other.exists() and live.exists() and unrelated.exists()


def test_skip_nonfinite_may_be_raised_on_resume_after_a_divergence(tmp_path, corpus, monkeypatch):
    from seqtool import training

    real = training.Trainer._train_step

    def step(self, meter):
        if self.step == 7:  # step 8 meets a bad batch: its gradient is NaN
            real_norm = training.clip_grad_norm
            monkeypatch.setattr(training, "clip_grad_norm", lambda *a, **k: real_norm(*a, **k) * float("nan"))
            try:
                return real(self, meter)
            finally:
                monkeypatch.setattr(training, "clip_grad_norm", real_norm)
        return real(self, meter)

    monkeypatch.setattr(training.Trainer, "_train_step", step)
    out = tmp_path / "run"
    r = run("train", corpus, "--out", out, *SMALL, "--max-steps", "10", "--eval-every", "5", "--quiet")
    assert r.exit_code == 1 and "the gradient norm became nan (the loss was" in r.stderr and "--skip-nonfinite N" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1
    r = run("train", "--resume", out, "--skip-nonfinite", "1", "--quiet", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["steps"] == 10, r.output
    assert [json.loads(ln)["skipped_steps"] for ln in (out / "metrics.jsonl").read_text().splitlines()] == [0, 1]
