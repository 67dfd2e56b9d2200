"""What every benchmark script shares: where the corpora are (``--corpora DIR``) and whether a measurement is valid.

The corpora directory is ``--corpora DIR``, else ``$SEQTOOL_CORPORA``, else ``../shared/corpora``
beside the repository (benchmarks/README.md says where each file comes from).

A measurement is valid when nothing else ran: the calibration figure (a fixed fp32 matmul's
GFLOP/s) taken before and after moved by less than 15%, and the CPU time other processes used
during the run -- the machine's busy time from /proc/stat less this process tree's own CPU time --
stayed under a tenth of one core on average. The 1-minute load average is recorded for information
only: it still carries a benchmark that ended a minute ago, so it flagged runs that followed one.
Figures from different CPUs are not comparable (the same code ran 2x384's training step 30x slower on a CPU
without native bf16 when its matmuls were bf16), so every record names the CPU (``cpu_info``).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

DEFAULT_CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"
DRIFT_LIMIT = 0.15  # the calibration may move by less than this fraction
FOREIGN_CPU_LIMIT = 0.10  # cores: other processes may use a tenth of one core on average


def corpora_dir(argv: list[str] | None = None) -> Path:
    """The corpora directory named by ``--corpora DIR`` in ``argv`` (default: sys.argv), $SEQTOOL_CORPORA, or the default."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--corpora", default=None)
    given = ap.parse_known_args(argv)[0].corpora
    return Path(given or os.environ.get("SEQTOOL_CORPORA") or DEFAULT_CORPORA)


def add_corpora_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--corpora", default=None, metavar="DIR",
                    help=f"the benchmark corpora (benchmarks/README.md); default $SEQTOOL_CORPORA or {DEFAULT_CORPORA}")


def shown(path: Path | str, corpora: Path) -> str:
    """A command line with the corpora directory written as the default's relative path, so it reads the same on every machine."""
    return str(path).replace(str(corpora), "../shared/corpora")


