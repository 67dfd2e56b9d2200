"""Training benchmarks: throughput against a plain PyTorch loop, and quality within a time budget.

    python benchmarks/bench_train.py throughput [--steps 200]   # PTB word config, ratio vs plain loop
    python benchmarks/bench_train.py char [--minutes 10]        # tiny shakespeare char LSTM, val loss
    python benchmarks/bench_train.py word [--minutes 30]        # PTB word LSTM, test perplexity
    (other options, e.g. --threads 1 --hidden 384, are passed on to seqtool train)

Corpora come from ../shared/corpora (benchmarks only; tests never use them). Each mode prints one
JSON document with its figures and the command that reproduces it. The throughput mode measures
seqtool's Trainer and a plain loop written here (pytorch/examples word_language_model style: same
model, same data layout, same optimizer and clipping) alternately in one process, so the ratio is
not skewed by other load on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "corpora"
PTB = SHARED / "ptb"


def machine() -> str:
    import torch

    return f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def tokenize_ptb(work: Path) -> Path:
    out = work / "ptb-word"
    if not (out / "train.npy").exists():
        subprocess.run([sys.executable, "-m", "seqtool", "tokenize", str(PTB / "ptb.train.txt"), "--val", str(PTB / "ptb.valid.txt"),
                        "--level", "word", "--filters", "", "--no-lower", "--out", str(out), "--force", "--quiet"], check=True)
    return out


# ---------------------------------------------------------------------------------- throughput


def plain_loop(train: np.ndarray, vocab: int, steps: int, warmup: int, seed: int) -> float:
    """The baseline: an Embedding-LSTM-Linear model and a textbook truncated-BPTT loop."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(seed)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.2)
            self.encoder = nn.Embedding(vocab, 200)
            self.rnn = nn.LSTM(200, 200, 2, dropout=0.2)
            self.decoder = nn.Linear(200, vocab)

        def forward(self, x, h):
            out, h = self.rnn(self.drop(self.encoder(x)), h)
            return self.decoder(self.drop(out)), h

    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b, t = 20, 35
    n = len(train) // b
    data = torch.from_numpy(train[: n * b].astype(np.int64).reshape(b, n).T.copy())
    h = None
    model.train()
    t0 = None
    for i in range(steps + warmup):
        if i == warmup:
            t0 = time.perf_counter()
        s = (i * t) % (n - 1 - t)
        x, y = data[s : s + t], data[s + 1 : s + 1 + t]
        if h is not None:
            h = tuple(v.detach() for v in h)
        logits, h = model(x, h)
        loss = F.cross_entropy(logits.view(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return steps * b * t / (time.perf_counter() - t0)


def seqtool_loop(data_dir: Path, steps: int, warmup: int, seed: int) -> float:
    import torch

    from seqtool import runs
    from seqtool.training import Callbacks, TrainConfig

    tok, train, val = runs.DataSpec(data_dir).load()
    mcfg = runs.model_config(len(tok.vocab), "word", dict(cell="lstm", hidden=200, layers=2, embed_dim=200, dropout=0.2, tie_weights=False))
    tcfg = TrainConfig(batch_size=20, bptt=35, max_steps=steps + warmup, lr=1e-3, clip_norm=1.0, log_every=10**9, eval_every=10**9, seed=seed, schedule="none")
    times = {}

    class Clock(Callbacks):
        pass

    with tempfile.TemporaryDirectory() as d:
        trainer = runs.build_trainer(Path(d), mcfg, tcfg, tok, train, val[:2000], runs.DataSpec(data_dir), torch.device("cpu"), Clock())
        trainer.cfg.max_steps = warmup
        trainer.total_steps = warmup
        trainer.fit()
        trainer.cfg.max_steps = trainer.total_steps = warmup + steps
        t0 = time.perf_counter()
        trainer.evaluate = lambda: 0.0  # the final validation is not part of the throughput
        trainer.fit()
        times["s"] = time.perf_counter() - t0
    return steps * 20 * 35 / times["s"]


def throughput(args) -> dict:
    work = HERE / "_work"
    work.mkdir(exist_ok=True)
    d = tokenize_ptb(work)
    from seqtool import runs

    tok, train, _ = runs.DataSpec(d).load()
    train = np.asarray(train)
    rows = {"plain": [], "seqtool": []}
    for rep in range(args.repeat):
        rows["plain"].append(plain_loop(train, len(tok.vocab), args.steps, 10, rep))
        rows["seqtool"].append(seqtool_loop(d, args.steps, 10, rep))
    best = {k: max(v) for k, v in rows.items()}
    return {
        "benchmark": "train throughput, PTB word config (LSTM 2x200, embedding 200, bptt 35, batch 20, dropout 0.2, Adam, clip 1.0)",
        "vocab": len(tok.vocab),
        "tokens_per_sec": {k: round(v) for k, v in best.items()},
        "all_runs": {k: [round(x) for x in v] for k, v in rows.items()},
        "ratio_seqtool_vs_plain": round(best["seqtool"] / best["plain"], 3),
        "reproduce": f"python benchmarks/bench_train.py throughput --steps {args.steps} --repeat {args.repeat}",
    }


# ---------------------------------------------------------------------------------- quality


def run_train(cmd: list[str]) -> dict:
    r = subprocess.run([sys.executable, "-m", "seqtool", *cmd, "--json", "--quiet"], check=True, capture_output=True, text=True)
    return json.loads(r.stdout)


def char_quality(args) -> dict:
    out = HERE / "_work" / f"shakespeare-char{args.tag}"
    cmd = ["train", str(SHARED / "tinyshakespeare.txt"), "--level", "char", "--val-fraction", "0.1", "--time-budget", f"{args.minutes}m",
           "--out", str(out), "--force", "--eval-every", str(args.eval_every), *args.extra]
    t0 = time.perf_counter()
    s = run_train(cmd)
    return {
        "benchmark": f"tiny shakespeare, char level, validation = last 10%, {args.minutes} min budget",
        "best_val_loss_nats_per_char": round(s["best_val_loss"], 4),
        "final_val_loss": round(s["val_loss"], 4),
        "steps": s["steps"], "epochs": s["epochs"], "wall_s": round(time.perf_counter() - t0, 1),
        "target": "<= 1.45 nats/char within 10 minutes",
        "reproduce": "python -m seqtool " + " ".join(cmd).replace(str(SHARED), "../shared/corpora"),
    }


def test_perplexity(run_dir: Path, test_file: Path) -> float:
    """Perplexity of a run's best checkpoint on a text file, with its own tokenizer, state carried."""
    import torch
    import torch.nn.functional as F

    from seqtool.checkpoint import load_checkpoint
    from seqtool.data import batchify, get_window, n_windows
    from seqtool.models import ModelConfig, build_model
    from seqtool.text import tokenizer_from_dict
    from seqtool.text.corpus import read_text

    ck = load_checkpoint(run_dir, prefer="best")
    tok = tokenizer_from_dict(ck["tokenizer"])
    model = build_model(ModelConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model_state"])
    model.eval()
    data = batchify(tok.encode(read_text(test_file)), 1)
    total, count, h = 0.0, 0, None
    with torch.no_grad():
        for i in range(n_windows(data, 256)):
            x, y = get_window(data, i, 256)
            logits, h = model(x, h)
            total += float(F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1), reduction="sum"))
            count += y.numel()
    return math.exp(total / count)


def word_quality(args) -> dict:
    work = HERE / "_work"
    work.mkdir(exist_ok=True)
    d = tokenize_ptb(work)
    out = work / f"ptb-run{args.tag}"
    cmd = ["train", str(d), "--time-budget", f"{args.minutes}m", "--out", str(out), "--force", "--eval-every", str(args.eval_every), *args.extra]
    t0 = time.perf_counter()
    s = run_train(cmd)
    ppl = test_perplexity(out, PTB / "ptb.test.txt")
    return {
        "benchmark": f"Penn Treebank word level, {args.minutes} min budget",
        "best_val_ppl": round(s["best_val_ppl"], 2), "test_ppl": round(ppl, 2),
        "steps": s["steps"], "epochs": s["epochs"], "wall_s": round(time.perf_counter() - t0, 1),
        "target": "test perplexity <= 115 within 30 minutes",
        "reproduce": "python -m seqtool " + " ".join(cmd).replace(str(HERE / "_work"), "benchmarks/_work"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["throughput", "char", "word"])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--tag", default="", help="suffix for the run directory under benchmarks/_work")
    args, args.extra = ap.parse_known_args()  # anything else is passed on to seqtool train
    if not SHARED.exists():
        sys.exit(f"bench_train: {SHARED} not found; the benchmark needs the shared corpora")
    if args.mode == "throughput":
        res = throughput(args)
    elif args.mode == "char":
        args.minutes = args.minutes or 10
        res = char_quality(args)
    else:
        args.minutes = args.minutes or 30
        res = word_quality(args)
    res.update({"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine()})
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
