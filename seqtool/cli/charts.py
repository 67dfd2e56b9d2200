"""Text charts for the terminal: several series on one plot, one marker (and colour) per series.

``log_chart`` plots series by index on a log10 axis (grad-report's gradient norms against the lag);
``line_chart`` plots (x, y) points on a linear or log axis (``seqtool plot``'s training curves);
``render`` prints either with a legend. Each returns rows of (y label, cells), a cell being
(character, series index or None), the last row the x axis.
"""
from __future__ import annotations

import math
from typing import Sequence

MARKERS = "●▲■◆✚✱○△□◇"
COLORS = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta", "bright_green", "bright_yellow")

Rows = list[tuple[str, list[tuple[str, "int | None"]]]]


def _put(grid: list[list[tuple[str, int | None]]], col: int, frac: float, si: int) -> None:
    """Series ``si``'s marker in column ``col`` at height ``frac`` (0 bottom, 1 top); the first drawn wins a shared cell."""
    height = len(grid)
    row = height - 1 - min(height - 1, max(0, round(frac * (height - 1))))
    if grid[row][col][1] is None:
        grid[row][col] = (MARKERS[si % len(MARKERS)], si)


def _axis(left: str, name: str, right: str, room: int) -> list[tuple[str, None]]:
    """The x axis: ``left``, ``room`` characters holding ``name`` centred (blank when it does not fit), ``right``."""
    middle = f"{name:^{room}}" if len(name) <= room else " " * max(1, room)
    return [(c, None) for c in left + middle + right]


def log_chart(series: dict[str, Sequence[float]], width: int = 60, height: int = 12, floor: float = 1e-12,
              xlabel: str = "lag T - t", x0: int = 0) -> Rows:
    """Plot each series (values by x = x0, x0 + 1, ...) on a shared log10 y axis, the x axis named ``xlabel``.

    Values <= ``floor`` sit on the bottom row (they are below the chart). The top of the axis is the
    largest value's decade; a series longer than ``width`` is sampled down.
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
            if x >= len(s) or not math.isfinite(s[x]):
                continue
            _put(grid, col, 0.0 if s[x] <= floor else (math.log10(s[x]) - bottom) / (top - bottom), si)
    rows = []
    for r in range(height):
        exp = top - (top - bottom) * r / (height - 1)
        rows.append((f"1e{round(exp):d}" if r % 3 == 0 or r == height - 1 else "", grid[r]))
    first, last, name = str(x0), str(x0 + n - 1), xlabel
    room = width - 1 - len(first) - len(last)
    if len(name) > room:  # 10-11 points: the name between the ends, no spaces; fewer: only the ends, the last lag under its column
        room = len(name) if width >= 10 else width - len(first) - len(last)
    rows.append(("", _axis(first, name, last, room)))
    return rows


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], x_name: str, width: int = 60, height: int = 12,
               log: bool = False) -> Rows:
    """Plot each series' (x, y) points on shared axes: x linear, y linear or (``log``) log10.

    Points that are not finite (or not positive on a log axis) are left out; no point left, no rows.
    """
    pts = [(si, x, math.log10(y) if log else y) for si, (xs, ys) in enumerate(series.values()) for x, y in zip(xs, ys)
           if math.isfinite(x) and math.isfinite(y) and (y > 0 or not log)]
    if not pts:
        return []
    x0, x1 = min(p[1] for p in pts), max(p[1] for p in pts)
    lo, hi = min(p[2] for p in pts), max(p[2] for p in pts)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    span = (x1 - x0) or 1.0
    grid: list[list[tuple[str, int | None]]] = [[(" ", None)] * width for _ in range(height)]
    for si, x, y in pts:
        _put(grid, round((x - x0) / span * (width - 1)), (y - lo) / (hi - lo), si)
    rows = []
    for r in range(height):
        v = hi - (hi - lo) * r / (height - 1)
        rows.append((f"{10 ** v if log else v:.3g}" if r % 3 == 0 or r == height - 1 else "", grid[r]))
    left, right = short_number(x0), short_number(x1)
    rows.append(("", _axis(left, x_name, right, width - len(left) - len(right))))
    return rows


def short_number(v: float) -> str:
    """1234567 -> '1.23M', 45000 -> '45k', 12.5 -> '12.5'."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def render(console, rows: Rows, names: Sequence[str]) -> None:
    """Print ``rows`` and a legend (one marker per name) on a rich console, markers coloured on a terminal."""
    from rich.text import Text

    tty = console.is_terminal
    pad = max(6, *(len(label) for label, _ in rows))
    for label, cells in rows:
        line = Text(f"{label:>{pad}} ")
        for ch, si in cells:
            line.append(ch, style=COLORS[si % len(COLORS)] if (si is not None and tty) else None)
        console.print(line)
    legend = Text(" " * (pad + 1))
    for i, name in enumerate(names):
        legend.append(f"{MARKERS[i % len(MARKERS)]} {name}   ", style=COLORS[i % len(COLORS)] if tty else None)
    console.print(legend)


def print_log_chart(ui, series: dict[str, Sequence[float]], title: str, xlabel: str = "lag T - t", x0: int = 0) -> None:
    """``log_chart`` of ``series`` under ``title`` on ``ui``'s stdout, with its legend; nothing when no value is plottable."""
    rows = log_chart(series, xlabel=xlabel, x0=x0)
    if rows:
        ui.out.print("\n" + title, markup=False)
        render(ui.out, rows, list(series))
