"""bf16 recurrent kernel vs torch's fused fp32 cells: training tokens/s on CPU, with a matmul calibration.

    python benchmarks/bench_bf16.py                         # char default: LSTM 2x384 on one-hot input, batch 32, bptt 128
    python benchmarks/bench_bf16.py --cell gru --seconds 60 --threads 1
    python benchmarks/bench_bf16.py --profile --threads 1    # where a bf16 training step spends its time
    SEQTOOL_NO_C_KERNELS=1 python benchmarks/bench_bf16.py --profile   # the same with the torch steps

The paths (fused fp32; the bf16 kernel with its compiled C steps; the same with the eager torch steps) train the same seqtool LanguageModel (Adam, clip 1.0, state carried between windows) on
random token ids (throughput does not depend on the text); they alternate in rounds within one process
so other load on a shared machine skews both alike. Plain matmul GFLOP/s in fp32 and bf16 are measured
before and after, to tell a slow machine from a slow kernel. Prints one JSON document. ``--profile`` instead
runs a few bf16 steps under torch.profiler and prints each kind of work's share of the profiled time.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from seqtool.models.config import LEVEL_DEFAULTS, ModelConfig  # noqa: E402
from seqtool.models.lm import LanguageModel  # noqa: E402

CHAR = LEVEL_DEFAULTS["char"]
SHAPES = [(32, 384, 1536), (4096, 384, 1536)]  # one recurrent step (batch 32, hidden 384); a window's input projection


def matmul_gflops(seconds: float) -> dict:
    """GFLOP/s of plain (M x K) @ (K x N) matmuls in fp32 and bf16."""
    out = {}
    for m, k, n in SHAPES:
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
            a @ b
            calls, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                a @ b
                calls += 1
            out[f"{m}x{k}x{n} {name}"] = round(2 * m * k * n * calls / (time.perf_counter() - t0) / 1e9, 1)
    return out


class Setup:
    """One training setup: a model, its optimizer and carried state, timed per step."""

    def __init__(self, args, bf16: bool, c_steps: bool = True):
        torch.manual_seed(0)
        self.c_steps = "0" if c_steps else "1"  # SEQTOOL_NO_C_KERNELS while this path steps
        cfg = ModelConfig(vocab_size=args.vocab, cell=args.cell, hidden=args.hidden, layers=args.layers,
                          embed_dim=args.embed_dim, dropout=CHAR["dropout"])
        self.model = LanguageModel(cfg.validate()).train()
        self.model.use_bf16_matmuls(bf16)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=2e-3)
        self.ids = torch.randint(0, args.vocab, (args.bptt + 1, args.batch))
        self.state, self.seconds, self.steps, self.losses = None, 0.0, 0, []

    def step(self) -> None:
        os.environ["SEQTOOL_NO_C_KERNELS"] = self.c_steps
        t0 = time.perf_counter()
        loss, state = self.model.loss(self.ids[:-1], self.ids[1:], self.state)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.state = self.model.detach_state(state)
        self.seconds += time.perf_counter() - t0
        self.steps += 1
        self.losses.append(float(loss.detach()))


def train_flops_per_token(args) -> float:
    """Forward + backward matmul FLOPs per token (backward = 2x forward), LSTM 4 / GRU 3 / RNN 1 gates."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[args.cell]
    d = args.embed_dim or args.vocab
    fwd = sum(2 * gates * args.hidden * ((d if k == 0 else args.hidden) + args.hidden) for k in range(args.layers))
    return 3 * (fwd + 2 * args.hidden * args.vocab)


MATMULS = {"aten::mm", "aten::addmm", "aten::matmul", "aten::linear", "aten::bmm"}
CASTS = {"aten::to", "aten::_to_copy", "aten::copy_", "aten::clone"}


def op_kind(name: str, shapes: list, batch: int) -> str:
    """The kind of work an outermost aten op does: a per-step op reads (batch, n) tensors, a window op (T, batch, n)."""
    first = next((s for s in shapes if s), [])
    per_step = len(first) == 2 and first[0] == batch or len(first) == 3 and first[0] == batch and first[1] < batch
    if name in MATMULS:
        return "matmul per step" if per_step else "matmul whole window"
    if name in CASTS:
        return "casts and copies"
    if name.startswith("aten::_foreach"):
        return "optimizer"
    return "elementwise per step" if per_step else "elementwise whole window and other ops"


