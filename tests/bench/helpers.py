"""Stand-ins for the benchmark tests: a measurement with given figures, so no test calibrates or reads the real load."""
from __future__ import annotations

from benchmarks import common


def fake_measured(gflops_after: float, foreign_busy_s: float):
    """A Measured whose figures are given: calibration 100 -> gflops_after, and foreign_busy_s of other CPU over 10 s."""

    class Fake(common.Measured):
        def __enter__(self):
            self.before = {"gflops": 100.0, "load1": 2.5}
            self.start = {"wall_s": 0.0, "busy_s": 0.0, "own_s": 0.0, "cpus": 2}
            return self

        def __exit__(self, *exc):
            self.end = {"wall_s": 10.0, "busy_s": 10.0 + foreign_busy_s, "own_s": 10.0, "cpus": 2}
            self.after = {"gflops": gflops_after, "load1": 2.5}

    return Fake
