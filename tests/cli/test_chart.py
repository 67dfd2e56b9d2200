"""The terminal chart (seqtool.cli.charts.log_chart and grad-report's rendering of it), asserted on its text."""
from __future__ import annotations

import io
import math
from types import SimpleNamespace

import pytest
from rich.console import Console

from seqtool.cli.charts import COLORS, MARKERS, line_chart, log_chart, short_number
from seqtool.cli.console import Ui
from seqtool.cli.grad_report import _chart

NAN, INF = float("nan"), float("inf")


def text(rows) -> list[str]:
    """The chart as grad-report prints it without colour: a 6-wide label column, a space, the cells."""
    return [f"{label:>6} " + "".join(ch for ch, _ in cells) for label, cells in rows]


def grid(rows) -> list[str]:
    """Only the plot area (no labels, no x axis)."""
    return ["".join(ch for ch, _ in cells) for _, cells in rows[:-1]]


def marks(rows, marker: str = MARKERS[0]) -> list[tuple[int, int]]:
    """(row, column) of every cell holding ``marker``."""
    return [(r, c) for r, line in enumerate(grid(rows)) for c, ch in enumerate(line) if ch == marker]


# shape


def test_shape_one_row_per_height_step_plus_the_x_axis():
    rows = log_chart({"a": [1.0, 0.1, 0.01]}, width=60, height=12)
    assert len(rows) == 13
    assert all(len(cells) == 3 for _, cells in rows[:-1])  # never wider than the series is long
    rows = log_chart({"a": [0.9 ** t for t in range(200)]}, width=60, height=8)
    assert len(rows) == 9
    assert all(len(cells) == 60 for _, cells in rows[:-1])  # long series are sampled down to the width
    assert text(rows)[-1] == "       0" + "lag T - t".center(60 - 2 - 3) + "199"


def test_labels_every_third_row_and_the_last_with_decades():
    rows = log_chart({"a": [10.0 ** -k for k in range(12)]})
    labels = [label for label, _ in rows]
    assert labels == ["1e0", "", "", "1e-3", "", "", "1e-6", "", "", "1e-9", "", "1e-11", ""]


def test_x_axis_runs_from_lag_zero_to_the_last_lag():
    assert text(log_chart({"a": [10.0 ** -k for k in range(12)]}))[-1] == "       0lag T - t11"
    assert text(log_chart({"a": [1.0] * 50}))[-1] == "       0" + "lag T - t".center(46) + "49"


# scaling


def test_one_decade_per_row_when_the_span_matches_the_height():
    """1, 0.1, ..., 1e-11 over 12 rows: the value 10^-k sits on row k, column k."""
    rows = log_chart({"a": [10.0 ** -k for k in range(12)]})
    assert marks(rows) == [(k, k) for k in range(12)]
    assert text(rows)[0] == "   1e0 ●           "
    assert text(rows)[11] == " 1e-11            ●"


def test_top_is_the_largest_values_decade_and_scale_is_shared_across_series():
    rows = log_chart({"big": [50.0] * 4, "small": [0.5] * 4}, height=12)
    # top = ceil(log10 50) = 2, bottom = floor(log10 0.5) = -1: three decades over 11 row steps
    assert rows[0][0] == "1e2" and rows[-2][0] == "1e-1"
    big_row = 11 - round((math.log10(50) + 1) / 3 * 11)
    small_row = 11 - round((math.log10(0.5) + 1) / 3 * 11)
    assert marks(rows, MARKERS[0]) == [(big_row, c) for c in range(4)]
    assert marks(rows, MARKERS[1]) == [(small_row, c) for c in range(4)]
    assert big_row < small_row  # larger values higher up


def test_sampling_down_keeps_the_first_and_last_points():
    s = [1.0] * 199 + [1e-11]
    rows = log_chart({"a": s}, width=60)
    assert (11, 59) in marks(rows) and (0, 0) in marks(rows)
    assert len(marks(rows)) == 60  # one marker per column


def test_each_series_has_its_marker_and_index_and_the_first_drawn_wins_a_shared_cell():
    rows = log_chart({"a": [1.0, 0.1], "b": [1.0, 0.01]})
    top, bottom = rows[0][1], rows[-2][1]
    assert top[0] == (MARKERS[0], 0) and top[1] == (" ", None)  # both series at 1.0: a drew first
    assert bottom[1] == (MARKERS[1], 1)
    assert all(si is None for _, si in rows[-1][1])  # the axis is never coloured


def test_markers_cycle_after_the_tenth_series():
    series = {f"s{i}": [1.0] * 3 for i in range(len(MARKERS))}
    series["eleventh"] = [0.01] * 3  # alone on the bottom row
    rows = log_chart(series)
    assert rows[-2][1][0] == (MARKERS[0], len(MARKERS))  # the first marker again, with its own series index


def test_a_shorter_series_stops_where_its_data_ends():
    rows = log_chart({"long": [1.0] * 200, "short": [0.01] * 100}, width=60)
    short = marks(rows, MARKERS[1])
    assert {r for r, _ in short} == {11}
    assert [c for _, c in short] == list(range(30))  # columns 0-29 map to lags 0-98; column 30 to lag 101


# edge cases


