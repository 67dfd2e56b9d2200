"""Forward+backward throughput of every cell, as a ratio to the fused tanh RNN of the same size.

Times a whole training step's compute (one-hot input -> cell -> decoder -> cross-entropy,
backward) of a 1-layer LanguageModel ("lm"), and the cell alone (random input -> cell -> sum,
backward; "cell"), all measured in the same run so ratios are comparable across machines.
Prints JSON, with the command that reproduces it.

    python benchmarks/bench_cells.py [--hidden 256] [--seq-len 50] [--batch 32] [--vocab 65] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from benchmarks.common import best_seconds  # noqa: E402
from seqtool.models import CELLS, ModelConfig, build_model  # noqa: E402


def _steps(cell: str, args):
    """Two closures, each one forward+backward: the whole LM step and the cell alone."""
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=args.vocab, cell=cell, hidden=args.hidden, layers=1, embed_dim=0)
    model = build_model(cfg).train()
    ids = torch.randint(0, args.vocab, (args.seq_len + 1, args.batch))
    inputs, targets = ids[:-1], ids[1:]  # (T, B) each

    def lm_step():
        model.zero_grad(set_to_none=True)
        logits, _ = model(inputs)  # (T, B, V)
        F.cross_entropy(logits.reshape(-1, args.vocab), targets.reshape(-1)).backward()

    x = torch.randn(args.seq_len, args.batch, cfg.input_dim)  # (T, B, V), like one-hot input

    def cell_step():
        model.zero_grad(set_to_none=True)
        out, _ = model.rnn(x, inputs) if cell == "jordan" else model.rnn(x)  # (T, B, H)
        out.sum().backward()

    return {"lm": lm_step, "cell": cell_step}


def measure(cells: list[str], args) -> dict:
    """Best seconds per step for every (cell, mode), measured in interleaved rounds (benchmarks/common.py)."""
    steps = {(c, mode): step for c in cells for mode, step in _steps(c, args).items()}
    return best_seconds(steps, args.seconds, args.rounds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--seq-len", type=int, default=50)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=65)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0, help="timing budget per cell and mode")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds; the best is kept")
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated subset of " + ",".join(CELLS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    cells = [c for c in args.cells.split(",") if c]
    unknown = sorted(set(cells) - set(CELLS))
    if unknown:
        parser.error(f"unknown cell(s) {', '.join(unknown)}; choose from {', '.join(CELLS)}")
    best = measure(list(dict.fromkeys(["rnn", *cells])), args)
    tokens = args.seq_len * args.batch
    results = {}
    for c in cells:
        results[c] = {}
        for mode in ("lm", "cell"):
            results[c][f"{mode}_tokens_per_s"] = round(tokens / best[c, mode])
            results[c][f"{mode}_ratio_vs_rnn"] = round(best["rnn", mode] / best[c, mode], 3)
    report = {
        "what": "forward+backward tokens/s, 1 layer, one-hot input; ratio > 1 is faster than fused rnn",
        "setup": {k: getattr(args, k) for k in ("hidden", "seq_len", "batch", "vocab", "threads")},
        "torch": torch.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "results": results,
        "reproduce": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
