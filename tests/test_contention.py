"""seqtool.contention: the thread probe restores torch's threads and leaves the global RNG alone; ThreadCheck warns once, and only when shared."""
from __future__ import annotations

import torch

from seqtool import contention
from seqtool.contention import ThreadCheck, sharing_cores, thread_speedup


def test_the_probe_restores_the_thread_count_and_draws_nothing_from_the_global_generator():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    threads = torch.get_num_threads()
    speedup = thread_speedup(2, repeats=1)
    assert speedup > 0 and torch.get_num_threads() == threads
    assert torch.equal(torch.rand(3), expected)  # a run's dropout masks do not depend on when the probe ran


def test_shared_cores_are_told_by_a_speedup_below_the_threshold_and_never_for_one_thread():
    assert sharing_cores(0.6, 2) and sharing_cores(1.1, 4)
    assert not sharing_cores(1.8, 2) and not sharing_cores(0.5, 1)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def check(monkeypatch, speedups: list[float], device="cpu", threads=2):
    clock, warned, probed = Clock(), [], []
    monkeypatch.setattr(contention.time, "monotonic", clock)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)

    def probe(n):
        probed.append(n)
        return speedups.pop(0)

    cb = ThreadCheck(lambda speedup, n: warned.append((speedup, n)), first_s=15, every_s=60, probe=probe)
    cb.on_start({"device": device})
    return cb, clock, warned, probed


def test_thread_check_probes_after_its_delay_then_at_its_interval_and_warns_once(monkeypatch):
    cb, clock, warned, probed = check(monkeypatch, [1.9, 0.7, 0.5])
    cb.on_log({})
    assert probed == []  # not before first_s
    clock.now += 15
    cb.on_log({})
    assert probed == [2] and warned == []  # free cores
    clock.now += 30
    cb.on_log({})
    assert probed == [2]  # not before every_s
    clock.now += 30
    cb.on_log({})
    assert warned == [(0.7, 2)]
    clock.now += 600
    cb.on_log({})
    cb.on_start({"device": "cpu"})  # the next run it watches (the demo trains several)
    clock.now += 600
    cb.on_log({})
    assert len(probed) == 2 and len(warned) == 1  # once


def test_thread_check_stays_silent_on_one_thread_and_off_the_cpu(monkeypatch):
    for device, threads in (("cpu", 1), ("cuda:0", 4)):
        cb, clock, warned, probed = check(monkeypatch, [0.1], device=device, threads=threads)
        clock.now += 1000
        cb.on_log({})
        assert probed == [] and warned == []


def test_train_warns_once_on_stderr_when_the_cores_are_shared(monkeypatch, tmp_path):
    from tests.cli.helpers import run

    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat and the dog ran after it.\n" * 40)
    before = torch.get_num_threads()
    monkeypatch.setattr(contention, "FIRST_PROBE_S", 0.0)
    try:
        for speedup, lines in ((0.6, 1), (1.9, 0)):
            monkeypatch.setattr(contention, "thread_speedup", lambda n, s=speedup: s)
            r = run("train", corpus, "--level", "char", "--hidden", "8", "--layers", "1", "--batch-size", "4", "--bptt", "8",
                    "--max-steps", "6", "--log-every", "1", "--threads", "2", "--device", "cpu", "--out", tmp_path / f"run{speedup}")
            assert r.exit_code == 0, r.output
            said = [ln for ln in r.stderr.splitlines() if "share their cores" in ln]
            assert len(said) == lines and all("0.60x" in ln and "--threads 1" in ln for ln in said), r.stderr
    finally:
        torch.set_num_threads(before)
