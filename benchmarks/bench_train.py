"""Training benchmarks: throughput against a plain PyTorch loop, and quality within a time budget.

    python benchmarks/bench_train.py throughput [--steps 200]   # PTB word config, ratio vs plain loop
    python benchmarks/bench_train.py throughput --config char   # char-rnn config (2x128, batch 50, bptt 50)
    python benchmarks/bench_train.py char [--minutes 10]        # tiny shakespeare char LSTM, val loss
    python benchmarks/bench_train.py word [--minutes 30]        # PTB word LSTM, test perplexity
    python benchmarks/bench_train.py plain-word [--minutes 30]  # the plain loop's perplexity after the same time
    python benchmarks/bench_train.py plain-char [--minutes 10]  # the plain loop's char loss (issue 14's reference config)
    (other options, e.g. --threads 1 --hidden 384, are passed on to seqtool train)

Corpora come from ../shared/corpora (benchmarks only; tests never use them). Each mode prints one
JSON document with its figures, the command that reproduces it, and whether the run is valid
(calibration and foreign CPU, benchmarks/common.py). The throughput mode measures
seqtool's Trainer and a plain loop written here (pytorch/examples word_language_model style: same
model, same data layout, same optimizer and clipping) alternately in one process, so the ratio is
not skewed by other load on a shared machine.
"""
from __future__ import annotations

import argparse
import copy
import functools
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
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import Measured, add_corpora_option, corpora_dir  # noqa: E402
SHARED = corpora_dir()  # --corpora DIR, $SEQTOOL_CORPORA, or ../shared/corpora
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


# The two configurations of issue 6: pytorch/examples' PTB word model and char-rnn's small model.
CONFIGS = {
    "ptb": {"what": "PTB word config (LSTM 2x200, embedding 200, bptt 35, batch 20, dropout 0.2, Adam, clip 1.0)",
            "embed": 200, "hidden": 200, "layers": 2, "batch": 20, "bptt": 35, "dropout": 0.2, "lr": 1e-3},
    "char": {"what": "char-rnn config on tiny shakespeare (LSTM 2x128 on one-hot input, bptt 50, batch 50, Adam, clip 1.0)",
             "embed": 0, "hidden": 128, "layers": 2, "batch": 50, "bptt": 50, "dropout": 0.0, "lr": 2e-3},
    # issue 14's plain-loop reference on tiny shakespeare: its best config at 10 minutes (no dropout, constant lr).
    "plain-char": {"what": "issue 14's plain-loop config on tiny shakespeare (LSTM 2x256, embedding 64, bptt 64, batch 32, Adam 3e-3, clip 1.0)",
                   "embed": 64, "hidden": 256, "layers": 2, "batch": 32, "bptt": 64, "dropout": 0.0, "lr": 3e-3},
    # seqtool's char default without a time budget (seqtool/models/config.py LEVEL_DEFAULTS).
    "char-default": {"what": "seqtool's char default on tiny shakespeare (LSTM 2x384 on one-hot input, bptt 128, batch 32, dropout 0.1, Adam, clip 1.0)",
                     "embed": 0, "hidden": 384, "layers": 2, "batch": 32, "bptt": 128, "dropout": 0.1, "lr": 2e-3},
}


