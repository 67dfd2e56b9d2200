"""Every benchmark in one run: a table of the figures and ratios, and a JSON file next to RESULTS.md.

    python benchmarks/run_all.py            # quick: small settings, a few minutes
    python benchmarks/run_all.py --full     # the settings RESULTS.md reports (over an hour)
    python benchmarks/run_all.py --only train,cells

Each benchmark is its own script, run here as a subprocess one after another (never two at once:
on a 2-core machine a second job makes torch's threads spin and every figure meaningless). Each
prints a JSON document last; this script collects them, prints the headline figure of each with
its target, and writes ``benchmarks/results-<mode>-<date>.json`` with the date, machine, torch
version, the commands and every figure. Every ratio inside is measured within one script run
against the plain baseline written in that script.

Each script's run is measured here too (benchmarks/common.py: calibration before and after, CPU
used by other processes during it). When a run is invalid -- by that measurement or by the
script's own -- this prints which check failed with its figures and exits 3 without writing the
file; ``--allow-invalid`` writes it anyway, with ``"valid": false`` at the top and on each such run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import Measured, add_corpora_option, corpora_dir  # noqa: E402

RESULTS_DIR = HERE
INVALID_EXIT = 3  # a run was invalid and no result file was written

# name -> (quick command, full command); an empty quick command: full mode only.
SUITE: dict[str, tuple[list[str], list[str]]] = {
    # 100 MB even in quick mode: on 30 MB interpreter start-up and worker spawn are half the time, so
    # the figures would not be comparable with the targets, which are about big corpora.
    "tokenize": (["bench_tokenize.py", "--size-mb", "100", "--levels", "char,word", "--repeat", "1"],
                 ["bench_tokenize.py", "--size-mb", "100", "--levels", "char,word", "--repeat", "2"]),
    # seqtool's fast path for a 10k vocabulary is the adaptive softmax; its JSON also has the full softmax's figure
    "train": (["bench_train.py", "throughput", "--steps", "40", "--repeat", "1", "--adaptive-softmax", "2000,6000"],
              ["bench_train.py", "throughput", "--steps", "200", "--repeat", "2", "--adaptive-softmax", "2000,6000"]),
    "train-char": (["bench_train.py", "throughput", "--config", "char", "--steps", "40", "--repeat", "1"],
                   ["bench_train.py", "throughput", "--config", "char", "--steps", "200", "--repeat", "2"]),
    "cells": (["bench_cells.py", "--seconds", "0.5", "--rounds", "2", "--hidden", "128"],
              ["bench_cells.py"]),
    "generate": (["bench_generate.py", "--quick"],
                 ["bench_generate.py", "--tokens", "1000", "--long", "10000", "--repeat", "2", "--threads", "1"]),
    "longrange": (["bench_longrange.py", "--gaps", "10", "--minutes", "0.3", "--train-lines", "5000"],
                  ["bench_longrange.py", "--gaps", "50", "--minutes", "5"]),
    "quality-char": ([], ["bench_train.py", "char", "--minutes", "10"]),
    "quality-word": ([], ["bench_train.py", "word", "--minutes", "30", "--adaptive-softmax", "2000,6000"]),
}


def last_json(stdout: str):
    """The JSON document a benchmark printed last (indented or on one line)."""
    lines = stdout.rstrip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("{"):
            try:
                return json.loads("\n".join(lines[i:]))
            except json.JSONDecodeError:
                continue
    return None


def _get(d, *path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def headline(name: str, r: dict) -> list[tuple[str, object, str]]:
    """The figures the issue-6 targets are about, pulled out of a benchmark's JSON."""
    if name == "tokenize":
        res = r.get("results", {})
        return [("char MB/s", _get(res, "seqtool char", "mb_per_s"), ">= 60"),
                ("word vs baseline", _get(res, "seqtool word", "vs_baseline"), ">= 3x")]
    if name in ("train", "train-char"):
        return [("tokens/s vs plain loop", r.get("ratio_seqtool_vs_plain"), ">= 1.5x"),
                ("peak memory vs plain loop", r.get("peak_memory_ratio"), "<= 1.5x")]
    if name == "cells":
        res = r.get("results", {})
        return [(f"{c} vs fused rnn", _get(res, c, "lm_ratio_vs_rnn"), ">= 0.5x") for c in ("leaky", "skip", "jordan")]
    if name == "generate":
        return [("1 sample vs bare loop", _get(r, "batch_1", "ratio_vs_bare"), ">= 1.0x"),
                ("per-token time long/short", _get(r, "per_token_ms", "seqtool_long_over_short"), "<= 1.10")]
    if name == "longrange":
        return [(f"gap {x['gap']} {x['cell']} accuracy (chance {x['chance']:.0%})", x["accuracy"], "lstm far above chance")
                for x in r.get("results", [])]
    if name == "quality-char":
        return [("val loss nats/char", r.get("best_val_loss_nats_per_char"), "<= 1.40")]
    if name == "quality-word":
        return [("test perplexity", r.get("test_ppl"), "<= 110")]
    return []


