"""Distributed training on one machine: tokens/s of 2 processes x 1 thread against 1 process x 2 threads and x 1 thread,
and the cost of the gradient all-reduce.

  python benchmarks/bench_distributed.py scaling --config char --seconds 60   # tiny shakespeare, the char default
  python benchmarks/bench_distributed.py scaling --config ptb --seconds 60    # PTB, word default, adaptive softmax
  python benchmarks/bench_distributed.py allreduce --floats 4000000           # gloo all-reduce of a gradient this size

scaling: `seqtool train` three ways on the same corpus and model with the same global batch, each for
--seconds of training; the figure is the median tokens/s of metrics.jsonl's log intervals (the
first one left out: warm-up). Efficiency = tokens/s / (processes x threads x the 1x1 rate).
allreduce: two gloo processes (1 thread each) all-reduce a float32 tensor the size of a model's
gradients; seconds per call, and the bandwidth it implies. Calibration before and after. Run alone.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import Measured, add_corpora_option, corpora_dir, shown  # noqa: E402

CONFIGS = {
    "char": lambda c: [str(c / "tinyshakespeare.txt"), "--level", "char", "--batch-size", "32"],
    "ptb": lambda c: [str(c / "ptb" / "ptb.train.txt"), "--val", str(c / "ptb" / "ptb.valid.txt"), "--level", "word",
                      "--adaptive-softmax", "2000,6000", "--batch-size", "20"],
}
WAYS = {"1 process x 1 thread": ["--threads", "1"], "1 process x 2 threads": ["--threads", "2"],
        "2 processes x 1 thread": ["--threads", "1", "--nproc", "2"]}


def rate(args: list[str], seconds: float) -> tuple[float, dict]:
    out = tempfile.mkdtemp(prefix="bench-dist-")
    cmd = [sys.executable, "-m", "seqtool", "train", *args, "--time-budget", f"{seconds}s", "--eval-every", "1000000",
           "--log-every", "10", "--out", out, "--force", "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"train failed: {r.stderr.strip()}")
    rows = [json.loads(line) for line in Path(out, "metrics.jsonl").read_text().splitlines()]
    rates = [x["tokens_per_sec"] for x in rows if x.get("tokens_per_sec")][1:]
    params = next((x["params"] for x in reversed(rows) if "params" in x), None)
    return statistics.median(rates), {"intervals": len(rates), "params": params, "command": " ".join(cmd[1:])}


def scaling(config: str, seconds: float, corpora: Path) -> dict:
    results = {}
    with Measured() as m:
        for name, extra in WAYS.items():
            tps, info = rate([*CONFIGS[config](corpora), *extra], seconds)
            results[name] = {"tokens_per_sec": round(tps), "intervals": info["intervals"], "command": shown(info["command"], corpora)}
            params = info["params"]
    one = results["1 process x 1 thread"]["tokens_per_sec"]
    for name, r in results.items():
        r["x_one_thread"] = round(r["tokens_per_sec"] / one, 2)
    return {"benchmark": "scaling", "config": config, "seconds": seconds, "params": params, "ways": results, **m.record()}


def _allreduce_worker(rank: int, floats: int, calls: int, port: int, out) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    t = torch.randn(floats)
    dist.all_reduce(t)  # warm-up: connections
    times = []
    for _ in range(calls):
        dist.barrier()
        s = time.perf_counter()
        dist.all_reduce(t)
        times.append(time.perf_counter() - s)
    if rank == 0:
        out.put(statistics.median(times))
    dist.destroy_process_group()


def allreduce(floats: int, calls: int) -> dict:
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    with Measured() as m:  # the workers are joined inside, so their CPU time counts as this run's own
        procs = [ctx.Process(target=_allreduce_worker, args=(r, floats, calls, port, q)) for r in range(2)]
        for p in procs:
            p.start()
        seconds = q.get(timeout=600)
        for p in procs:
            p.join()
    return {"benchmark": "allreduce", "floats": floats, "megabytes": round(floats * 4 / 1e6, 1), "seconds_per_call": round(seconds, 5),
            "algorithm_gb_per_s": round(floats * 4 / seconds / 1e9, 2), **m.record(), "command": "python " + " ".join(sys.argv)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    sp = sub.add_parser("scaling")
    sp.add_argument("--config", choices=sorted(CONFIGS), default="char")
    sp.add_argument("--seconds", type=float, default=60)
    add_corpora_option(sp)
    ar = sub.add_parser("allreduce")
    ar.add_argument("--floats", type=int, default=4_000_000)
    ar.add_argument("--calls", type=int, default=20)
    a = ap.parse_args()
    print(json.dumps(scaling(a.config, a.seconds, corpora_dir()) if a.what == "scaling" else allreduce(a.floats, a.calls), indent=1))


if __name__ == "__main__":
    main()