def plain_loop(train: np.ndarray, vocab: int, steps: int, warmup: int, seed: int, c: dict, seconds: float | None = None, out: dict | None = None,
               evaluate=None, eval_every: int = 0) -> float:
    """The baseline: an (Embedding or one-hot)-LSTM-Linear model and a textbook truncated-BPTT loop.

    Runs ``steps`` steps after ``warmup`` (or, with ``seconds``, until that much time has passed) and
    returns tokens/s; ``out["model"]`` receives the trained model when ``out`` is given. With ``evaluate``
    (model -> validation loss) every ``eval_every`` steps, ``out["evals"]`` gets (step, loss) pairs; the clock
    stops while it runs, so the evaluations cost the loop none of its time (a baseline as strong as it can be).
    """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(seed)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(c["dropout"])
            self.encoder = nn.Embedding(vocab, c["embed"]) if c["embed"] else None
            self.rnn = nn.LSTM(c["embed"] or vocab, c["hidden"], c["layers"], dropout=c["dropout"])
            self.decoder = nn.Linear(c["hidden"], vocab)

        def forward(self, x, h):
            e = self.encoder(x) if self.encoder is not None else F.one_hot(x, vocab).float()
            out, h = self.rnn(self.drop(e), h)
            return self.decoder(self.drop(out)), h

    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=c["lr"])
    b, t = c["batch"], c["bptt"]
    n = len(train) // b
    data = torch.from_numpy(train[: n * b].astype(np.int64).reshape(b, n).T.copy())
    h = None
    model.train()
    t0 = None
    i = 0
    paused = 0.0  # seconds spent in ``evaluate``, off the clock
    evals: list[tuple[int, float]] = []
    while (i < steps + warmup) if seconds is None else (t0 is None or time.perf_counter() - t0 - paused < seconds):
        if i == warmup:
            t0 = time.perf_counter()
        if evaluate is not None and i > 0 and i % eval_every == 0:
            e0 = time.perf_counter()
            evals.append((i, evaluate(model.eval())))
            model.train()
            paused += time.perf_counter() - e0
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
        i += 1
    if out is not None:
        out["model"], out["steps"], out["evals"] = model, i, evals
    return (i - warmup) * b * t / (time.perf_counter() - t0 - paused)


def seqtool_loop(data_dir: Path, steps: int, warmup: int, seed: int, c: dict, cutoffs: tuple[int, ...] = ()) -> float:
    import torch

    from seqtool import runs
    from seqtool.train_config import TrainConfig
    from seqtool.callbacks import Callbacks

    tok, train, val = runs.DataSpec(data_dir).load()
    mcfg = runs.model_config(len(tok.vocab), tok.level, dict(cell="lstm", hidden=c["hidden"], layers=c["layers"], embed_dim=c["embed"],
                                                           dropout=c["dropout"], tie_weights=False, adaptive_cutoffs=cutoffs or None))
    tcfg = TrainConfig(batch_size=c["batch"], bptt=c["bptt"], max_steps=steps + warmup, lr=c["lr"], clip_norm=1.0, log_every=10**9,
                       eval_every=10**9, seed=seed, schedule="none")
    with tempfile.TemporaryDirectory() as d:
        trainer = runs.build_trainer(Path(d), mcfg, tcfg, tok, train, val[:2000], runs.DataSpec(data_dir), torch.device("cpu"), Callbacks())
        trainer.cfg.max_steps = warmup
        trainer.total_steps = warmup
        trainer.fit()
        trainer.cfg.max_steps = trainer.total_steps = warmup + steps
        t0 = time.perf_counter()
        trainer.evaluate = lambda: (0.0, 0.0, {"val_loss": 0.0})  # the final validation is not part of the throughput,
        trainer.save = lambda *a, **k: None  # nor its best.pt and last.pt (~1 s of writing, ~4% of 100 PTB steps; the plain loop saves nothing)
        trainer.fit()
        seconds = time.perf_counter() - t0
    return steps * c["batch"] * c["bptt"] / seconds


def tokenize_shakespeare(work: Path) -> Path:
    out = work / "shakespeare-char-data"
    if not (out / "train.npy").exists():
        subprocess.run([sys.executable, "-m", "seqtool", "tokenize", str(SHARED / "tinyshakespeare.txt"), "--level", "char",
                        "--val-fraction", "0.1", "--out", str(out), "--force", "--quiet"], check=True)
    return out


def peak_rss_mb(which: str, config: str, steps: int, cutoffs: str | None) -> float:
    """Peak resident memory (MB) of a fresh process that runs only one loop (a process's peak cannot be reset)."""
    extra = ["--adaptive-softmax", cutoffs] if cutoffs else []
    r = subprocess.run([sys.executable, __file__, "_peak", "--which", which, "--config", config, "--steps", str(steps), *extra],
                       check=True, capture_output=True, text=True)
    return float(r.stdout.strip().splitlines()[-1])


def _peak(args) -> None:
    work = HERE / "_work"
    d = tokenize_ptb(work) if args.config == "ptb" else tokenize_shakespeare(work)
    from seqtool import runs

    tok, train, _ = runs.DataSpec(d).load()
    c = CONFIGS[args.config]
    if args.which == "plain":
        plain_loop(np.asarray(train), len(tok.vocab), args.steps, 2, 0, c)
    else:
        seqtool_loop(d, args.steps, 2, 0, c, cutoffs(args))
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve, so a child started by a large
    # parent would report the parent's peak.
    hwm = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM:"))
    print(int(hwm.split()[1]) / 1024)


