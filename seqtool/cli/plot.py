"""``seqtool plot``: read runs' metrics.jsonl (seqtool.curves), draw the curves as a terminal chart or a PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seqtool.cli import options as opt
from seqtool.cli.console import Ui

EXAMPLES = """
[bold]Examples[/bold]

  seqtool plot runs/tour/lstm runs/tour/rnn

  seqtool plot runs/tour/lstm runs/tour/rnn --x time --metric val_loss --out curves.png

  seqtool plot runs/fables-lstm --metric grad_norm --metric lr --log

  seqtool plot runs/fables-lstm --x tokens --metric tokens_per_sec
"""


def register(app: typer.Typer) -> None:
    app.command("plot", help="Training curves of one or several runs overlaid: any metrics.jsonl field (default training and "
                "validation loss) against steps, tokens seen or training time; a terminal chart, or a PNG with --out.",
                epilog=EXAMPLES)(plot)


def plot(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (seqtool train --out), labelled by their names.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write a PNG here instead of printing a terminal chart (needs matplotlib: pip install 'seqtool\\[plot]').", show_default=False)] = None,
    metric: Annotated[Optional[list[str]], typer.Option("--metric", "-m", help="A metrics.jsonl field to plot (val_loss, train_ppl, grad_norm, lr, tokens_per_sec ...); repeat for several. train_X and val_X share a panel. \\[default: train_loss and val_loss]", show_default=False)] = None,
    x: Annotated[str, typer.Option("--x", help="The x axis: steps, tokens (seen so far) or time (training seconds).")] = "steps",
    log: Annotated[bool, typer.Option("--log", help="A log-scale y axis.")] = False,
    force: opt.force_option("--out") = False,
    quiet: opt.Quiet = False,
) -> None:
    from seqtool import curves
    from seqtool.errors import UsageError
    from seqtool.fsio import check_new_file

    if out is not None:
        if out.suffix.lower() != ".png":
            raise UsageError(f"--out {out}: give a .png file name")
        check_new_file(out, force)
        from seqtool.cli.pngs import require_matplotlib

        require_matplotlib("--out", "drop --out for a terminal chart")
    panels = curves.panels(curves.read_logs(run_dirs), metric, x)
    ui = Ui(quiet=quiet)
    missing = [f"no {m}: {', '.join(runs)}" for p in panels for m, runs in p.missing.items()]
    if missing:
        ui.info(f"not drawn, {'; '.join(missing)}")
    if out is not None:
        save_png(panels, x, log, out, force)
        ui.info(f"wrote {out}")
        return
    if ui.show_results:
        _print_charts(ui, panels, x, log)


def _print_charts(ui: Ui, panels, x: str, log: bool) -> None:
    from seqtool.cli.charts import line_chart, render
    from seqtool.curves import X_AXES

    width = max(20, min(100, ui.out.width - 12))
    for p in panels:
        rows = line_chart({c.label: (c.x, c.y) for c in p.curves}, X_AXES[x], width=width, log=log)
        if not rows:
            ui.info(f"{p.title}: no positive value to draw on a log scale (drop --log)" if log and p.curves else f"{p.title}: nothing to plot yet")
            continue
        ui.out.print(f"\n{p.title}{' (log scale)' if log else ''} against {X_AXES[x]}", markup=False)
        render(ui.out, rows, [c.label for c in p.curves])


def save_png(panels, x: str, log: bool, out: Path, force: bool) -> None:
    """``panels`` (seqtool.curves) side by side in one PNG, 6 x 4 inches each at 100 dpi; a colour per run, training curves dashed."""
    from seqtool.cli.pngs import png_bytes, pyplot
    from seqtool.curves import X_AXES
    from seqtool.fsio import write_new_file

    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    runs = list(dict.fromkeys(c.run for p in panels for c in p.curves))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, p in zip(axes[0], panels):
        for c in p.curves:  # one colour per run, dashed for training figures
            ax.plot(c.x, c.y, label=c.label, color=colors[runs.index(c.run) % len(colors)], ls="--" if c.metric.startswith("train_") else "-",
                    marker="." if len(c.x) < 30 else None)
        ax.set(title=p.title, xlabel=X_AXES[x], yscale="log" if log else "linear")
        ax.grid(True, alpha=0.3)
        if p.curves:
            ax.legend(fontsize=8)
    fig.tight_layout()
    write_new_file(out, png_bytes(fig, dpi=100), force)
