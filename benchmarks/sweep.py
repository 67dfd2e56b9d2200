"""Sweep `seqtool train` configurations at one time budget, each run alone and measured, and tabulate what each reached.

    python benchmarks/sweep.py --preset char10 --minutes 10          # tiny shakespeare from the corpora directory
    python benchmarks/sweep.py --minutes 2 --try "h512: --level char --hidden 512" \\
                                           --try "h512-d0.3: --level char --hidden 512 --dropout 0.3"
    python benchmarks/sweep.py ../shared/corpora/ptb/ptb.train.txt --common "--val ../shared/corpora/ptb/ptb.valid.txt" ...

Each configuration is a name and the `seqtool train` options that make it; every run gets the
corpus, the --common options (default: the 90/10 split nanoGPT uses), --time-budget and its own run
directory. The runs go one after another with a pause between (--pause, 60 s: so the load of one
does not carry into the next), each measured as every benchmark is (benchmarks/common.py: the
calibration before and after, the CPU other processes used during it). Per run it records the best
validation loss, steps, epochs, tokens/s (median over the logged intervals after the first), the
parameters and the validity; it prints a markdown table ranked by best validation loss with the
exact command of each row, and writes the JSON after every run (a stopped sweep keeps what it
measured). Run it alone on the machine: a sweep measured beside another job says nothing.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.common import Measured, add_corpora_option, corpora_dir, shown  # noqa: E402
from seqtool.fsio import atomic_write_bytes  # noqa: E402

# Around the char defaults (LSTM 2x384, one-hot input, dropout 0.1, batch 32, bptt 128, Adam 2e-3) at a 10-minute budget.
PRESETS: dict[str, list[tuple[str, str]]] = {
    "char10": [
        ("default", "--level char"),
        ("h512", "--level char --hidden 512"),
        ("h512-d0.2", "--level char --hidden 512 --dropout 0.2"),
        ("h256x3", "--level char --hidden 256 --layers 3"),
        ("emb64", "--level char --embed-dim 64"),
        ("bptt64", "--level char --bptt 64"),
        ("lr3e-3", "--level char --lr 3e-3"),
        ("b64-lr3e-3", "--level char --batch-size 64 --lr 3e-3"),
        # the plain loop's config of issue 14 (2x256, embedding 64, bptt 64, batch 32, Adam 3e-3)
        ("plain-ref", "--level char --hidden 256 --embed-dim 64 --bptt 64 --lr 3e-3"),
    ],
}
# The sweep sets these itself for every run.
OWN_OPTIONS = {"--time-budget", "--out", "-o", "--force", "--quiet", "-q", "--json", "--resume"}


def parse_try(text: str) -> tuple[str, list[str]]:
    """'NAME: --hidden 512 --dropout 0.3' -> ('NAME', ['--hidden', '512', '--dropout', '0.3']); ValueError says what is wrong."""
    name, colon, rest = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c.isspace() for c in name):
        raise ValueError(f"--try {text!r}: write it as 'NAME: OPTIONS', a name without spaces, e.g. 'h512: --hidden 512'")
    args = shlex.split(rest)
    own = sorted(OWN_OPTIONS.intersection(a.split("=")[0] for a in args))
    if own:
        raise ValueError(f"--try {name}: {', '.join(own)} is set by the sweep for every run; leave it out")
    return name, args


def configurations(tries: list[str], presets: list[str]) -> list[tuple[str, list[str]]]:
    """The configurations to run, presets first, then each --try; ValueError on a bad --try or a name given twice."""
    configs = [(name, shlex.split(opts)) for p in presets for name, opts in PRESETS[p]]
    configs += [parse_try(t) for t in tries]
    names = [n for n, _ in configs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"configuration name(s) given twice: {', '.join(twice)}; give each --try its own name")
    if not configs:
        raise ValueError("nothing to sweep: give --try 'NAME: OPTIONS' (repeatable) or --preset " + "|".join(PRESETS))
    return configs


def train_figures(run_dir: Path) -> dict:
    """Median tokens/s over the logged intervals after the first (warm-up), total tokens and parameters, from metrics.jsonl."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rates = [r["tokens_per_sec"] for r in rows if r.get("tokens_per_sec")]
    rates = rates[1:] or rates
    return {"tokens_per_sec": round(statistics.median(rates)) if rates else None,
            "tokens": next((r["tokens"] for r in reversed(rows) if "tokens" in r), None),
            "params": next((r["params"] for r in reversed(rows) if "params" in r), None)}


