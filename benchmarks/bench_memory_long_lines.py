"""Peak memory of `seqtool tokenize` on a corpus without a newline, next to the same bytes in lines.

The corpus is generated (seeded words from a small vocabulary, separated by spaces) into a
temporary folder: once as one line, once with a newline every ~100 bytes. Each figure is the peak
resident set of a whole `python -m seqtool tokenize` process, read from its own rusage
(os.wait4), with SEQTOOL_WORKERS=1 so that one process does all the work. Memory is not timing:
other jobs on the machine do not change it. Prints one JSON document and how to reproduce it.

    python benchmarks/bench_memory_long_lines.py                 # 200 MB, char and word
    python benchmarks/bench_memory_long_lines.py --size-mb 50 --levels char,word,subword
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_corpus(path: Path, size_mb: int, newlines: bool, seed: int = 0) -> None:
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(5000)]
    block = " ".join(rng.choice(vocab) for _ in range(200_000)) + " "  # ~1.2 MB, repeated
    if newlines:
        words = block.split(" ")
        block = "\n".join(" ".join(words[i : i + 16]) for i in range(0, len(words), 16))
    data = block.encode()
    with open(path, "wb") as f:
        for _ in range(size_mb * 1_000_000 // len(data) + 1):
            f.write(data)
        f.truncate(size_mb * 1_000_000)


def peak_rss_mb(cmd: list[str], env: dict) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of ``cmd`` run as a child process; exits if it fails."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace").strip()
    p.stderr.close()
    if p.returncode != 0:
        sys.exit(f"bench_memory_long_lines: {' '.join(cmd)} failed: {err}")
    return usage.ru_maxrss / 1024, time.perf_counter() - t0  # ru_maxrss is in KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--levels", default="char,word")
    args = ap.parse_args()
    env = {**os.environ, "SEQTOOL_WORKERS": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    results = []
    with tempfile.TemporaryDirectory(prefix="seqtool-bench-mem-") as tmp:
        for shape in ("one line", "lines"):
            corpus = Path(tmp) / ("one-line.txt" if shape == "one line" else "lines.txt")
            write_corpus(corpus, args.size_mb, newlines=shape == "lines")
            for level in args.levels.split(","):
                out = Path(tmp) / f"out-{level}"
                extra = ["--vocab-size", "8000", "--cap-vocab-size"] if level == "subword" else []
                cmd = [sys.executable, "-m", "seqtool", "tokenize", str(corpus), "--out", str(out), "--level", level, "--force", "-q", *extra]
                rss, wall = peak_rss_mb(cmd, env)
                results.append({"corpus": shape, "level": level, "peak_rss_mb": round(rss), "wall_s": round(wall, 1)})
                corpus_mb = corpus.stat().st_size / 1e6
    print(json.dumps({
        "benchmark": "tokenize peak memory, a corpus without newlines vs the same bytes in lines",
        "corpus_mb": round(corpus_mb),
        "results": results,
        "reproduce": f"python benchmarks/bench_memory_long_lines.py --size-mb {args.size_mb} --levels {args.levels}",
    }, indent=2))


if __name__ == "__main__":
    main()