def throughput(args) -> dict:
    work = HERE / "_work"
    work.mkdir(exist_ok=True)
    c = CONFIGS[args.config]
    d = tokenize_ptb(work) if args.config == "ptb" else tokenize_shakespeare(work)
    from seqtool import runs

    tok, train, _ = runs.DataSpec(d).load()
    train = np.asarray(train)
    rows = {"plain": [], "seqtool": []}
    if args.adaptive_softmax:
        rows["seqtool_full_softmax"] = []
    for rep in range(args.repeat):  # alternate, so background load hits every loop alike
        rows["plain"].append(plain_loop(train, len(tok.vocab), args.steps, 10, rep, c))
        rows["seqtool"].append(seqtool_loop(d, args.steps, 10, rep, c, cutoffs(args)))
        if args.adaptive_softmax:
            rows["seqtool_full_softmax"].append(seqtool_loop(d, args.steps, 10, rep, c))
    best = {k: max(v) for k, v in rows.items()}
    mem = {w: peak_rss_mb(w, args.config, min(args.steps, 30), args.adaptive_softmax) for w in ("plain", "seqtool")}
    extra = f" --adaptive-softmax {args.adaptive_softmax}" if args.adaptive_softmax else ""
    return {
        "benchmark": f"train throughput, {c['what']}" + (f"; seqtool with --adaptive-softmax {args.adaptive_softmax}" if extra else ""),
        "vocab": len(tok.vocab),
        "tokens_per_sec": {k: round(v) for k, v in best.items()},
        "all_runs": {k: [round(x) for x in v] for k, v in rows.items()},
        "ratio_seqtool_vs_plain": round(best["seqtool"] / best["plain"], 3),
        "peak_rss_mb": {k: round(v, 1) for k, v in mem.items()},
        "peak_memory_ratio": round(mem["seqtool"] / mem["plain"], 3),
        "reproduce": f"python benchmarks/bench_train.py throughput --config {args.config} --steps {args.steps} --repeat {args.repeat}{extra}",
    }


def cutoffs(args) -> tuple[int, ...]:
    return tuple(int(x) for x in args.adaptive_softmax.split(",")) if args.adaptive_softmax else ()


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
        "target": "<= 1.40 nats/char within 10 minutes (issue 6; issue 3 asked <= 1.45)",
        "reproduce": "python -m seqtool " + " ".join(cmd).replace(str(SHARED), "../shared/corpora"),
    }


def test_perplexity(run_dir: Path, test_file: Path) -> float:
    """Perplexity of a run's best checkpoint on a text file, with its own tokenizer, state carried."""
    from seqtool.checkpoint import load_checkpoint
    from seqtool.models import ModelConfig, build_model
    from seqtool.text import tokenizer_from_dict
    from seqtool.text.corpus import read_text

    ck = load_checkpoint(run_dir, prefer="best")
    tok = tokenizer_from_dict(ck["tokenizer"])
    model = build_model(ModelConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model_state"])
    return stream_ppl(model.eval(), tok.encode(read_text(test_file)))


def stream_ppl(model, ids, streams: int = 1) -> float:
    """Perplexity of ``model`` ((T, B) ids, state -> logits, state) on ``ids`` cut into ``streams`` streams
    (one: the exact figure), state carried."""
    import torch
    import torch.nn.functional as F

    from seqtool.data import batchify, get_window, n_windows

    data = batchify(ids, streams)
    total, count, h = 0.0, 0, None
    with torch.no_grad():
        for i in range(n_windows(data, 256)):
            x, y = get_window(data, i, 256)
            logits, h = model(x, h)
            total += float(F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1), reduction="sum"))
            count += y.numel()
    return math.exp(total / count)


