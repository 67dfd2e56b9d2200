"""The training step's achieved GFLOP/s as a share of this machine's fp32 and bf16 matmul peaks (issue 15).

    python benchmarks/bench_flops.py                    # the char default: LSTM 2x384 on one-hot input (65 chars), batch 32, bptt 128
    python benchmarks/bench_flops.py --config ptb       # PTB word config, full softmax: LSTM 2x200, embedding 200, vocab 10,000, batch 20, bptt 35
    python benchmarks/bench_flops.py --steps 60 --threads 1

The FLOPs are counted, not measured: a training step's matmuls, each (M x K) @ (K x N) costing 2 M K N
in the forward and twice that in the backward (dX = dY W and dW = dY^T X, each as large as the forward;
the usual 3x forward of Kaplan et al. 2020, 6 N per token). M is every token of the window, T B; per layer k
of an LSTM (G = 4 gate blocks; GRU 3, tanh RNN 1) with input width D_k (the vocabulary for one-hot inputs,
the embedding width, or H above the first layer):

    input projection  2 (T B) D_k (G H)    one matmul for the window (one-hot inputs too, as both kernels run them)
    recurrent         2 (T B) H (G H)      T matmuls of (B x H) @ (H x G H)
    decoder           2 (T B) H V          the full softmax's output layer

With one-hot inputs the count is slightly high: nothing below the first layer trains, so its dX is never
computed (2 T B V G H; 1.7% of the char default's count; an embedding does need it). Gates, softmax,
the optimizer and the embedding lookup are not matmuls and not counted. tests/bench/test_bench_flops.py
holds the count to torch's FlopCounterMode over a step of the bf16 kernel.

The step (benchmarks/bench_bf16.py's: forward, backward, clip 1.0, Adam, dropout 0.1) is timed in fp32
(torch's fused cells) and with the bf16 kernel (seqtool/models/bf16_rnn.py, ``--precision bf16``),
alternating in blocks after a warm-up; the peaks are the best GFLOP/s of a large square matmul in each
dtype. Prints one JSON document with the figures, the reproduce command and benchmarks/common.py's
validity check.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import torch  # noqa: E402

from benchmarks.common import Measured  # noqa: E402

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
CONFIGS = {
    "char": {"what": "seqtool's char default (LSTM 2x384 on one-hot input, vocabulary 65 as tiny shakespeare, batch 32, bptt 128)",
             "cell": "lstm", "vocab": 65, "embed_dim": 0, "hidden": 384, "layers": 2, "batch": 32, "bptt": 128},
    "ptb": {"what": "PTB word config, full softmax (LSTM 2x200, embedding 200, vocabulary 10,000, batch 20, bptt 35)",
            "cell": "lstm", "vocab": 10000, "embed_dim": 200, "hidden": 200, "layers": 2, "batch": 20, "bptt": 35},
}


def step_flops(cell: str, vocab: int, embed_dim: int, hidden: int, layers: int, batch: int, bptt: int) -> dict:
    """Matmul FLOPs of one training step (see the module docstring), per part: forward, and forward + backward."""
    m, gh = bptt * batch, GATES[cell] * hidden  # rows of every matmul; the gate blocks' width
    forward = {"input_projection": sum(2 * m * (embed_dim or vocab if k == 0 else hidden) * gh for k in range(layers)),
               "recurrent": layers * 2 * m * hidden * gh,
               "decoder": 2 * m * hidden * vocab}
    train = {part: 3 * f for part, f in forward.items()}  # backward = 2x forward
    return {"forward": forward, "train": train, "train_total": sum(train.values()), "tokens": m}


def peak_gflops(dtype: torch.dtype, n: int, calls: int) -> float:
    """The best GFLOP/s of ``calls`` (n x n) @ (n x n) matmuls in ``dtype``, after one warm-up call."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(calls):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def measure_steps(c: dict, steps: int, warmup: int, block: int) -> dict:
    """Mean seconds per step of the fp32 and bf16 paths (bench_bf16's setup: Adam, clip 1.0, carried state, dropout
    0.1, random ids), ``steps`` each after ``warmup``, in alternating blocks of ``block`` steps."""
    from benchmarks.bench_bf16 import Setup

    args = argparse.Namespace(**{k: c[k] for k in ("cell", "vocab", "embed_dim", "hidden", "layers", "batch", "bptt")})
    paths = {"fp32": Setup(args, bf16=False), "bf16_kernel": Setup(args, bf16=True)}
    for path in paths.values():
        for _ in range(warmup):  # oneDNN's first calls prepare its kernels
            path.step()
        path.seconds = path.steps = 0
    while min(path.steps for path in paths.values()) < steps:
        for path in paths.values():
            for _ in range(block):
                path.step()
    return {name: path.seconds / path.steps for name, path in paths.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=tuple(CONFIGS), default="char")
    ap.add_argument("--steps", type=int, default=40, help="timed steps per path, after --warmup")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--block", type=int, default=5, help="steps per path before the other path runs")
    ap.add_argument("--peak-size", type=int, default=2048, help="n of the n x n x n matmul that measures each peak")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    c = CONFIGS[args.config]
    flops = step_flops(c["cell"], c["vocab"], c["embed_dim"], c["hidden"], c["layers"], c["batch"], c["bptt"])
    with Measured() as m:
        peaks = {"fp32": peak_gflops(torch.float32, args.peak_size, 10), "bf16": peak_gflops(torch.bfloat16, args.peak_size, 10)}
        seconds = measure_steps(c, args.steps, args.warmup, args.block)
    achieved = {name: flops["train_total"] / s / 1e9 for name, s in seconds.items()}
    print(json.dumps({
        "config": c["what"],
        "matmul_gflop_per_step": {"forward": {k: round(v / 1e9, 3) for k, v in flops["forward"].items()},
                                  "forward_and_backward": round(flops["train_total"] / 1e9, 3)},
        "step_ms_mean": {k: round(v * 1e3, 2) for k, v in seconds.items()},
        "tokens_per_s": {k: round(flops["tokens"] / v) for k, v in seconds.items()},
        "bf16_kernel_speedup": round(seconds["fp32"] / seconds["bf16_kernel"], 2),
        "achieved_gflops": {k: round(v, 1) for k, v in achieved.items()},
        f"peak_gflops_{args.peak_size}_cubed": {k: round(v, 1) for k, v in peaks.items()},
        "share_of_peak": {f"{path} of {dtype} peak": round(a / p, 3) for path, a in achieved.items() for dtype, p in peaks.items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
        **m.record(),
        "reproduce": f"python benchmarks/bench_flops.py --config {args.config} --steps {args.steps} --warmup {args.warmup} "
                     f"--block {args.block} --peak-size {args.peak_size} --threads {args.threads}",
    }, indent=2))


if __name__ == "__main__":
    main()
