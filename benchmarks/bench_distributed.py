"""Distributed training on one machine: tokens/s of 2 processes x 1 thread against 1 process x 2 threads and x 1 thread,
and the cost of the gradient all-reduce.

  python benchmarks/bench_distributed.py scaling --config char --seconds 60   # tiny shakespeare, the char default
  python benchmarks/bench_distributed.py scaling --config ptb --seconds 60    # PTB, word default, adaptive softmax
  python benchmarks/bench_distributed.py allreduce --floats 4000000           # gloo all-reduce of a gradient this size
  python benchmarks/bench_distributed.py rss --gb 2 --steps 200                # resident memory per process, data bigger than RAM

scaling: `seqtool train` three ways on the same corpus and model with the same global batch, each for
--seconds of training; the figure is the median tokens/s of metrics.jsonl's log intervals (the
first one left out: warm-up). Efficiency = tokens/s / (processes x threads x the 1x1 rate).
allreduce: two gloo processes (1 thread each) all-reduce a float32 tensor the size of a model's
gradients; seconds per call, and the bandwidth it implies. Calibration before and after. Run alone.
rss: a generated train.npy of --gb (uint16 ids, the format `seqtool tokenize` writes for a vocabulary over 256,
beside the tokenizer.json of a small word corpus), then `seqtool train DIR --nproc 2` for --steps steps while each
process's /proc/PID/status is sampled: the peak VmRSS (and its anonymous and file-backed parts) and VmHWM per rank,
against the file's size. The ids are read through a memory map, each rank its own columns: a rank's anonymous memory
stays that of torch and the model, whatever the file's size; file-backed pages are the windows read so far.
The file is written under $TMPDIR (--gb of free space) and removed at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
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


def ids_dir(directory: Path, gb: float, seed: int = 0) -> Path:
    """A tokenize output directory whose train.npy holds ``gb`` GB of random uint16 ids of its vocabulary."""
    import numpy as np

    words = [f"w{i}" for i in range(2000)]  # a vocabulary over 256: uint16 ids, as seqtool tokenize stores them
    text = directory / "words.txt"
    text.write_text("\n".join(" ".join(words[(i * 7 + k) % len(words)] for k in range(20)) for i in range(400)) + "\n")
    data = directory / "data"
    r = subprocess.run([sys.executable, "-m", "seqtool", "tokenize", str(text), "--level", "word", "--val-fraction", "0.1",
                        "--out", str(data), "--quiet"], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"tokenize failed: {r.stderr.strip()}")
    vocab = len(json.loads((data / "tokenizer.json").read_text())["vocab"]["tokens"])
    n, chunk, rng = int(gb * 1e9) // 2, 1 << 24, np.random.default_rng(seed)
    ids = np.lib.format.open_memmap(data / "train.tmp.npy", mode="w+", dtype=np.uint16, shape=(n,))
    for a in range(0, n, chunk):  # in chunks: the generator itself stays small
        ids[a : a + chunk] = rng.integers(2, vocab, size=min(chunk, n - a), dtype=np.uint16)
    ids.flush()
    del ids
    os.replace(data / "train.tmp.npy", data / "train.npy")
    return data


def _status(pid: int) -> dict:
    """VmRSS, VmHWM, RssAnon, RssFile of a process in MB (empty once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = dict(ln.split(":", 1) for ln in lines if ":" in ln)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile") if k in fields}


def _ranks(launcher: int) -> dict[int, int]:
    """pid -> RANK of the worker processes the launcher's torchrun agent started."""
    out = {}
    for pid in subprocess.run(["pgrep", "-P", str(launcher)], capture_output=True, text=True).stdout.split():
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        rank = next((e.split(b"=", 1)[1] for e in env if e.startswith(b"RANK=")), None)
        if rank is not None:
            out[int(pid)] = int(rank)
    return out


def rss(gb: float, steps: int, every: float) -> dict:
    """Peak resident memory per rank of a 2-process `seqtool train` on a generated ids file of ``gb`` GB (removed after)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-rss-"))
    try:
        data = ids_dir(tmp, gb)
        size = (data / "train.npy").stat().st_size
        cmd = [sys.executable, "-m", "seqtool", "train", str(data), "--nproc", "2", "--threads", "1", "--max-steps", str(steps),
               "--batch-size", "32", "--bptt", "64", "--hidden", "64", "--layers", "1", "--eval-every", str(steps),
               "--device", "cpu", "--out", str(tmp / "run"), "--quiet"]
        peak = _sampled(cmd, every)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mb = size / 2**20
    ranks = {k: {**v, "peak_rss_x_file": round(v.get("VmRSS", 0) / mb, 3)} for k, v in sorted(peak.items())}
    return {"benchmark": "rss", "file_mb": round(mb, 1), "ids": size // 2, "steps": steps, "peak_mb": ranks,
            "note": f"peaks of samples every {every:g}s (VmHWM: the kernel's own peak of VmRSS); RssFile includes torch's libraries",
            "command": "python " + " ".join(sys.argv), "train_command": " ".join(cmd[1:]).replace(str(tmp), "TMP")}


def _sampled(cmd: list[str], every: float) -> dict[str, dict]:
    """Run ``cmd`` (a `seqtool train --nproc` launcher); the peak of each figure of _status per rank and for the launcher."""
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak: dict[str, dict] = {}
    while proc.poll() is None:
        for pid, name in {**{p: f"rank {r}" for p, r in _ranks(proc.pid).items()}, proc.pid: "launcher"}.items():
            was = peak.setdefault(name, {})
            for k, v in _status(pid).items():
                was[k] = round(max(was.get(k, 0.0), v), 1)
        time.sleep(every)
    _, err = proc.communicate()
    if proc.returncode:
        sys.exit(f"train failed: {err.strip()}")
    return peak


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
    rs = sub.add_parser("rss")
    rs.add_argument("--gb", type=float, default=2.0, help="size of the generated train.npy (uint16 ids)")
    rs.add_argument("--steps", type=int, default=200)
    rs.add_argument("--every", type=float, default=0.1, help="seconds between samples of /proc/PID/status")
    a = ap.parse_args()
    if a.what == "rss":
        print(json.dumps(rss(a.gb, a.steps, a.every), indent=1))
        return
    print(json.dumps(scaling(a.config, a.seconds, corpora_dir()) if a.what == "scaling" else allreduce(a.floats, a.calls), indent=1))


if __name__ == "__main__":
    main()
