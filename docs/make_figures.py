"""The README's pictures, made from a real run: the demo's training curves and its gradient-flow plot.

    python docs/make_figures.py            # the full demo (about 2 minutes on 2 CPU cores)
    python docs/make_figures.py --quick    # the quick demo (well under a minute; tiny models)

Runs ``seqtool demo`` into a temporary directory, copies its ``curves.png`` (validation loss against
training time, LSTM and tanh RNN) and draws ``seqtool grad-report --init --plot`` of the two trained models,
into ``docs/images/``. Needs matplotlib (``pip install -e ".[plot]"``). Prints a JSON list of what it wrote.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def seqtool(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "seqtool", *args], check=True, cwd=HERE.parent)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the quick demo: tiny models, a few seconds of training each")
    ap.add_argument("--out", type=Path, default=HERE / "images", help="where the PNGs go (default docs/images)")
    ap.add_argument("--threads", default="1", help="CPU threads for torch (default 1: steady on a busy machine)")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tour = Path(tmp) / "tour"
        seqtool("demo", *(["--quick"] if a.quick else []), "--out", str(tour), "--threads", a.threads, "--quiet")
        shutil.copyfile(tour / "curves.png", a.out / "curves.png")
        seqtool("grad-report", str(tour / "lstm"), str(tour / "rnn"), "--init", "--timesteps", "100", "--threads", a.threads,
                "--plot", str(a.out / "gradients.png"), "--force", "--quiet")
    print(json.dumps({"wrote": [str(a.out / n) for n in ("curves.png", "gradients.png")], "demo": "quick" if a.quick else "full"}))


if __name__ == "__main__":
    main()