def calibrate() -> dict:
    """GFLOP/s of a fixed 1024^3 fp32 matmul on torch's default threads, best of 20 blocks of 10 (about 3 s: best of
    5 moved 99-181 GFLOP/s between back-to-back calls on the idle machine), and the 1-minute load (information only)."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = 0.0
    for _ in range(20):
        t = time.perf_counter()
        for _ in range(10):
            a @ b
        best = max(best, 10 * 2 * 1024**3 / (time.perf_counter() - t) / 1e9)
    return {"gflops": round(best, 1), "load1": os.getloadavg()[0]}


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """The first CPU's model name, family/model numbers (a cloud "AMD EPYC" may be Zen 3 or Zen 4), its widest
    vector extension, and whether torch multiplies bf16 natively here (AVX512-BF16 or AMX: --precision auto's test)."""
    import torch

    from seqtool.devices import cpu_has_bf16

    try:
        text = cpuinfo.read_text()
    except OSError:
        text = ""
    first: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        first.setdefault(key.strip(), value.strip())
    flags = set(first.get("flags", "").split())
    widest = next((f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2", "avx") if f in flags), "none seen")
    return {"model": first.get("model name", "unknown"), "family_model": f"{first.get('cpu family', '?')}/{first.get('model', '?')}",
            "widest_simd": widest, "native_bf16": cpu_has_bf16(), "torch": torch.__version__}


def parse_proc_stat(text: str) -> tuple[int, int]:
    """(busy jiffies summed over all CPUs, number of CPUs) from the text of /proc/stat.

    Busy is user + nice + system + irq + softirq + steal of the aggregate ``cpu`` line: everything but
    idle and iowait (guest time is already inside user and nice, proc(5))."""
    busy, cpus = None, 0
    for line in text.splitlines():
        name, *fields = line.split() or [""]
        if name == "cpu":
            f = [int(x) for x in fields] + [0] * 10
            busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7]
        elif name.startswith("cpu") and name[3:].isdigit():
            cpus += 1
    if busy is None:
        raise ValueError("no aggregate 'cpu' line in /proc/stat")
    return busy, cpus


def cpu_counters(proc_stat: Path = Path("/proc/stat")) -> dict:
    """Now: monotonic wall time, the machine's busy CPU seconds, and this process tree's own CPU seconds.

    Own time is os.times(): this process's threads plus every child (and their children) waited for,
    so a benchmark that runs ``seqtool train`` as a subprocess counts it as its own once it exits."""
    busy, cpus = parse_proc_stat(proc_stat.read_text())
    t = os.times()
    return {"wall_s": time.monotonic(), "busy_s": busy / os.sysconf("SC_CLK_TCK"), "cpus": cpus,
            "own_s": t.user + t.system + t.children_user + t.children_system}


def foreign_cpu(start: dict, end: dict) -> dict:
    """The CPU other processes used between two cpu_counters(): average cores, and the fraction of the machine."""
    wall = max(end["wall_s"] - start["wall_s"], 1e-9)
    busy = (end["busy_s"] - start["busy_s"]) / wall
    own = (end["own_s"] - start["own_s"]) / wall
    cores = max(busy - own, 0.0)  # tick granularity can make it a hair negative on a quiet machine
    return {"cores": round(cores, 3), "of_machine": round(cores / max(end["cpus"], 1), 3), "busy_cores": round(busy, 3),
            "own_cores": round(own, 3), "cpus": end["cpus"], "wall_s": round(wall, 1)}


def invalid_because(before: dict, after: dict, foreign: dict) -> list[str]:
    """Why a measurement is invalid, one line per failed check (empty: valid), from its calibrations and foreign CPU."""
    why = []
    drift = abs(after["gflops"] - before["gflops"]) / before["gflops"]
    if drift >= DRIFT_LIMIT:
        why.append(f"calibration moved {drift:.0%} ({before['gflops']} -> {after['gflops']} GFLOP/s; limit {DRIFT_LIMIT:.0%})")
    if foreign["cores"] > FOREIGN_CPU_LIMIT:
        why.append(f"other processes used {foreign['cores']:.2f} cores on average over {foreign['wall_s']} s "
                   f"({foreign['of_machine']:.0%} of {foreign['cpus']} CPUs; limit {FOREIGN_CPU_LIMIT} of one core)")
    return why


def best_seconds(steps: dict, seconds: float, rounds: int, warmup: int = 3, min_reps: int = 3) -> dict:
    """Best seconds per call of each of ``steps`` (key -> a no-argument callable), timed in interleaved rounds.

    Each step is first called ``warmup`` times (allocator, oneDNN's primitive caches, a kernel's first build), then
    sized to about ``seconds / rounds`` per round (at least ``min_reps`` calls). Each round times every step once,
    so a burst of load from elsewhere hits all of them alike rather than one; the best round of each is kept.
    """
    reps = {}
    for key, step in steps.items():
        for _ in range(warmup):
            step()
        t0 = time.perf_counter()
        step()
        reps[key] = max(min_reps, int(seconds / rounds / max(time.perf_counter() - t0, 1e-6)))
    best = {key: float("inf") for key in steps}
    for _ in range(rounds):
        for key, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(reps[key]):
                step()
            best[key] = min(best[key], (time.perf_counter() - t0) / reps[key])
    return best


class Measured:
    """Calibration before and after a block and the CPU other processes used during it.

        with Measured() as m:
            figures = run_the_benchmark()
        figures.update(m.record())   # calibration_before/after, foreign_cpu, valid, invalid_because
    """

    def __enter__(self) -> "Measured":
        self.before = calibrate()
        self.start = cpu_counters()
        return self

    def __exit__(self, exc_type, *_) -> None:
        self.end = cpu_counters()
        if exc_type is None:  # no second calibration for a run that failed
            self.after = calibrate()

    def record(self) -> dict:
        foreign = foreign_cpu(self.start, self.end)
        why = invalid_because(self.before, self.after, foreign)
        return {"cpu": cpu_info(), "calibration_before": self.before, "calibration_after": self.after, "foreign_cpu": foreign,
                "valid": not why, "invalid_because": why}
