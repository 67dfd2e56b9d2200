"""What every benchmark script shares: where the corpora are (``--corpora DIR``) and the calibration figure.

The corpora directory is ``--corpora DIR``, else ``$SEQTOOL_CORPORA``, else ``../shared/corpora``
beside the repository (benchmarks/README.md says where each file comes from). The calibration is
a fixed fp32 matmul's GFLOP/s and the load average, taken before and after a measurement: a run
where it moved by more than 15%, or that started on a busy machine, is marked invalid.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

DEFAULT_CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"


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
    """GFLOP/s of a fixed 1024^3 fp32 matmul on torch's default threads, best of 5, and the 1-minute load."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(10):
            a @ b
        best = max(best, 10 * 2 * 1024**3 / (time.perf_counter() - t) / 1e9)
    return {"gflops": round(best, 1), "load1": os.getloadavg()[0]}


def valid(before: dict, after: dict) -> bool:
    """Nothing else ran: the calibration moved by less than 15% and the machine was quiet at the start."""
    return abs(after["gflops"] - before["gflops"]) / before["gflops"] < 0.15 and before["load1"] < 1.0
