"""SIGKILL at seeded points of a training run — inside steps, validations, checkpoint and metrics writes.

A kill cannot be caught, so what it leaves on disk is what the run had written at that instant. Each
run of the chain is a real process (forked from this one, so torch is imported once, not once per
run) that arms one kill point and then runs ``seqtool train`` (the first) or ``train --resume``; at the
k-th call of the chosen function it SIGKILLs itself. The points are chosen by a seeded generator and
land inside the work (in a write before its rename, halfway through a metrics line), not after a
sleep. After each kill ``last.pt`` must load and hold all but the steps since the last save, the next
``--resume`` must work, and when the chain has finished its metrics and weights must equal those of
an uninterrupted run.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sys

import pytest
import torch

from tests.cli.helpers import run
from tests.cli.test_faults import metrics_lines

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(os, "fork"), reason="kills forked runs (POSIX)")]

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 80
SAVE_EVERY = 4
MAX_STEPS = 40
ARGS = ["--hidden", "16", "--layers", "1", "--batch-size", "4", "--bptt", "16", "--log-every", "3", "--eval-every", "10",
        "--max-steps", str(MAX_STEPS), "--save-every", str(SAVE_EVERY), "--threads", "1", "--quiet"]
# Kill point kinds, with how many calls of each a run may make before it dies.
KINDS = {"step": 5, "evaluate": 1, "save": 2, "fsync": 6, "replace": 3, "metrics": 2}


def die(note, reached):
    """Record how far training got, then SIGKILL this process."""
    with open(note, "w") as f:
        f.write(str(reached))
    os.kill(os.getpid(), signal.SIGKILL)


def arm(kind: str, k: int, note: str) -> None:
    """In the child: SIGKILL at the k-th call of the function that ``kind`` names, once training has started."""
    from seqtool import run_writer, training

    trainer = {}
    calls = {"n": 0}

    def hit() -> bool:
        if "t" not in trainer:
            return False  # still preparing the run: the kills here are about training
        calls["n"] += 1
        return calls["n"] == k

    def wrap(owner, name, before=True):
        real = getattr(owner, name)

        def wrapper(*a, **kw):
            if before and hit():
                die(note, trainer["t"].step)
            out = real(*a, **kw)
            if not before and hit():
                die(note, trainer["t"].step)
            return out

        setattr(owner, name, wrapper)

    real_fit = training.Trainer.fit

    def fit(self):
        trainer["t"] = self
        return real_fit(self)

    training.Trainer.fit = fit
    if kind == "step":  # after the optimizer step, before anything is saved
        wrap(training.Trainer, "_train_step", before=False)
    elif kind == "evaluate":  # as a validation starts
        wrap(training.Trainer, "evaluate")
    elif kind == "save":  # before a checkpoint is serialized
        wrap(training.Trainer, "save")
    elif kind == "fsync":  # a written temporary file not yet renamed, or just renamed
        wrap(os, "fsync")
    elif kind == "replace":  # a complete temporary file, the old one still in place
        wrap(os, "replace")
    elif kind == "metrics":  # halfway through appending a metrics line
        def append(self, rec):
            line = json.dumps(rec) + "\n"
            if hit():
                with open(self.metrics_path, "a") as f:
                    f.write(line[: len(line) // 2])
                die(note, trainer["t"].step)
            with open(self.metrics_path, "a") as f:
                f.write(line)

        run_writer.RunWriter.append = append


def run_in_child(argv: list[str], kind: str | None, k: int, note, log) -> int:
    """Fork, arm the kill point, run ``seqtool ARGV``; the child's wait status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        code = 98
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1), os.dup2(fd, 2)
            sys.stdout = sys.stderr = open(fd, "w", closefd=False)
            import typer

            from seqtool.cli import app

            if kind is not None:
                arm(kind, k, str(note))
            code = typer.main.get_command(app).main([str(a) for a in argv], prog_name="seqtool", standalone_mode=False)
        finally:
            os._exit(code if isinstance(code, int) else 97)
    _, status = os.waitpid(pid, 0)
    return status


def test_sigkill_at_seeded_points_loses_at_most_the_steps_since_the_last_save_and_resumes_exactly(tmp_path):
    from seqtool.checkpoint import load_checkpoint

    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT)
    assert run("train", corpus, "--out", tmp_path / "whole", *ARGS).exit_code == 0  # the uninterrupted reference
    out, note, log = tmp_path / "run", tmp_path / "reached", tmp_path / "child.log"
    rng = random.Random(16)
    plan = [(kind, rng.randint(1, most)) for kind, most in sorted(KINDS.items()) for _ in range(4)]  # 24 points, 4 of each kind
    rng.shuffle(plan)
    plan.insert(0, ("step", 2))  # before the first save: a job killed in its first minutes must resume too
    injected, survived, kinds = 0, 0, set()
    argv = ["train", corpus, "--out", out, *ARGS]
    while True:
        kind, k = plan[injected] if injected < len(plan) else (None, 0)
        status = run_in_child(argv, kind, k, note, log)
        if os.WIFEXITED(status):
            assert os.WEXITSTATUS(status) == 0, log.read_text()[-2000:]
            break
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        injected += 1
        kinds.add(kind)
        reached = int(note.read_text())
        saved = load_checkpoint(out, prefer="last")["step"]  # loads: never torn
        assert reached - SAVE_EVERY <= saved <= reached, (kind, reached, saved)
        survived += 1
        if saved == MAX_STEPS:
            break  # killed after the final save: nothing left to resume
        argv = ["train", "--resume", out, "--quiet"]
    assert (injected, survived) == (25, 25) and kinds == set(KINDS)
    whole = tmp_path / "whole"
    assert metrics_lines(out) == metrics_lines(whole)
    for name in ("best.pt", "last.pt"):
        a, b = (torch.load(d / name, weights_only=True)["model_state"] for d in (out, whole))
        assert all(torch.equal(a[key], b[key]) for key in a), name
    assert not [p.name for p in tmp_path.rglob("*.tmp-*")]

