"""Whether torch's CPU threads share their cores with another job: a fixed matmul timed on torch's threads and on one.

torch's worker threads wait for each other at every parallel region, so when another process takes one of
their cores a training step on N threads can run several times slower than on one thread. The probe times
the same matmul with N threads and with 1, alternately; on free cores N threads finish well over 1.2x
faster, on shared ones they are hardly faster or slower. ``ThreadCheck`` runs the probe during training
(a few tens of milliseconds each time) and reports once, through the function it is given, when the
cores are shared.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

from seqtool.callbacks import Callbacks

PROBE_SIZE = 384  # a 384 x 384 x 384 matmul: parallel on 2+ threads, ~1-2 ms on one core
SHARED_BELOW = 1.2  # N threads less than this much faster than one: the cores are busy with something else
FIRST_PROBE_S = 15.0  # after start-up work (tokenizing, first steps) has settled
PROBE_EVERY_S = 60.0


def thread_speedup(threads: int | None = None, repeats: int = 5) -> float:
    """How many times faster a fixed fp32 matmul runs on ``threads`` (torch's count) than on one thread: the
    median of ``repeats`` alternating timings each. torch's thread count is restored afterwards."""
    import torch

    n = threads or torch.get_num_threads()
    g = torch.Generator().manual_seed(0)  # never the global generator: a probe must not change a run's random draws
    a, b = torch.randn(PROBE_SIZE, PROBE_SIZE, generator=g), torch.randn(PROBE_SIZE, PROBE_SIZE, generator=g)
    before = torch.get_num_threads()

    def timed(k: int) -> float:
        torch.set_num_threads(k)
        t = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        return time.perf_counter() - t

    try:
        timed(n)  # warm-up: thread pool start, caches
        one, many = [], []
        for _ in range(repeats):
            one.append(timed(1))
            many.append(timed(n))
    finally:
        torch.set_num_threads(before)
    return statistics.median(one) / statistics.median(many)


def sharing_cores(speedup: float, threads: int) -> bool:
    """Torch's ``threads`` ran the probe at ``speedup`` times one thread's speed: are their cores shared?"""
    return threads > 1 and speedup < SHARED_BELOW


class ThreadCheck(Callbacks):
    """During CPU training with more than one torch thread: probe ``first_s`` seconds into each run it watches and
    then every ``every_s`` seconds, and call ``warn(speedup, threads)`` once when the cores are shared (the CLI words it)."""

    def __init__(self, warn: Callable[[float, int], None], first_s: float | None = None, every_s: float | None = None,
                 probe: Callable[[int], float] | None = None):
        self.warn, self.probe = warn, probe or thread_speedup
        self.first_s = FIRST_PROBE_S if first_s is None else first_s
        self.every_s = PROBE_EVERY_S if every_s is None else every_s
        self.next_at: float | None = None  # monotonic time of the next probe; None: not probing
        self.warned = False  # once per ThreadCheck, however many runs it watches (the demo trains several)

    def on_start(self, info: dict) -> None:
        import torch

        self.threads = torch.get_num_threads()
        on_cpu = str(info.get("device", "cpu")).startswith("cpu")
        self.next_at = time.monotonic() + self.first_s if on_cpu and self.threads > 1 and not self.warned else None

    def on_log(self, record: dict) -> None:
        if self.next_at is None or time.monotonic() < self.next_at:
            return
        speedup = self.probe(self.threads)
        if sharing_cores(speedup, self.threads):
            self.warn(speedup, self.threads)
            self.warned, self.next_at = True, None
        else:
            self.next_at = time.monotonic() + self.every_s