def plain_word_quality(args) -> dict:
    """The plain loop's quality at time: PTB config for --minutes, then validation and test perplexity."""
    from seqtool import runs
    from seqtool.text.corpus import read_text

    d = tokenize_ptb(HERE / "_work")
    tok, train, val = runs.DataSpec(d).load()
    res: dict = {}
    tps = plain_loop(np.asarray(train), len(tok.vocab), 0, 0, 0, CONFIGS["ptb"], seconds=args.minutes * 60, out=res)
    model = res["model"].eval()
    ppl = functools.partial(stream_ppl, model)
    return {
        "benchmark": f"plain loop (pytorch/examples style), {CONFIGS['ptb']['what']}, {args.minutes} min",
        "val_ppl": round(ppl(np.asarray(val)), 2), "test_ppl": round(ppl(tok.encode(read_text(PTB / "ptb.test.txt"))), 2),
        "steps": res["steps"], "tokens_per_sec": round(tps),
        "reproduce": f"python benchmarks/bench_train.py plain-word --minutes {args.minutes}",
    }


def plain_char_quality(args) -> dict:
    """The plain loop's quality at time on tiny shakespeare (issue 14's reference config) for --minutes, then the
    validation loss on the same 10% split seqtool's runs use: of its final weights, and of the best weights among
    those evaluated every --eval-every steps (a plain loop has no early stopping; at 30 minutes it may over-fit)."""
    d = tokenize_shakespeare(HERE / "_work")
    from seqtool import runs

    tok, train, val = runs.DataSpec(d).load()
    res: dict = {}
    c = CONFIGS["plain-char"]
    val = np.asarray(val)
    best: dict = {"loss": math.inf}

    def keep_best(model) -> float:
        """Every --eval-every steps: the loss on 16 streams (fast), and a copy of the weights at the lowest."""
        loss = math.log(stream_ppl(model, val, 16))
        if loss < best["loss"]:
            best.update(loss=loss, weights=copy.deepcopy(model.state_dict()))
        return loss

    tps = plain_loop(np.asarray(train), len(tok.vocab), 0, 0, 0, c, seconds=args.minutes * 60, out=res,
                     evaluate=keep_best if args.eval_every else None, eval_every=args.eval_every)
    model = res["model"].eval()
    final = math.log(stream_ppl(model, val))
    at_best = final
    if "weights" in best:  # the best evaluated weights, scored exactly (one stream) as the final ones are
        model.load_state_dict(best["weights"])
        at_best = min(final, math.log(stream_ppl(model, val)))
    return {
        "benchmark": f"plain loop (pytorch/examples style), {c['what']}, {args.minutes} min",
        "val_loss_nats_per_char": round(final, 4),
        # the final weights or the best of those evaluated every --eval-every steps (off the clock), whichever is lower
        "best_val_loss_nats_per_char": round(at_best, 4),
        "evals_16_streams": [[step, round(v, 4)] for step, v in res["evals"]],
        "steps": res["steps"], "tokens_per_sec": round(tps),
        "reproduce": f"python benchmarks/bench_train.py plain-char --minutes {args.minutes} --eval-every {args.eval_every}",
    }


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
        "target": "test perplexity <= 110 within 30 minutes (issue 6; issue 3 asked <= 115)",
        "reproduce": "python -m seqtool " + " ".join(cmd).replace(str(HERE / "_work"), "benchmarks/_work"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["throughput", "char", "word", "plain-word", "plain-char", "_peak"])
    add_corpora_option(ap)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="ptb", help="throughput: which model and batch shape")
    ap.add_argument("--which", choices=["plain", "seqtool"], default="plain", help=argparse.SUPPRESS)
    ap.add_argument("--adaptive-softmax", default=None, help="throughput: seqtool with these cutoffs (e.g. 2000,6000); the plain loop keeps the full softmax")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--tag", default="", help="suffix for the run directory under benchmarks/_work")
    args, args.extra = ap.parse_known_args()  # anything else is passed on to seqtool train
    if args.adaptive_softmax and args.mode in ("char", "word"):
        args.extra += ["--adaptive-softmax", args.adaptive_softmax]
    if not SHARED.exists():
        sys.exit(f"bench_train: {SHARED} not found; give --corpora DIR (benchmarks/README.md says where each corpus comes from)")
    if args.mode == "_peak":
        return _peak(args)
    run = {"throughput": throughput, "plain-word": plain_word_quality, "plain-char": plain_char_quality, "char": char_quality, "word": word_quality}[args.mode]
    if args.mode != "throughput":
        args.minutes = args.minutes or (10 if args.mode in ("char", "plain-char") else 30)
    with Measured() as m:
        res = run(args)
    res.update({**m.record(), "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine()})
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
