"""Distributed training (torchrun, DDP, gloo): 2 processes x batch B/2 train exactly as 1 process x batch B.

The reference is a plain in-process ``seqtool train``; the distributed runs are real torchrun launches
(``python -m torch.distributed.run --standalone --nproc-per-node 2 -m seqtool train ...``), one thread
per process, tiny LSTM models and a few steps, fp32 and dropout 0, so per-step losses, validation
losses and final weights must agree to 1e-5.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from seqtool.data import batchify
from seqtool.distributed import Dist
from seqtool.errors import UsageError
from tests.cli.helpers import run

ROOT = Path(__file__).resolve().parents[1]
TEXT = "".join(f"the {w} sat on the mat and the dog ran after it {i % 7}.\n" for i, w in enumerate(["cat", "bird", "fox", "cow"] * 60))
MODEL = ["--level", "char", "--cell", "lstm", "--hidden", "16", "--layers", "1", "--dropout", "0", "--batch-size", "4", "--bptt", "8",
         "--log-every", "1", "--eval-every", "3", "--schedule", "none", "--seed", "3", "--precision", "fp32", "--device", "cpu", "--quiet"]


def torchrun(*args, nproc: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    """``seqtool ARGS`` under torchrun with ``nproc`` processes of one thread each."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), "-m", "seqtool", *map(str, args)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def spawn(*args, world: int = 2) -> list[subprocess.Popen]:
    """The processes of a distributed ``seqtool ARGS`` started by hand, in torchrun's environment but without its
    agent (which would stop the others itself when one fails)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(world)}
    return [subprocess.Popen([sys.executable, "-m", "seqtool", *map(str, args)], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(world)]


def wait_for_steps(run_dir: Path, n: int, procs: list[subprocess.Popen]) -> None:
    """Until ``run_dir``'s metrics.jsonl has ``n`` lines (the processes are training)."""
    deadline = time.monotonic() + 90
    path = run_dir / "metrics.jsonl"
    while not (path.exists() and len(path.read_text().splitlines()) >= n):
        assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs]
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.1)


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each process; a hang fails the test (bounded wait)."""
    outputs = [p.communicate(timeout=90) for p in procs]
    return [(p.returncode, *o) for p, o in zip(procs, outputs)]


def losses(run_dir: Path) -> list[tuple[int, float, float | None]]:
    lines = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["train_loss"], r.get("val_loss")) for r in lines]


def assert_same_run(a: Path, b: Path) -> None:
    """Per-step training and validation losses, weights and carried state agree to 1e-5."""
    la, lb = losses(a), losses(b)
    assert [s for s, *_ in la] == [s for s, *_ in lb]
    for (step, ta, va), (_, tb, vb) in zip(la, lb):
        assert ta == pytest.approx(tb, abs=1e-5), step
        assert (va is None) == (vb is None) and (va is None or va == pytest.approx(vb, abs=1e-5)), step
    ca, cb = (torch.load(d / "last.pt", weights_only=True) for d in (a, b))
    assert ca["step"] == cb["step"]
    for k, v in ca["model_state"].items():
        torch.testing.assert_close(cb["model_state"][k], v, rtol=0, atol=1e-5)
    assert (ca["hidden"] is None) == (cb["hidden"] is None)  # None: a classifier or tagger carries nothing
    for x, y in zip(ca["hidden"] or (), cb["hidden"] or ()):  # the state of all columns, gathered from both processes
        torch.testing.assert_close(y, x, rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("corpus") / "c.txt"
    p.write_text(TEXT)
    return p


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> Path:
    """One plain process, batch 4, 6 steps."""
    out = tmp_path_factory.mktemp("ref") / "run"
    r = run("train", corpus, *MODEL, "--max-steps", 6, "--out", out)
    assert r.exit_code == 0, r.output
    return out


def test_a_process_takes_its_contiguous_share_of_the_columns():
    ids = np.arange(103)
    full = batchify(ids, 4).rows(0, 25)
    parts = [batchify(ids, 4, columns=Dist(r, 2, r).share(4)).rows(0, 25) for r in range(2)]
    assert torch.equal(torch.cat(parts, dim=1), full)
    assert [Dist(r, 3, r).share(4) for r in range(3)] == [(0, 1), (1, 2), (2, 4)]  # uneven: validation shares


def test_a_batch_that_does_not_split_over_the_processes_is_refused():
    from seqtool.tasks.lm import LMTask
    from seqtool.train_config import TrainConfig

    cfg = TrainConfig(batch_size=3, bptt=4, max_steps=1)
    with pytest.raises(UsageError, match="--batch-size 3 does not split evenly over 2 processes"):
        LMTask(cfg, np.arange(200), np.arange(50), torch.device("cpu"), Dist(0, 2, 0))


@pytest.mark.slow
def test_two_processes_train_as_one_with_the_whole_batch(corpus, reference, tmp_path):
    out = tmp_path / "run"
    r = torchrun("train", corpus, *MODEL, "--max-steps", 6, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_run(reference, out)
    # The same run directory, config and all, but for the world size.
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    ours, theirs = (json.loads((d / "config.json").read_text()) for d in (out, reference))
    assert ours.pop("world_size") == 2 and ours == theirs
    assert "module." not in "".join(torch.load(out / "last.pt", weights_only=True)["model_state"])
    assert not list(tmp_path.glob(".*"))  # no staging directory left behind by any process


@pytest.mark.slow
def test_two_processes_average_the_same_weights_as_one(corpus, tmp_path):
    """Every process averages its own copy of the (identical) weights; process 0 saves what one process would."""
    averaging = ["--average-weights", "ema", "--ema-decay", "0.5", "--average-start", "0.3", "--max-steps", 6]
    one, two = tmp_path / "one", tmp_path / "two"
    r = run("train", corpus, *MODEL, *averaging, "--out", one)
    assert r.exit_code == 0, r.output
    r = torchrun("train", corpus, *MODEL, *averaging, "--out", two)
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_run(one, two)  # model_state: the average
    ca, cb = (torch.load(d / "last.pt", weights_only=True) for d in (one, two))
    assert ca["average"] == cb["average"] == {"kind": "ema", "count": 5}
    for k, v in ca["train_weights"].items():
        torch.testing.assert_close(cb["train_weights"][k], v, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_sigterm_to_one_process_stops_every_process_at_the_same_step(corpus, tmp_path):
    out = tmp_path / "run"
    procs = spawn("train", corpus, *MODEL, "--max-steps", 100_000, "--out", out)
    wait_for_steps(out, 3, procs)
    procs[1].send_signal(signal.SIGTERM)
    (rc0, _, err0), (rc1, _, err1) = finish(procs)
    assert (rc0, rc1) == (130, 143), (err0[-2000:], err1[-2000:])  # had they stopped at different steps, process 0 would have failed
    saved = torch.load(out / "last.pt", weights_only=True)["step"]
    # Process 0 saved once, at the step where all stopped. That may be step 3 itself: its metrics line is written
    # before the step's stop check, so a signal arriving between the two stops the run there.
    assert saved == losses(out)[-1][0] >= 3
    assert "interrupted; saved" in err0 and "saved" not in err1.replace("saving", "")


@pytest.mark.slow
def test_a_time_budget_stops_every_process_at_the_same_step(corpus, tmp_path):
    out = tmp_path / "run"
    results = finish(spawn("train", corpus, *MODEL, "--time-budget", 1, "--eval-every", 1000, "--json", "--out", out))
    assert [rc for rc, *_ in results] == [0, 0], [err[-2000:] for *_, err in results]
    assert torch.load(out / "last.pt", weights_only=True)["step"] == losses(out)[-1][0]
    assert json.loads(results[0][1])["stopped"] == "time budget used" and results[1][1] == ""  # results from process 0 only


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
def test_a_process_that_dies_or_hangs_makes_the_others_fail_with_one_line(corpus, tmp_path, sig):
    out = tmp_path / "run"
    procs = spawn("train", corpus, *MODEL, "--max-steps", 100_000, "--dist-timeout", 5, "--out", out)
    try:
        wait_for_steps(out, 3, procs)
        procs[1].send_signal(sig)  # SIGSTOP: alive but silent, so only the process-group timeout can end the wait
        rc0, _, err0 = finish(procs[:1])[0]
    finally:
        procs[1].kill()
        procs[1].wait()
    assert rc0 == 1 and len(err0.strip().splitlines()) == 1, err0[-2000:]
    assert "another process of the run failed or stopped answering" in err0 and f"--resume {out}" in err0


@pytest.mark.slow
@pytest.mark.parametrize("first, then", [(2, 1), (1, 2)], ids=["2-then-1", "1-then-2"])
def test_a_run_resumes_on_another_number_of_processes_exactly(corpus, reference, tmp_path, first, then):
    def train(nproc, *args):
        if nproc == 1:
            r = run("train", *args)
            assert r.exit_code == 0, r.output
        else:
            r = torchrun("train", *args, nproc=nproc)
            assert r.returncode == 0, r.stderr[-3000:]

    out = tmp_path / "run"
    train(first, corpus, *MODEL, "--max-steps", 3, "--out", out)
    assert json.loads((out / "config.json").read_text()).get("world_size", 1) == first
    train(then, "--resume", out, "--max-steps", 6, "--quiet")
    assert_same_run(reference, out)  # weights, optimizer moments and each column's carried state went across
    config = json.loads((out / "config.json").read_text())
    assert config.get("world_size", 1) == then  # the processes it trains on now; recorded only when more than one
    same = {k: v for k, v in json.loads((reference / "config.json").read_text()).items() if k != "train"}  # train: the first --max-steps
    assert {k: v for k, v in config.items() if k not in ("world_size", "train")} == same
    assert not list(out.glob(".config.json*"))  # no temporary file of the atomic write left


def labelled_file(directory: Path, kind: str) -> Path:
    """A small imbalanced classification set (tsv) or NER-like tagging set (conll)."""
    words = "the a film story plot actor scene was is and it this".split()
    if kind == "classify":
        lines = [f"{'pos' if i % 3 == 0 else 'neg'}\t{' '.join(words[(i * k) % 12] for k in range(2 + i % 7))} {'good' if i % 3 == 0 else 'bad'}"
                 for i in range(90)]
        p = directory / "l.tsv"
        p.write_text("\n".join(lines) + "\n")
        return p
    sents = ["\n".join([f"{words[(i + k) % 12]} X O" for k in range(1 + i % 5)] + ["Ana X B-PER", "Smith X I-PER"]) for i in range(90)]
    p = directory / "t.conll"
    p.write_text("\n\n".join(sents) + "\n")
    return p


@pytest.mark.slow
@pytest.mark.parametrize("task", [["--task", "classify", "--class-weights", "auto"], ["--task", "tag", "--tag-column", "2"]], ids=["classify", "tag"])
def test_two_processes_train_a_classifier_or_tagger_as_one(tmp_path, task):
    """Batches of 7 split 3 + 4 (and a last batch smaller still): each process's loss is weighted by its share of
    the batch's examples (class weights) or tokens, so the updates are the single process's."""
    data = labelled_file(tmp_path, task[1])
    args = ["train", data, *task, "--hidden", "12", "--embed-dim", "8", "--layers", "1", "--dropout", "0", "--batch-size", "7",
            "--log-every", "1", "--eval-every", "4", "--max-steps", "8", "--schedule", "none", "--seed", "5", "--device", "cpu", "--precision", "fp32", "--quiet"]
    r = run(*args, "--out", tmp_path / "one")
    assert r.exit_code == 0, r.output
    r = torchrun(*args, "--out", tmp_path / "two")
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_run(tmp_path / "one", tmp_path / "two")
    # Validation is shared out by batch (9 examples: a batch of 7 on one process, of 2 on the other) and its sums added up.
    one, two = ([{k: v for k, v in json.loads(ln).items() if k.startswith("val_")} for ln in (d / "metrics.jsonl").read_text().splitlines()]
                for d in (tmp_path / "one", tmp_path / "two"))
    assert [sorted(x) for x in one] == [sorted(x) for x in two] and len([x for x in one if x]) == 2
    for a, b in zip(one, two):
        assert b == pytest.approx(a, abs=1e-6)


def seqtool(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "seqtool", *map(str, args)], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_nproc_launches_the_processes_itself(corpus, reference, tmp_path):
    r = seqtool("train", corpus, *MODEL, "--max-steps", 6, "--nproc", 2, "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_run(reference, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["world_size"] == 2


@pytest.mark.slow
def test_a_batch_that_does_not_split_is_one_line_from_all_the_processes(corpus, tmp_path):
    r = seqtool("train", corpus, *MODEL, "--batch-size", 3, "--max-steps", 2, "--nproc", 2, "--out", tmp_path / "run")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "seqtool: error: --batch-size 3 does not split evenly over 2 processes; give a multiple of 2 (the global batch, shared out by column)"], r.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_nan_loss_stops_every_process_at_the_same_step_with_one_line(corpus, tmp_path):
    r = seqtool("train", corpus, *MODEL, "--optimizer", "sgd", "--lr", "1e38", "--clip-norm", 0, "--max-steps", 20, "--nproc", 2, "--out", tmp_path / "run")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr[-3000:]
    assert "the loss became inf at step" in r.stderr  # the global loss: every process saw it at the same step


@pytest.mark.slow
def test_sigterm_to_every_process_of_an_nproc_run_stops_it_cleanly(corpus, tmp_path):
    """A scheduler signals the launcher and each process; torchrun's agent then forwards its own SIGTERM: one request,
    not a second that would abort the save."""
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    launcher = subprocess.Popen([sys.executable, "-m", "seqtool", "train", str(corpus), *MODEL, "--max-steps", "100000", "--nproc", "2", "--out", str(out)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_steps(out, 3, [launcher])
        workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True).stdout.split()]
        for pid in [launcher.pid, *workers]:
            os.kill(pid, signal.SIGTERM)
        (rc, _, err), = finish([launcher])
    finally:
        launcher.kill()
    assert rc == 143, err[-2000:]
    assert not [ln for ln in err.splitlines() if ln.startswith("W")], err[-2000:]  # torchrun's agent says nothing: seqtool's lines only
    assert torch.load(out / "last.pt", weights_only=True)["step"] == losses(out)[-1][0] >= 3, err[-2000:]  # >= : see the test above
