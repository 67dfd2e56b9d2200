"""Speed of classify/tag: seqtool's length-bucketed training against a plain pad-to-longest loop, and predict's rate.

  python benchmarks/bench_task_speed.py throughput sst2 --seconds 60   # target: seqtool >= 2x the plain loop's tokens/s
  python benchmarks/bench_task_speed.py throughput ewt --seconds 60
  python benchmarks/bench_task_speed.py predict RUN_DIR                # an EWT tagger run; target >= 2,000 sentences/s

throughput: the same model (SAME_MODEL: bidirectional LSTM, word embeddings only) trained two ways on the
same machine in one run. seqtool: `seqtool train --max-steps` with no validation, tokens/s read
from metrics.jsonl (real tokens, padding not counted). Plain: the loop a PyTorch user writes first —
shuffle, pad every batch to its longest sequence, fused nn.LSTM (bidirectional=True), Adam — and
its real tokens per second. predict: `seqtool predict RUN FILE` on EWT's test sentences repeated
until there are 20,000, wall time including start-up, and the library's rate without start-up.
Each prints one JSON object with the calibration figure before and after (see bench_tasks.py). Run alone.
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
from benchmarks.bench_tasks import SHARED, TASKS  # noqa: E402
from benchmarks.common import Measured, add_corpora_option, shown  # noqa: E402


# The model plain_rate builds, word embeddings only (bench_tasks.py's tagger adds character features, which the plain loop has not).
SAME_MODEL = {
    "sst2": ["--task", "classify", "--format", "sst", "--bidirectional", "--pool", "max", "--hidden", "256", "--embed-dim", "128",
             "--layers", "1", "--dropout", "0.5", "--batch-size", "32", "--lr", "0.002"],
    "ewt": ["--task", "tag", "--no-lower", "--hidden", "256", "--embed-dim", "128", "--layers", "2", "--dropout", "0.3",
            "--batch-size", "32", "--lr", "0.002"],
}


def seqtool_rate(task: str, seconds: float) -> dict:
    t = TASKS[task]
    out = tempfile.mkdtemp(prefix=f"bench-speed-{task}-")
    cmd = [sys.executable, "-m", "seqtool", "train", str(SHARED / t["train"]), "--val", str(SHARED / t["val"]), *SAME_MODEL[task],
           "--time-budget", f"{seconds}s", "--eval-every", "1000000", "--log-every", "20", "--out", out, "--force", "--quiet"]
    subprocess.run(cmd, check=True, capture_output=True)
    rows = [json.loads(line) for line in Path(out, "metrics.jsonl").read_text().splitlines()]
    rates = [r["tokens_per_sec"] for r in rows if r.get("tokens_per_sec")][1:]  # the first interval holds the warm-up
    return {"tokens_per_sec": round(statistics.median(rates)), "intervals": len(rates),
            "command": shown(" ".join(cmd[1:]), SHARED)}


def _read(task: str):
    """Token lists and targets of the training split, read the way a plain script would (split on spaces)."""
    from seqtool.task_runs import TaskInputs, _examples

    t = TASKS[task]
    kind = "classify" if task == "sst2" else "tag"
    xs, ys = _examples(TaskInputs(kind, "sst" if kind == "classify" else None).read(str(SHARED / t["train"])), kind)
    if kind == "classify":
        xs = [x.lower().split() for x in xs]
    return kind, xs, ys


def plain_rate(task: str, seconds: float) -> dict:
    """Tokens/s of a textbook loop: random batches padded to their longest member, no bucketing, no packing."""
    import torch
    from torch import nn

    kind, xs, ys = _read(task)
    vocab = {w: i + 1 for i, w in enumerate(sorted({w for x in xs for w in x}))}
    labels = sorted({y for y in ys}) if kind == "classify" else sorted({t for y in ys for t in y})
    lab = {n: i for i, n in enumerate(labels)}
    seqs = [torch.tensor([vocab[w] for w in x]) for x in xs]
    tgts = [lab[y] for y in ys] if kind == "classify" else [torch.tensor([lab[t] for t in y]) for y in ys]
    layers = 1 if kind == "classify" else 2
    torch.manual_seed(0)
    emb, rnn = nn.Embedding(len(vocab) + 1, 128, padding_idx=0), nn.LSTM(128, 256, layers, bidirectional=True, dropout=0.3 if layers > 1 else 0.0)
    head, drop = nn.Linear(512, len(labels)), nn.Dropout(0.5 if kind == "classify" else 0.3)
    params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=2e-3)
    pad = nn.utils.rnn.pad_sequence
    tokens, start, g = 0, None, torch.Generator().manual_seed(0)
    while True:
        for batch in torch.randperm(len(seqs), generator=g).split(32):
            x = pad([seqs[i] for i in batch])  # (L, B), padded to this batch's longest
            mask = x != 0
            h, _ = rnn(drop(emb(x)))
            if kind == "classify":
                pooled = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(0)
                loss = nn.functional.cross_entropy(head(drop(pooled)), torch.tensor([tgts[i] for i in batch]))
            else:
                y = pad([tgts[i] for i in batch], padding_value=-100)
                loss = nn.functional.cross_entropy(head(drop(h)).flatten(0, 1), y.flatten(), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if start is None:  # the first step is warm-up
                start = time.perf_counter()
                continue
            tokens += int(mask.sum())
            if time.perf_counter() - start > seconds:
                return {"tokens_per_sec": round(tokens / (time.perf_counter() - start))}


def throughput(task: str, seconds: float) -> dict:
    with Measured() as m:
        ours = seqtool_rate(task, seconds)
        plain = plain_rate(task, seconds)
    return {"benchmark": "throughput", "task": task, "seconds": seconds, "seqtool": ours, "plain": plain,
            "ratio": round(ours["tokens_per_sec"] / plain["tokens_per_sec"], 2), **m.record()}


def predict(run_dir: str, sentences: int) -> dict:
    from seqtool import task_runs

    xs, _ = _examples_test()
    lines = [" ".join(x) for x in xs]
    lines = (lines * (sentences // len(lines) + 1))[:sentences]
    src = Path(tempfile.mkdtemp(prefix="bench-predict-")) / "sentences.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "seqtool", "predict", run_dir, str(src), "--quiet"]
    with Measured() as m:
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if r.returncode:
            sys.exit(f"predict failed: {r.stderr.strip()}")
        loaded = task_runs.load_task_model(run_dir, "cpu")
        sents = [ln.split() for ln in lines]
        t = time.perf_counter()
        task_runs.predict(loaded, sents)
        lib = time.perf_counter() - t
    return {"benchmark": "predict", "sentences": sentences, "cli_sentences_per_sec": round(sentences / wall), "cli_seconds": round(wall, 2),
            "library_sentences_per_sec": round(sentences / lib), "command": " ".join(cmd[1:]), **m.record()}


def _examples_test():
    from seqtool.task_runs import TaskInputs, _examples

    return _examples(TaskInputs("tag").read(str(SHARED / TASKS["ewt"]["test"])), "tag")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    tp = sub.add_parser("throughput")
    tp.add_argument("task", choices=sorted(TASKS))
    tp.add_argument("--seconds", type=float, default=60)
    add_corpora_option(tp)
    pp = sub.add_parser("predict")
    pp.add_argument("run_dir")
    pp.add_argument("--sentences", type=int, default=20000)
    add_corpora_option(pp)
    a = ap.parse_args()
    print(json.dumps(throughput(a.task, a.seconds) if a.what == "throughput" else predict(a.run_dir, a.sentences), indent=1))


if __name__ == "__main__":
    main()
