"""Classification and tagging on the shared benchmark corpora: seqtool train --task, then eval on the test split.

Prints one JSON object: the calibration figure (a fixed fp32 matmul's GFLOP/s and the load
average) before and after, the command, the test score, and whether the run is valid (calibration
moved less than 15% and no other process used the CPU: benchmarks/common.py). Run it alone.

  python benchmarks/bench_tasks.py sst2 --minutes 10      # SST-2 sentence-level, target: test accuracy >= 84%
  python benchmarks/bench_tasks.py ewt --minutes 20       # UD English-EWT UPOS, target: test accuracy >= 95.0%
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import Measured, add_corpora_option, corpora_dir, shown  # noqa: E402

SHARED = corpora_dir()  # --corpora DIR, $SEQTOOL_CORPORA, or ../shared/corpora
TASKS = {
    "sst2": {"train": "sst2/stsa.binary.train", "val": "sst2/stsa.binary.dev", "test": "sst2/stsa.binary.test", "metric": "accuracy",
             "args": ["--task", "classify", "--format", "sst", "--bidirectional", "--pool", "max", "--hidden", "256", "--embed-dim", "128",
                      "--layers", "1", "--dropout", "0.5", "--batch-size", "32", "--lr", "0.002",
                      "--char-features", "cnn", "--min-freq", "2"]},  # session 6's best: 81.5-82.3% test, +1-1.5 points
    "ewt": {"train": "ud-english-ewt/en_ewt-ud-train.conllu", "val": "ud-english-ewt/en_ewt-ud-dev.conllu", "test": "ud-english-ewt/en_ewt-ud-test.conllu",
            "metric": "token_accuracy", "args": ["--task", "tag", "--no-lower", "--hidden", "200", "--embed-dim", "128", "--layers", "1",
                                                 "--char-features", "lstm", "--char-hidden", "50", "--word-dropout", "0.25",
                                                 "--dropout", "0.5", "--batch-size", "32", "--lr", "0.002"]},
}



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=sorted(TASKS))
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    add_corpora_option(ap)
    a, extra = ap.parse_known_args()  # other options go to seqtool train after the task's own (e.g. --average-weights swa)
    t = TASKS[a.task]
    out = a.out or tempfile.mkdtemp(prefix=f"bench-{a.task}-")
    train = [sys.executable, "-m", "seqtool", "train", str(SHARED / t["train"]), "--val", str(SHARED / t["val"]), *t["args"], *extra,
             "--time-budget", f"{a.minutes}m", "--out", out, "--force", "--quiet", "--json"]
    with Measured() as m:
        r = subprocess.run(train, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"train failed: {r.stderr.strip()}")
        summary = json.loads(r.stdout)
        ev = subprocess.run([sys.executable, "-m", "seqtool", "eval", out, str(SHARED / t["test"]), "--json", "--quiet"], capture_output=True, text=True)
        if ev.returncode:
            sys.exit(f"eval failed: {ev.stderr.strip()}")
        test = json.loads(ev.stdout)["files"][0]
    print(json.dumps({"task": a.task, "minutes": a.minutes, "test_" + t["metric"]: test[t["metric"]], "best_val": summary.get(f"best_val_{summary['metric']}"),
                      "steps": summary["steps"], "epochs": summary["epochs"], **m.record(),
                      "command": shown(" ".join(train[1:]), SHARED), "run_dir": out}, indent=1))


if __name__ == "__main__":
    main()