def profile_shares(events, wall_us: float, batch: int) -> dict:
    """Per cent of ``wall_us`` per kind of work, from the profiler's events: each outermost aten op's total time
    (what it calls counts with it); what no aten op covers (Python, autograd, the profiler) is the rest."""
    spent = collections.Counter()
    for ev in events:
        parent = ev.cpu_parent
        while parent is not None and not parent.name.startswith("aten::"):
            parent = parent.cpu_parent
        if ev.name.startswith("aten::") and parent is None:
            spent[op_kind(ev.name, ev.input_shapes, batch)] += ev.cpu_time_total
    spent["rest: python, autograd, profiler"] = max(0.0, wall_us - sum(spent.values()))
    return {kind: round(100 * us / wall_us, 1) for kind, us in spent.most_common()}


def profile(args, steps: int = 3) -> dict:
    """The shares of one bf16 training step, over ``steps`` profiled steps after two warm-up steps."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    path = Setup(args, bf16=True, c_steps=os.environ.get("SEQTOOL_NO_C_KERNELS", "") in ("", "0"))
    path.step()
    path.step()
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            path.step()
        wall = time.perf_counter() - t0
    return {"profiled_step_ms": round(1e3 * wall / steps), "share_percent": profile_shares(prof.events(), 1e6 * wall, args.batch)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cell", default="lstm", choices=("lstm", "gru", "rnn"))
    p.add_argument("--hidden", type=int, default=CHAR["hidden"])
    p.add_argument("--layers", type=int, default=CHAR["layers"])
    p.add_argument("--embed-dim", type=int, default=CHAR["embed_dim"], help="0: one-hot inputs (the char default)")
    p.add_argument("--batch", type=int, default=CHAR["batch_size"])
    p.add_argument("--bptt", type=int, default=CHAR["bptt"])
    p.add_argument("--vocab", type=int, default=65, help="tiny shakespeare has 65 characters")
    p.add_argument("--seconds", type=float, default=30.0, help="training time per path (after one warm-up step each)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--profile", action="store_true", help="profile a few bf16 steps instead: each kind of work's share")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    if args.profile:
        print(json.dumps({"threads": args.threads, **profile(args), "command": command}, indent=2))
        return
    before = matmul_gflops(0.5)
    paths = {"fp32 fused": Setup(args, bf16=False), "bf16 kernel": Setup(args, bf16=True),
             "bf16 kernel, torch steps": Setup(args, bf16=True, c_steps=False)}
    for path in paths.values():  # warm-up: oneDNN's first call prepares its kernels
        path.step()
        path.seconds = path.steps = 0
    while min(path.seconds for path in paths.values()) < args.seconds:
        for path in paths.values():
            path.step()
    after = matmul_gflops(0.5)
    tokens = args.batch * args.bptt
    rate = {name: tokens * path.steps / path.seconds for name, path in paths.items()}
    flops = train_flops_per_token(args)
    print(json.dumps({
        "what": f"{args.cell} {args.layers}x{args.hidden}, embed {args.embed_dim or 'one-hot'}, batch {args.batch}, bptt {args.bptt}, vocab {args.vocab}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads",
        "tokens_per_s": {k: round(v) for k, v in rate.items()},
        "speedup_bf16": round(rate["bf16 kernel"] / rate["fp32 fused"], 2),
        "speedup_bf16_torch_steps": round(rate["bf16 kernel, torch steps"] / rate["fp32 fused"], 2),
        "train_gflops": {k: round(v * flops / 1e9, 1) for k, v in rate.items()},
        "steps": {k: path.steps for k, path in paths.items()},
        "last_loss": {k: round(path.losses[-1], 3) for k, path in paths.items()},
        "matmul_gflops_before": before, "matmul_gflops_after": after,
        "command": command,
    }, indent=2))


if __name__ == "__main__":
    main()