@pytest.mark.parametrize("series", [{}, {"a": []}, {"a": [], "b": []}, {"a": [NAN, INF, -INF]}, {"a": [0.0, -1.0, 1e-13]}])
def test_nothing_to_plot_gives_no_rows(series):
    assert log_chart(series) == []


def test_one_point():
    rows = log_chart({"a": [0.5]})
    assert rows[0][0] == "1e0" and rows[-2][0] == "1e-1"
    row = 11 - round((math.log10(0.5) + 1) * 11)
    assert marks(rows) and all(r == row for r, _ in marks(rows)) and (row, 0) in marks(rows)


def test_constant_series_is_a_flat_line_on_the_top_row_for_one():
    rows = log_chart({"a": [1.0] * 20})
    assert grid(rows)[0] == MARKERS[0] * 20
    assert all(set(line) == {" "} for line in grid(rows)[1:])


def test_nan_and_inf_are_gaps_and_values_at_or_below_the_floor_sit_on_the_bottom_row():
    s = [1.0, NAN, 0.1, INF, 0.0, -INF, -3.0, 1e-12, 0.01]
    rows = log_chart({"a": s})
    lines = text(rows)
    assert lines[0] == "   1e0 ●        "
    assert lines[-2] == "  1e-2     ● ●●●"  # 0.0, -3 and the floor itself join 0.01 on the bottom row
    assert [c for _, c in marks(rows)] == [0, 2, 4, 6, 7, 8]  # columns 1 (NaN), 3 (inf) and 5 (-inf) stay empty


def test_the_floor_is_a_parameter():
    rows = log_chart({"a": [1.0, 1e-3, 1e-6]}, floor=1e-4)
    assert rows[-2][0] == "1e-3"  # 1e-6 is below the floor: it does not stretch the axis
    assert marks(rows)[-1] == (11, 2)


def test_x_axis_of_a_short_series_shows_both_ends():
    axis = text(log_chart({"a": [1.0, 0.5, 0.25, 0.125, 0.0625]}))[-1]
    assert axis == "       0   4"  # the last lag under the last column; no room for the name


# grad-report's rendering


def _reports(**by_lag):
    return [SimpleNamespace(name=name, layers=[SimpleNamespace(input_grad_norm_by_lag=v)]) for name, v in by_lag.items()]


def _render(reports, terminal: bool) -> str:
    ui = Ui()
    buf = io.StringIO()
    ui.out = Console(file=buf, force_terminal=terminal, width=120, highlight=False, soft_wrap=True, color_system="standard" if terminal else None)
    _chart(ui, reports)
    return buf.getvalue()


def test_grad_report_prints_a_title_the_rows_and_a_legend_relative_to_the_last_step():
    out = _render(_reports(rnn=[2.0, 0.2, 0.02], lstm=[4.0, 4.0, 4.0]), terminal=False)
    lines = out.splitlines()
    assert lines[0] == ""
    assert lines[1].startswith("||dL_T/dx_t|| relative to the last step, log scale")
    assert lines[2] == "   1e0 ●▲▲"  # both start at 1 (relative to lag 0); rnn drew first
    assert lines[-3] == "  1e-2   ●"
    assert lines[-2] == "       0 2"  # the x axis: both ends, no room for its name
    assert lines[-1].rstrip() == f"       {MARKERS[0]} rnn   {MARKERS[1]} lstm"
    assert "\x1b[" not in out  # no colour in a pipe


def test_grad_report_colours_markers_on_a_terminal():
    out = _render(_reports(rnn=[1.0] * 20 + [1e-3] * 20), terminal=True)
    assert "\x1b[36m" in out  # COLORS[0], cyan
    assert COLORS[0] == "cyan"


def test_grad_report_prints_nothing_when_no_gradient_reaches_the_last_step():
    assert _render(_reports(rnn=[0.0, 0.0, 0.0]), terminal=False) == ""


# line_chart (seqtool plot)


def test_line_chart_places_points_by_their_x_and_labels_the_axes():
    rows = line_chart({"a": ([0, 50, 100], [3.0, 2.0, 1.0])}, "steps", width=11, height=5)
    assert grid(rows) == ["●          ", "           ", "     ●     ", "           ", "          ●"]
    assert [label for label, _ in rows[:-1]] == ["3", "", "", "1.5", "1"]
    assert "".join(ch for ch, _ in rows[-1][1]) == "0 steps 100"


def test_line_chart_on_a_log_axis_leaves_out_what_it_cannot_show():
    rows = line_chart({"a": ([0, 1, 2, 3], [100.0, 0.0, NAN, 1.0]), "b": ([0, 3], [10.0, 10.0])}, "time", width=4, height=3, log=True)
    assert grid(rows) == ["●   ", "▲  ▲", "   ●"]  # 0 (no log) and NaN left out; 10 halfway between 1 and 100
    assert [label for label, _ in rows[:-1]] == ["100", "", "1"]


def test_line_chart_of_nothing_and_of_one_value():
    assert line_chart({"a": ([], [])}, "steps") == []
    rows = line_chart({"a": ([5], [2.0])}, "steps", width=3, height=3)
    assert grid(rows) == ["   ", "●  ", "   "]  # a flat range is widened around the value


def test_short_numbers():
    assert [short_number(v) for v in (12.5, 999, 45_000, 1_234_567, 2e9)] == ["12.5", "999", "45k", "1.23M", "2G"]
