"""Tokenize throughput: seqtool's char, word and subword levels next to a plain-Python baseline.

The corpus is ../shared/corpora/ptb/ptb.train.txt repeated to about --size-mb MB (built once in
benchmarks/_work/, which git ignores). Each seqtool figure is a whole process (`python -m seqtool
tokenize ...`, start-up, both passes and the atomic write included), timed on the wall clock; the
baseline (read, re.findall, collections.Counter, dict lookup into a numpy array) runs in the same
invocation, so the ratio compares like with like on a noisy machine. Prints one JSON document.

    python benchmarks/bench_tokenize.py                 # ~100 MB, every level
    python benchmarks/bench_tokenize.py --size-mb 20 --levels char,word
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import add_corpora_option, corpora_dir  # noqa: E402
PTB = corpora_dir() / "ptb" / "ptb.train.txt"  # --corpora DIR, $SEQTOOL_CORPORA, or ../shared/corpora


def build_corpus(size_mb: int) -> Path:
    if not PTB.exists():
        sys.exit(f"bench_tokenize: {PTB} not found; the benchmark needs the shared corpora")
    out = HERE / "_work" / f"ptb-{size_mb}mb.txt"
    if not out.exists():
        out.parent.mkdir(exist_ok=True)
        data = PTB.read_bytes()
        reps = max(1, round(size_mb * 1e6 / len(data)))
        with open(out, "wb") as f:
            for _ in range(reps):
                f.write(data)
    return out


def baseline(path: Path) -> float:
    """Plain Python: read, re.findall, Counter, dict lookup into a numpy array."""
    t0 = time.perf_counter()
    text = open(path, encoding="utf-8").read()
    words = re.findall(r"\w+", text.lower())
    counts = Counter(words)
    vocab = {w: i for i, (w, _) in enumerate(counts.most_common(), start=1)}
    ids = np.array([vocab[w] for w in words], dtype=np.int32)
    assert len(ids) == len(words)
    return time.perf_counter() - t0


def seqtool_run(path: Path, level: str, extra: list[str]) -> tuple[float, list[str]]:
    out = Path(tempfile.mkdtemp(prefix="bench-tok-")) / "out"
    cmd = [sys.executable, "-m", "seqtool", "tokenize", str(path), "--level", level, "--out", str(out), "--quiet", *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    dt = time.perf_counter() - t0
    shutil.rmtree(out.parent)
    return dt, cmd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpora_option(ap)
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--levels", default="char,word,subword")
    ap.add_argument("--repeat", type=int, default=2, help="best of N runs for every figure")
    args = ap.parse_args()
    path = build_corpus(args.size_mb)
    mb = path.stat().st_size / 1e6
    best = lambda f: min(f() for _ in range(args.repeat))  # noqa: E731
    base_s = best(lambda: baseline(path))
    rows = {"baseline (re.findall + Counter + dict)": {"seconds": round(base_s, 3), "mb_per_s": round(mb / base_s, 2)}}
    extras = {"subword": ["--vocab-size", "8000", "--model-type", "bpe"]}
    for level in args.levels.split(","):
        secs = []
        for _ in range(args.repeat):
            s, cmd = seqtool_run(path, level, extras.get(level, []))
            secs.append(s)
        s = min(secs)
        rows[f"seqtool {level}"] = {
            "seconds": round(s, 3),
            "mb_per_s": round(mb / s, 2),
            "vs_baseline": round(base_s / s, 2),
            "command": " ".join(cmd[1:]).replace(str(path), path.name),
        }
    print(json.dumps({
        "benchmark": "tokenize",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}",
        "python": platform.python_version(),
        "corpus": f"{path.name} ({mb:.1f} MB: ptb.train.txt repeated)",
        "results": rows,
        "reproduce": f"python benchmarks/bench_tokenize.py --size-mb {args.size_mb} --levels {args.levels} --repeat {args.repeat}",
    }, indent=2))


if __name__ == "__main__":
    main()
