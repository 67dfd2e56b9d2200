"""Text charts for the terminal: several series on one log-scale plot, one marker per series, coloured on a terminal."""
from __future__ import annotations

import math
from typing import Sequence

MARKERS = "●▲■◆✚✱○△□◇"
COLORS = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta", "bright_green", "bright_yellow")


def log_chart(series: dict[str, Sequence[float]], width: int = 60, height: int = 12, floor: float = 1e-12,
              xlabel: str = "lag T - t", x0: int = 0) -> list[tuple[str, list[tuple[str, int | None]]]]:
    """Plot each series (values by x = x0, x0 + 1, ...) on a shared log10 y axis.

    Returns rows of (y label, cells) where each cell is (character, series index or None), so the
    caller can colour markers; the last row is the x axis. Values <= ``floor`` sit on the bottom
    row (they are below the chart). The top of the axis is the largest value's decade.
    """
    values = [v for s in series.values() for v in s if v > floor and math.isfinite(v)]
    if not values:
        return []
    n = max(len(s) for s in series.values())
    top = math.ceil(math.log10(max(values)))
    bottom = min(top - 1, math.floor(math.log10(min(values))))
    width = max(2, min(width, n))
    grid: list[list[tuple[str, int | None]]] = [[(" ", None)] * width for _ in range(height)]
    for si, s in enumerate(series.values()):
        for col in range(width):
            x = round(col * (n - 1) / (width - 1)) if width > 1 else 0
            if x >= len(s):
                continue
            v = s[x]
            if not math.isfinite(v):
                continue
            frac = 0.0 if v <= floor else (math.log10(v) - bottom) / (top - bottom)
            row = height - 1 - min(height - 1, max(0, round(frac * (height - 1))))
            if grid[row][col][1] is None:
                grid[row][col] = (MARKERS[si % len(MARKERS)], si)
    rows = []
    for r in range(height):
        exp = top - (top - bottom) * r / (height - 1)
        label = f"1e{round(exp):d}" if r % 3 == 0 or r == height - 1 else ""
        rows.append((label, grid[r]))
    first, last = str(x0), str(x0 + n - 1)
    axis = f"{first}{xlabel:^{max(0, width - len(first) - 1 - len(last))}}{last}"
    rows.append(("", [(c, None) for c in axis[:width + len(last)]]))
    return rows


def print_log_chart(ui, series: dict[str, Sequence[float]], title: str, xlabel: str = "lag T - t", x0: int = 0) -> None:
    """``log_chart`` of ``series`` on ``ui``'s stdout under ``title``, with a legend; colours only on a terminal."""
    from rich.text import Text

    rows = log_chart(series, xlabel=xlabel, x0=x0)
    if not rows:
        return
    ui.out.print("\n" + title, markup=False)
    tty = ui.out.is_terminal
    for label, cells in rows:
        line = Text(f"{label:>6} ")
        for ch, si in cells:
            line.append(ch, style=COLORS[si % len(COLORS)] if (si is not None and tty) else None)
        ui.out.print(line)
    legend = Text("       ")
    for i, name in enumerate(series):
        legend.append(f"{MARKERS[i % len(MARKERS)]} {name}   ", style=COLORS[i % len(COLORS)] if tty else None)
    ui.out.print(legend)
