"""Training progress on stderr: a live two-line display on a terminal, plain lines in a pipe, nothing with --quiet.

On a terminal the first line is the bar, the step count and the elapsed and remaining times, always
whole (the bar takes what width is left); the latest metrics go on a line of their own, cut with an
ellipsis rather than wrapped. A validation line printed above them keeps its ``*best*`` marker in view.
"""
from __future__ import annotations

from typing import Callable

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column, Table
from rich.text import Text

from seqtool.cli.console import Ui

BEST = "  *best*"


class TwoLineProgress(Progress):
    """rich's Progress with each task's ``stats`` field on a second line that never wraps."""

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            if task.fields.get("stats"):
                yield Text(task.fields["stats"], no_wrap=True, overflow="ellipsis")

    def make_tasks_table(self, tasks) -> Table:
        table = super().make_tasks_table(tasks)
        table.expand = True  # the bar column (no fixed width) takes the width the others leave
        return table


def fit(body: str, suffix: str, width: int) -> str:
    """``body`` + ``suffix`` in ``width`` columns: the body cut with an ellipsis, the suffix always whole."""
    room = width - len(suffix)
    return (body if len(body) <= room else body[:max(0, room - 1)] + "…") + suffix


class ProgressRenderer:
    """Training callbacks -> a live display on a terminal, plain lines in a pipe, nothing with --quiet."""

    def __init__(self, ui: Ui):
        self.ui = ui
        self.live = None

    def on_start(self, info: dict) -> None:
        self.info = info
        if info.get("precision_note"):
            self.ui.warn(info["precision_note"])
        elif info.get("precision_by_auto") and info.get("precision") == "bf16":
            self.ui.info("precision: bf16, which auto picks for this model here (--precision fp32 to train in fp32)")
        if self.ui.quiet or not self.ui.err.is_terminal:
            return
        total = info["total_steps"]
        whole = Column(no_wrap=True)  # the step count and the times are never cut or wrapped: the bar gives way
        self.live = TwoLineProgress(TextColumn("[bold]train[/]", table_column=whole), BarColumn(bar_width=None, table_column=Column(ratio=1)),
                                    TextColumn("{task.completed:,}/{task.total:,} steps" if total else "{task.completed:,} steps", table_column=whole),
                                    TimeElapsedColumn(table_column=whole), TimeRemainingColumn(table_column=whole), console=self.ui.err, transient=False)
        self.live.start()
        self.task = self.live.add_task("train", total=total or None, completed=info["step"], stats="")

    def _line(self, r: dict) -> str:
        if r["train_loss"] is None:  # every step since the last line was skipped (--skip-nonfinite)
            s = f"epoch {r['epoch']:.2f}  loss -  {r['tokens_per_sec']:,.0f} tok/s  lr {r['lr']:.3g}"
        else:
            ppl = f"  ppl {r['train_ppl']:.2f}" if "train_ppl" in r else ""
            s = (f"epoch {r['epoch']:.2f}  loss {r['train_loss']:.4f}{ppl}  {r['tokens_per_sec']:,.0f} tok/s  "
                 f"|g| {r['grad_norm']:.3g}  lr {r['lr']:.3g}")
        if r.get("skipped_steps"):
            s += f"  skipped {r['skipped_steps']}"
        return s + self._val(r)

    def _val(self, r: dict) -> str:
        if "val_ppl" in r:
            return f"  val {r['val_loss']:.4f} (ppl {r['val_ppl']:.2f}, {r['val_bits_per_token']:.3f} bits)"
        if "val_loss" in r:  # a classifier or tagger: its scores
            scores = ", ".join(f"{k[4:].replace('_', ' ')} {v:.4f}" for k, v in r.items() if k.startswith("val_") and k != "val_loss")
            return f"  val {r['val_loss']:.4f} ({scores})"
        return ""

    def eval_line(self, r: dict, width: int) -> str:
        """A validation's line above the live display: the step and validation figures, ``*best*`` always shown."""
        return fit(f"step {r['step']:,}{self._val(r)}", BEST if r["improved"] else "", width)

    def on_log(self, r: dict) -> None:
        if self.live is not None:
            self.live.update(self.task, completed=r["step"], stats=self._line(r))
        elif not self.ui.quiet:
            self.ui.info(f"step {r['step']:,}  {self._line(r)}")

    def on_eval(self, r: dict) -> None:
        if self.live is not None:
            self.live.update(self.task, completed=r["step"], stats=self._line(r))
            self.live.console.print(self.eval_line(r, self.live.console.width), markup=False, highlight=False, no_wrap=True, overflow="ignore")
        elif not self.ui.quiet:
            self.ui.info(f"step {r['step']:,}  {self._line(r)}" + (BEST if r["improved"] else ""))

    def on_end(self, summary: dict) -> None:
        if self.live is not None:
            self.live.stop()


def threads_warning(ui: Ui) -> Callable[[float, int], None]:
    """What seqtool.contention.ThreadCheck calls when torch's threads share their cores: one warning line on ``ui``."""
    from seqtool.contention import SHARED_BELOW

    def warn(speedup: float, threads: int) -> None:
        ui.warn(f"torch's {threads} threads share their cores with another job (a matmul ran {speedup:.2f}x as fast on {threads} threads "
                f"as on 1; free cores give well over {SHARED_BELOW}x), which can slow training several-fold: stop the other job, "
                f"or give --threads 1")

    return warn
