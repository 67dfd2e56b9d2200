"""Exposure bias at equal wall time: teacher forcing against scheduled sampling, scored teacher-forced and free running.

    python benchmarks/bench_exposure.py [--minutes 3] [--k 50] [--free-running 20] [--positions 300]

Trains the char default on tiny shakespeare twice for the same time budget, once teacher-forced (seqtool's default)
and once with `--scheduled-sampling K` (Bengio et al. 2015: the model's own samples fed back with a probability
that grows over training), then scores each on the held-out last 10% of the lines with `seqtool eval
--free-running N`: the validation loss (teacher-forced) against how often the model's own greedy continuation
matches the text 1..N steps ahead. The issue asks for the figure whichever way it goes. Scheduled sampling
unrolls the recurrent stack one step at a time, so it takes far fewer steps in the same time; that is part of
what equal wall time measures. One JSON document with the calibration around the whole run. Run it alone.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.common import Measured, add_corpora_option, corpora_dir, shown  # noqa: E402

SHARED = corpora_dir()


def seqtool(*args) -> dict:
    r = subprocess.run([sys.executable, "-m", "seqtool", *map(str, args), "--json", "--quiet"], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"seqtool {args[0]} failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=3.0, help="time budget of each training run")
    ap.add_argument("--k", type=float, default=50.0, help="--scheduled-sampling K (p reaches 0.5 near step K ln K)")
    ap.add_argument("--free-running", type=int, default=20, help="tokens each model continues on its own")
    ap.add_argument("--positions", type=int, default=300, help="positions of the held-out text it continues from")
    add_corpora_option(ap)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-exposure-"))
    lines = (SHARED / "tinyshakespeare.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    cut = int(len(lines) * 0.9)
    (work / "train.txt").write_text("".join(lines[:cut]), encoding="utf-8")
    (work / "heldout.txt").write_text("".join(lines[cut:]), encoding="utf-8")
    ways = {"teacher forcing": [], f"scheduled sampling K={a.k:g}": ["--scheduled-sampling", a.k]}
    results = {}
    with Measured() as m:
        for i, (name, extra) in enumerate(ways.items()):
            out = work / f"run{i}"
            train = ["train", work / "train.txt", "--val", work / "heldout.txt", "--level", "char", *extra,
                     "--time-budget", f"{a.minutes}m", "--out", out]
            summary = seqtool(*train)
            ev = seqtool("eval", out, work / "heldout.txt", "--free-running", a.free_running, "--positions", a.positions)
            fr = ev["free_running"]
            results[name] = {"steps": summary["steps"], "heldout_loss": round(ev["total"]["loss"], 4),
                             "teacher_forced_accuracy": round(fr["teacher_forced_accuracy"], 4),
                             "free_running_match": {s["step"]: round(s["accuracy"], 4) for s in fr["steps"] if s["step"] in (1, 2, 5, 10, 20)},
                             "command": "seqtool " + " ".join(map(str, train)).replace(str(work), "WORK")}
    print(json.dumps({"benchmark": "exposure bias", "minutes": a.minutes, "corpus": shown(SHARED / "tinyshakespeare.txt", SHARED),
                      "results": results, **m.record(), "command": "python benchmarks/bench_exposure.py " + " ".join(sys.argv[1:])}, indent=1))


if __name__ == "__main__":
    main()
