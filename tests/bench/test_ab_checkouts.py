"""ab_checkouts times each side with the code of its own checkout, not the script's, and refuses a non-checkout."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.ab_checkouts import Worker, main

ROOT = Path(__file__).resolve().parents[2]
TINY = {"cell": "lnlstm", "hidden": 8, "batch": 2, "bptt": 3, "vocab": 5, "bf16": False}


def test_each_worker_builds_its_model_from_its_own_checkout(tmp_path, capfd):
    old = tmp_path / "old"
    shutil.copytree(ROOT / "seqtool", old / "seqtool", ignore=shutil.ignore_patterns("__pycache__"))
    with open(old / "seqtool" / "models" / "lm.py", "a") as f:
        f.write("\n\ndef build_model(cfg):\n    raise RuntimeError('this is the old checkout')\n")
    with pytest.raises(SystemExit, match="did not start"):
        Worker(old, TINY)
    assert "this is the old checkout" in capfd.readouterr().err
    w = Worker(ROOT, TINY)  # the unchanged checkout builds and steps
    try:
        w()
        w()
    finally:
        w.close()
    assert w.p.returncode == 0


def test_a_directory_without_seqtool_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path), str(ROOT)])
    assert e.value.code == 2 and "no seqtool/ package there" in capsys.readouterr().err
