"""``seqtool runs``: find run directories, summarize each (seqtool.run_index), print a table or JSON."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seqtool.cli import options as opt
from seqtool.cli.console import Ui

EXAMPLES = """
[bold]Examples[/bold]

  seqtool runs

  seqtool runs runs/ other-runs/ --sort best

  seqtool runs --where cell=lstm --where status=finished --sort -tokens_per_sec

  seqtool runs --json
"""


def register(app: typer.Typer) -> None:
    app.command("runs", help="List training runs: one row per run directory found under DIR (default runs/) with its task, model, "
                "steps, time, speed, best validation figure and status (finished, stopped by budget, interrupted, diverged, "
                "running, damaged).", epilog=EXAMPLES)(runs)


def runs(
    dirs: Annotated[Optional[list[Path]], typer.Argument(help="Run directories, or directories holding them (searched 3 levels deep). \\[default: runs/]", show_default=False)] = None,
    sort: Annotated[Optional[str], typer.Option("--sort", help="Order by a field (best: best first, by loss or by score; steps, elapsed, tokens_per_sec, name ...; see --json for all); a leading - reverses.", show_default=False)] = None,
    where: Annotated[Optional[list[str]], typer.Option("--where", help="Keep runs whose FIELD equals VALUE (FIELD=VALUE, e.g. cell=lstm or status=finished); repeat to require several.", show_default=False)] = None,
    quiet: opt.Quiet = False,
    json_out: opt.Json = False,
) -> None:
    from seqtool import run_index

    ui = Ui(quiet=quiet, json_mode=json_out)
    found = [run_index.summarize(d) for d in run_index.find_runs(dirs or [Path("runs")])]
    shown = run_index.select(found, where or [], sort)
    if json_out:
        ui.emit_json([r.to_dict() for r in shown])
        return
    ui.table(f"{len(shown)} of {_count(len(found))}" if where else _count(len(found)),
             ["run", "status", "task", "level", "cell", "size", "params", "steps", "epochs", "time", "tokens/s", "best validation"],
             [_row(r) for r in shown], numeric=(6, 7, 8, 9, 10))
    for r in shown:
        if r.problem:
            ui.info(f"{r.path}: {r.problem}")


def _row(r) -> list:
    return [r.path, r.status, r.task or "", r.level or "", r.cell or "", r.size or "", _or_blank(r.params), _or_blank(r.steps),
            "" if r.epochs is None else f"{r.epochs:.2f}", _duration(r.elapsed), "" if r.tokens_per_sec is None else f"{r.tokens_per_sec:,.0f}",
            _best(r)]


def _count(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _or_blank(v):
    return "" if v is None else v


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _best(r) -> str:
    """'loss 1.234  ppl 3.43  1.78 bits' for a language model, 'accuracy 91.2%  macro F1 88.0%' for a task."""
    if r.best is None:
        return ""
    if r.metric == "val_loss":
        return f"loss {r.best:.4f}  ppl {r.best_val_ppl:,.2f}  {r.best_val_bits:.3f} bits"
    text = f"{r.metric.removeprefix('val_').replace('_', ' ')} {r.best:.1%}"
    return text + (f"  macro F1 {r.best_val_macro_f1:.1%}" if r.best_val_macro_f1 is not None else "")