def run_one(name: str, cmd: list[str]) -> dict:
    """Run one benchmark script alone, measured (calibration, foreign CPU); its entry in the result file."""
    print(f"running {name}: python benchmarks/{' '.join(cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with Measured() as m:
        p = subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]], capture_output=True, text=True,
                           env={**os.environ, "SEQTOOL_CORPORA": str(corpora_dir())})
    result = last_json(p.stdout)
    measured = m.record()
    why = list(measured.pop("invalid_because"))
    if isinstance(result, dict) and result.get("valid") is False:  # the script's own, finer-grained check
        why += [f"its own check: {w}" for w in result.get("invalid_because") or ["marked invalid"]]
    entry = {"command": "python benchmarks/" + " ".join(cmd), "seconds": round(time.perf_counter() - t0, 1), "exit_code": p.returncode,
             "result": result, "measurement": measured, "valid": not why, "invalid_because": why}
    if p.returncode != 0 or result is None:
        entry["stderr_tail"] = p.stderr[-2000:]
    return entry


def print_table(report: dict) -> None:
    rows = [(name, what, value, target[0] if target else "", e["valid"])
            for name, e in report["benchmarks"].items() for what, value, *target in headline(name, e["result"] or {})]
    w = max([len(r[1]) for r in rows] + [10])
    print(f"{'benchmark':<13} {'figure':<{w}} {'value':>10}  {'valid':<5}  target")
    for name, what, value, target, ok in rows:
        v = "-" if value is None else (f"{value:.3g}" if isinstance(value, float) else str(value))
        print(f"{name:<13} {what:<{w}} {v:>10}  {'yes' if ok else 'NO':<5}  {target}")


def refuse_invalid(report: dict) -> int:
    """Say which benchmarks ran invalid and why; the exit status when one did (nothing is written then), else 0."""
    invalid = {n: e["invalid_because"] for n, e in report["benchmarks"].items() if not e["valid"]}
    for name, why in invalid.items():
        for line in why:
            print(f"run_all: {name} is invalid: {line}", file=sys.stderr)
    if invalid:
        print("run_all: no result file written; run the suite alone on a quiet machine, or pass --allow-invalid "
              'to write it marked "valid": false', file=sys.stderr)
        return INVALID_EXIT
    return 0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the full settings (quick by default)")
    ap.add_argument("--only", default="", help="comma-separated subset of " + ",".join(SUITE))
    ap.add_argument("--allow-invalid", action="store_true",
                    help='write the result file even when a run was invalid, marked "valid": false')
    add_corpora_option(ap)
    args = ap.parse_args(argv)
    mode = "full" if args.full else "quick"
    names = [n for n in (args.only.split(",") if args.only else SUITE) if n]
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        sys.exit(f"run_all: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(SUITE)}")

    import torch

    report = {"mode": mode, "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "reproduce": "python benchmarks/run_all.py" + (" --full" if args.full else "") + (f" --only {args.only}" if args.only else ""),
              "valid": True, "benchmarks": {}}
    for name in names:
        cmd = SUITE[name][1 if args.full else 0]
        if not cmd:
            print(f"{name}: full mode only", file=sys.stderr)
            continue
        report["benchmarks"][name] = run_one(name, cmd)
    report["valid"] = all(e["valid"] for e in report["benchmarks"].values())
    print_table(report)
    if not args.allow_invalid and (status := refuse_invalid(report)):
        sys.exit(status)
    out = RESULTS_DIR / f"results-{mode}-{time.strftime('%Y%m%d-%H%M')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    failed = [n for n, e in report["benchmarks"].items() if e["exit_code"] != 0 or e["result"] is None]
    print(f"\nwrote {out}" + ("" if report["valid"] else ' (marked "valid": false)') + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
