"""The live training display fits the terminal: bar, steps and times whole on the first line, metrics on the second."""
from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from seqtool.cli.console import Ui
from seqtool.cli.train_progress import ProgressRenderer, fit

LOG = {"step": 800, "epoch": 3.6213, "train_loss": 2.2063, "train_ppl": 9.08, "tokens_per_sec": 41234.0, "grad_norm": 0.4321,
       "lr": 0.00123, "skipped_steps": 0}
EVAL = {**LOG, "val_loss": 2.3456, "val_ppl": 10.44, "val_bits_per_token": 3.384, "improved": True, "best_val": 2.3456}
TIME = re.compile(r"(\d+:\d\d:\d\d|-:--:--)")


def renderer(width: int) -> ProgressRenderer:
    ui = Ui()
    ui.err = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    return ProgressRenderer(ui)


def shown(r: ProgressRenderer, width: int) -> list[str]:
    """What the live display shows now, rendered as plain text at ``width``."""
    out = Console(file=io.StringIO(), width=width, color_system=None)
    out.print(r.live.get_renderable())
    return out.file.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 120])
def test_the_first_line_keeps_bar_steps_and_times_whole_and_metrics_get_their_own(width):
    r = renderer(width)
    r.on_start({"step": 0, "total_steps": 3000, "precision_note": None})
    try:
        r.on_log(LOG)
        r.on_eval(EVAL)  # the metrics line now carries the validation figures too
        first, second = shown(r, width)
    finally:
        r.on_end({})
    assert len(first) <= width and len(second) <= width
    assert "800/3,000 steps" in first and len(TIME.findall(first)) == 2 and "…" not in first
    assert re.search(r"━{10,}", first)  # the bar has room: it takes what the others leave
    assert second.startswith("epoch 3.62  loss 2.2063  ppl 9.08  41,234 tok/s")
    if width == 80:
        assert second.endswith("…")  # cut, not wrapped onto a third line
    else:
        assert second.rstrip().endswith("lr 0.00123  val 2.3456 (ppl 10.44, 3.384 bits)")


@pytest.mark.parametrize("width", [80, 120])
def test_a_validation_line_keeps_its_best_marker(width):
    r = renderer(width)
    line = r.eval_line(EVAL, width)
    assert line == "step 800  val 2.3456 (ppl 10.44, 3.384 bits)  *best*"
    scores = {"step": 800, "val_loss": 0.5, **{f"val_score_{i}": 0.1 * i for i in range(9)}, "improved": True}
    long = r.eval_line(scores, width)
    assert len(long) == width and long.endswith("…  *best*")


def test_fit():
    assert fit("abcdef", "!", 7) == "abcdef!"
    assert fit("abcdefgh", "!", 7) == "abcde…!"
    assert fit("abc", "", 2) == "a…"


@pytest.mark.parametrize("width", [80, 120])
def test_tokenize_progress_keeps_sizes_and_times_whole(width):
    ui = Ui()
    ui.err = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    with ui.progress("tokenizing /data/corpora/wikitext-103/train.txt", 2_500_000_000) as ticker:  # a long description gives way
        ticker._p.update(ticker._t, completed=1_234_567_890)
        out = Console(file=io.StringIO(), width=width, color_system=None)
        out.print(ticker._p.get_renderable())
    [line] = out.file.getvalue().splitlines()
    assert len(line) <= width and "1.2/2.5 GB" in line and len(TIME.findall(line)) == 2 and line.startswith("tokenizing /data")
