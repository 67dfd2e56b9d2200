"""A/B of one language-model training step between two checkouts of seqtool, timed in interleaved rounds.

    git worktree add --detach /tmp/seqtool-old HEAD~1
    python benchmarks/ab_checkouts.py /tmp/seqtool-old . [--cell lnlstm] [--hidden 384] [--bf16] [--seconds 20]

Measures a code change to a model's step (a kernel, a cell) without a second benchmark run between which the
machine's speed could wander. Each checkout gets a worker process with that checkout first on its path (one process
cannot hold both: seqtool imports some modules lazily, inside forward, and would mix the two); each worker builds a
model of the 10-minute char rule's shape (2 layers, embedding 64, dropout 0.1, batch 32, bptt 64, vocabulary 65)
and runs one forward+backward whenever the parent asks, and ``common.best_seconds`` times the two in alternating
rounds (the idle worker waits on its pipe, using no CPU). Prints JSON: each side's ms per step, new's speed-up over
old, the calibration and the command.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import Measured, best_seconds  # noqa: E402

SHAPE = ("cell", "hidden", "batch", "bptt", "vocab", "bf16")


def worker(root: Path, shape: dict) -> None:
    """Build the model from the seqtool at ``root`` (first on sys.path), then one training step per line read."""
    sys.path.insert(0, str(root))  # ahead of this script's own checkout
    import torch.nn.functional as F

    import seqtool
    from seqtool.models import ModelConfig, build_model

    if Path(seqtool.__file__).resolve().parents[1] != root:
        sys.exit(f"worker: imported {seqtool.__file__}, not the checkout at {root}")
    torch.manual_seed(0)
    v = shape["vocab"]
    model = build_model(ModelConfig(vocab_size=v, cell=shape["cell"], hidden=shape["hidden"], layers=2, embed_dim=64,
                                    dropout=0.1)).train()
    model.use_bf16_matmuls(shape["bf16"])
    ids = torch.randint(0, v, (shape["bptt"] + 1, shape["batch"]))
    print("ready", flush=True)
    for _ in sys.stdin:
        model.zero_grad(set_to_none=True)
        logits, _ = model(ids[:-1])
        F.cross_entropy(logits.reshape(-1, v).float(), ids[1:].reshape(-1)).backward()
        print("done", flush=True)


class Worker:
    """A worker process for one checkout; calling it runs one training step there and waits for it."""

    def __init__(self, root: Path, shape: dict):
        self.p = subprocess.Popen([sys.executable, __file__, "--worker", str(root), json.dumps(shape)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.p.stdout.readline().strip() != "ready":
            raise SystemExit(f"ab_checkouts: the worker for {root} did not start (its error is above)")

    def __call__(self) -> None:
        self.p.stdin.write("step\n")
        self.p.stdin.flush()
        self.p.stdout.readline()

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", type=Path, help="the checkout to compare against (its root, holding seqtool/)")
    ap.add_argument("new", type=Path, help="the checkout with the change")
    ap.add_argument("--cell", default="lnlstm")
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bptt", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--bf16", action="store_true", help="bf16 matmuls (what --precision auto picks on a CPU with native bf16)")
    ap.add_argument("--seconds", type=float, default=20.0, help="timing budget per side")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    for side in (args.old, args.new):
        if not (side / "seqtool" / "__init__.py").is_file():
            ap.error(f"{side}: no seqtool/ package there; give the root of a checkout")
    shape = {k: getattr(args, k) for k in SHAPE}
    steps = {"old": Worker(args.old.resolve(), shape), "new": Worker(args.new.resolve(), shape)}
    with Measured() as m:
        try:
            best = best_seconds(steps, args.seconds, args.rounds, min_reps=2)
        finally:  # inside: a waited-for worker's CPU time counts as this run's own, not another process's
            for w in steps.values():
                w.close()
    out = {"old_ms": round(1e3 * best["old"], 1), "new_ms": round(1e3 * best["new"], 1),
           "new_speedup": round(best["old"] / best["new"], 3)}
    out.update(m.record())
    out["torch_threads"] = torch.get_num_threads()
    out["command"] = "python benchmarks/ab_checkouts.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(Path(sys.argv[2]), json.loads(sys.argv[3]))
    else:
        main()