def run_config(name: str, args: list[str], corpus: Path, common: list[str], minutes: float, run_dir: Path, corpora: Path) -> dict:
    """Train one configuration alone, measured; its row: figures, command, calibration and validity."""
    cmd = [sys.executable, "-m", "seqtool", "train", str(corpus), *common, *args,
           "--time-budget", f"{minutes:g}m", "--out", str(run_dir), "--force", "--quiet", "--json"]
    with Measured() as m:
        p = subprocess.run(cmd, capture_output=True, text=True)
    row = {"name": name, "options": shlex.join(args), "command": shown("python " + shlex.join(cmd[1:]), corpora),
           "exit_code": p.returncode, **m.record()}
    if p.returncode:
        lines = p.stderr.strip().splitlines()
        return {**row, "error": lines[-1] if lines else f"exit status {p.returncode}"}
    s = json.loads(p.stdout)
    return {**row, "best_val_loss": s.get("best_val_loss"), "steps": s.get("steps"), "epochs": s.get("epochs"),
            "stopped": s.get("stopped"), **train_figures(run_dir)}


def _cell(v, fmt: str = "{}") -> str:
    return "-" if v is None else fmt.format(v)


def markdown(runs: list[dict]) -> str:
    """The table, best validation loss first (failed runs last), then each row's command and why a run was invalid."""
    ranked = sorted(runs, key=lambda r: (r.get("best_val_loss") is None, r.get("best_val_loss") or 0.0))
    out = ["| rank | config | best val loss | steps | epochs | tokens/s | params | valid |",
           "|---:|---|---:|---:|---:|---:|---:|---|"]
    for i, r in enumerate(ranked, 1):
        loss = _cell(r.get("best_val_loss"), "{:.4f}") if "error" not in r else "failed"
        out.append(f"| {i} | {r['name']} | {loss} | {_cell(r.get('steps'))} | {_cell(r.get('epochs'), '{:.2f}')} "
                   f"| {_cell(r.get('tokens_per_sec'), '{:,}')} | {_cell(r.get('params'), '{:,}')} | {'yes' if r['valid'] else 'NO'} |")
    out += ["", "Commands:", ""] + [f"- {r['name']}: `{r['command']}`" for r in ranked]
    notes = [f"- {r['name']}: {w}" for r in ranked for w in r["invalid_because"]]
    notes += [f"- {r['name']} failed: {r['error']}" for r in ranked if "error" in r]
    return "\n".join(out + (["", "Invalid or failed:", ""] + notes if notes else []))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", default=None, help="text file to train on (default: tinyshakespeare.txt in the corpora directory)")
    ap.add_argument("--minutes", type=float, default=10.0, help="time budget of each run, in minutes (default 10)")
    ap.add_argument("--try", dest="tries", action="append", default=[], metavar="'NAME: OPTIONS'",
                    help="a configuration: a name and its seqtool train options (repeatable)")
    ap.add_argument("--preset", action="append", default=[], choices=sorted(PRESETS), help="a built-in list of configurations")
    ap.add_argument("--common", default="--val-fraction 0.1", help="options added to every run (default: %(default)s)")
    ap.add_argument("--pause", type=float, default=60.0, help="seconds to wait between runs so the load settles (default 60)")
    ap.add_argument("--runs", type=Path, default=None, help="where the run directories go (default: a temporary directory)")
    ap.add_argument("--out", type=Path, default=None, help="the JSON file (default: benchmarks/sweep-<corpus>-<minutes>m-<date>.json)")
    add_corpora_option(ap)
    a = ap.parse_args(argv)
    try:
        a.configs = configurations(a.tries, a.preset)
    except ValueError as e:
        ap.error(str(e))
    if a.minutes <= 0 or a.pause < 0:
        ap.error("--minutes must be positive and --pause not negative")
    a.corpora = corpora_dir(argv)
    a.corpus = Path(a.corpus) if a.corpus else a.corpora / "tinyshakespeare.txt"
    if not a.corpus.is_file():
        ap.error(f"{a.corpus} not found; give a corpus file or --corpora DIR (benchmarks/README.md says where each corpus comes from)")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    import torch

    stamp = time.strftime("%Y%m%d-%H%M")
    out = a.out or HERE / f"sweep-{a.corpus.stem}-{a.minutes:g}m-{stamp}.json"
    runs_dir = a.runs or Path(tempfile.mkdtemp(prefix="sweep-"))
    report = {"corpus": shown(a.corpus, a.corpora), "minutes": a.minutes, "common": a.common, "pause_s": a.pause,
              "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
              "torch": torch.__version__, "reproduce": shown("python " + shlex.join(sys.argv), a.corpora), "runs": []}
    for i, (name, args) in enumerate(a.configs):
        if i:
            time.sleep(a.pause)
        print(f"sweep: {i + 1}/{len(a.configs)} {name}: {shlex.join(args)}", file=sys.stderr, flush=True)
        row = run_config(name, args, a.corpus, shlex.split(a.common), a.minutes, runs_dir / name, a.corpora)
        report["runs"].append(row)
        atomic_write_bytes(out, (json.dumps(report, indent=2) + "\n").encode())
    print(markdown(report["runs"]))
    print(f"\nwrote {out}; run directories in {runs_dir}", file=sys.stderr)
    return 1 if any("error" in r for r in report["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
