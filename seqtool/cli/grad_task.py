"""``seqtool grad-report`` of classifier and tagger runs: render the ClassifierFlows or TaggerFlows of
seqtool.tasks.saliency as tables, a log-scale chart and the explanation."""
from __future__ import annotations

import textwrap

from seqtool.cli.charts import print_log_chart
from seqtool.cli.console import Ui


def render_task_reports(ui: Ui, reports: list, explanation: str) -> None:
    if not ui.show_results:
        return
    if hasattr(reports[0], "by_offset"):
        _render_tagger(ui, reports)
    else:
        _render_classifier(ui, reports)
    ui.out.print("\n" + textwrap.fill(explanation, 100), markup=False)


def _reach(value: int | None, measured: int) -> str:
    return f"{measured}+" if value is None else str(value)


def _render_classifier(ui: Ui, reports: list) -> None:
    names = [r.name for r in reports]
    rows = [(f"{k * 10}-{(k + 1) * 10}%", *(f"{r.by_decile[k]:.3g}" for r in reports)) for k in range(len(reports[0].by_decile))]
    ui.table("||d score/d x_t|| of the predicted class by position in the input, relative to the input's mean (1 = average)",
             ["position", *names], rows, numeric=tuple(range(1, len(names) + 1)))
    rows = [(r.name, r.pool, "yes" if r.bidirectional else "no", r.examples, f"{r.first_last_ratio:.3g}",
             _reach(r.reach, len(r.by_distance) - 1)) for r in reports]
    ui.table(None, ["model", "pool", "bidirectional", "examples", "first/last tenth", "reach"], rows, numeric=(3, 4, 5))
    ui.info(f"reach: tokens back from the last one before the gradient falls below --threshold {reports[0].threshold:g} of its value there")
    series = {r.name: [v / r.by_distance[0] if r.by_distance[0] > 0 else 0.0 for v in r.by_distance] for r in reports}
    print_log_chart(ui, series, "||d score/d x_t|| relative to the last token, log scale, against the distance from the end "
                    "(how far back the decision reaches)", xlabel="tokens from the end")


def _render_tagger(ui: Ui, reports: list) -> None:
    names = [r.name for r in reports]
    offsets = reports[0].offsets
    rows = [(d, *(f"{r.by_offset[i]:.3g}" for r in reports)) for i, d in enumerate(offsets)]
    ui.table("||d score(tag at t)/d x_t+d|| relative to d = 0 (d < 0: left context, d > 0: right)",
             ["d", *names], rows, numeric=tuple(range(len(names) + 1)))
    R = offsets[-1]
    rows = [(r.name, "yes" if r.bidirectional else "no", r.examples, r.tokens, _reach(r.reach_left, R), _reach(r.reach_right, R))
            for r in reports]
    ui.table(None, ["model", "bidirectional", "sentences", "tokens", "reach left", "reach right"], rows, numeric=(2, 3, 4, 5))
    series = {r.name: r.by_offset for r in reports}
    print_log_chart(ui, series, "||d score_t/d x_t+d|| relative to d = 0, log scale, against the offset d", xlabel="offset d", x0=offsets[0])
