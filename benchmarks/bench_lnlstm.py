"""Training-step throughput of the layer-normalised LSTM's three paths against the LSTM's (issue 14).

One forward+backward of a 2-layer char language model of the 10-minute rule's shape (hidden 384, embedding 64,
dropout 0.1, batch 32, bptt 64, vocabulary 65), for:

    lstm-bf16     the LSTM as --precision auto trains it on a CPU with native bf16 (bf16 matmuls, C steps)
    lstm-fp32     torch's fused nn.LSTM
    lnlstm-eager  --cell lnlstm before its C steps: a matmul and a dozen torch ops per step, autograd's backward
    lnlstm-fp32   its C steps (seqtool/models/lnlstm_steps.py), fp32 matmuls
    lnlstm-bf16   its C steps with bf16 matmuls

Interleaved rounds (each round times every path once, so a burst of load elsewhere hits all alike), the best round
of each kept; calibration before and after (benchmarks/common.py). Each path's speed is also given as a multiple of
the reference, the first path measured (lstm-bf16, or lstm-fp32 where it is left out). On a CPU without native bf16
the bf16 paths are left out unless named: there its matmuls are emulated (2x384 ran 30x slower than fp32).
Prints JSON with the command.

    python benchmarks/bench_lnlstm.py [--hidden 384] [--batch 32] [--bptt 64] [--seconds 20] [--rounds 5]
                                      [--paths lstm-fp32,lnlstm-fp32]
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from benchmarks.common import Measured, best_seconds  # noqa: E402
from seqtool.devices import cpu_has_bf16  # noqa: E402
from seqtool.models import ModelConfig, build_model  # noqa: E402

PATHS = {  # name: (cell, bf16 matmuls, C steps)
    "lstm-bf16": ("lstm", True, True),
    "lstm-fp32": ("lstm", False, True),
    "lnlstm-eager": ("lnlstm", False, False),
    "lnlstm-fp32": ("lnlstm", False, True),
    "lnlstm-bf16": ("lnlstm", True, True),
}


def _step(name: str, args):
    cell, bf16, c = PATHS[name]
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=args.vocab, cell=cell, hidden=args.hidden, layers=2, embed_dim=64, dropout=0.1)
    model = build_model(cfg).train()
    model.use_bf16_matmuls(bf16)
    ids = torch.randint(0, args.vocab, (args.bptt + 1, args.batch))

    def step():
        os.environ["SEQTOOL_NO_C_KERNELS"] = "0" if c else "1"
        model.zero_grad(set_to_none=True)
        logits, _ = model(ids[:-1])
        F.cross_entropy(logits.reshape(-1, args.vocab).float(), ids[1:].reshape(-1)).backward()

    return step


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bptt", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--seconds", type=float, default=20.0, help="timing budget per path")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--paths", default=None, help="comma-separated paths to time (default: all; without native bf16 "
                    "the fp32 ones)")
    args = ap.parse_args(argv)
    native = cpu_has_bf16()
    paths = args.paths.split(",") if args.paths else [p for p in PATHS if native or not PATHS[p][1]]
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        ap.error(f"--paths: unknown {', '.join(unknown)}; choose from {', '.join(PATHS)}")
    with Measured() as m:
        best = best_seconds({name: _step(name, args) for name in paths}, args.seconds, args.rounds, min_reps=2)
    tokens = args.batch * args.bptt
    out = {"reference": paths[0]}
    out.update({name: {"tokens_per_s": round(tokens / s), "ms_per_step": round(1e3 * s, 2),
                       "x_reference": round(best[paths[0]] / s, 3)} for name, s in best.items()})
    out.update(m.record())
    out["torch_threads"] = torch.get_num_threads()
    out["command"] = "python benchmarks/bench_lnlstm.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
