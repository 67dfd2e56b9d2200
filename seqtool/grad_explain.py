"""The grad-report explanation: a paragraph in plain words that reads the gradient-flow numbers.

Its job is to turn the GradReports that seqtool.gradients measures into what they mean: how far
back each model's last prediction reaches, how fast the gradient of its top layer's state decays
per step, and why, by cell (a tanh RNN's spectral radius, a gate's kept share, no carried state).
It measures nothing and does not import torch; the CLI prints what it returns.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seqtool.gradients import GradReport


def _reach(r: GradReport) -> str:
    return f"{r.horizon}" if r.horizon is not None else f"more than {r.steps - 1} (the whole window)"


def explain(reports: list[GradReport]) -> str:
    """A paragraph that reads the numbers: how far back each model reaches, and why."""
    if not reports:
        return ""
    thr = reports[0].threshold
    text = (f"How far back the last prediction reaches (the lag where ||dL_T/dx_t|| falls below {thr:g} of its value at "
            "the last step): " + ", ".join(f"{r.name} {_reach(r)}" for r in reports) + " steps. ")
    decays = []
    for r in reports:
        top = r.layers[-1]
        d = top.decay_per_step
        decays.append(f"{r.name} {'grows (exploding)' if top.exploding else 'gone after one step' if d == 0 else f'x{d:.3g}'}")
    text += "Per step, the gradient of the top layer's state: " + ", ".join(decays) + "."

    def reach(r):
        return r.horizon if r.horizon is not None else r.steps

    if len(reports) > 1:
        best, worst = max(reports, key=reach), min(reports, key=reach)
        if reach(best) > reach(worst):
            text += (f" A dependency longer than a model's horizon is invisible to gradient descent: {worst.name} can learn "
                     f"from about {reach(worst)} tokens back, {best.name} from {reach(best)}.")
    by_cell: dict[str, list[GradReport]] = {}
    for r in reports:
        by_cell.setdefault(r.cell, []).append(r)

    def each(rs, value) -> str:
        return ", ".join(f"{value(r)} ({r.name})" for r in rs)

    for cell, rs in by_cell.items():
        if cell == "rnn":
            text += (" tanh RNN: every step multiplies the gradient by diag(tanh') W, and W's spectral radius is "
                     + each(rs, lambda r: f"{r.layers[-1].spectral_radius:.2f}")
                     + "; below 1 the gradient vanishes geometrically, above 1 it can explode.")
        elif rs[0].layers[-1].keep_fraction is not None:
            gate = rs[0].layers[-1].keep_gate
            text += f" {gate} averages " + each(rs, lambda r: f"{r.layers[-1].keep_fraction:.2f}") + ": the share of the old state kept each step"
            text += ("; the LSTM's cell path c(t) = f c(t-1) + i g has the forget gate as its Jacobian, so gradient lasts "
                     "while f stays near 1." if cell in ("lstm", "lnlstm") else ".")
        elif rs[0].layers[-1].spectral_radius is None:  # no recurrent matrix: jordan, tdnn
            text += f" {cell}: no hidden state is carried, so its reach ends with its input window."
    return text


def explain_task(reports: list) -> str:
    """A paragraph that reads ClassifierFlows or TaggerFlows (seqtool.tasks.saliency)."""
    if not reports:
        return ""
    if hasattr(reports[0], "by_offset"):
        sides = ", ".join(f"{r.name} {_side(r.reach_left, -r.offsets[0])} left and {_side(r.reach_right, r.offsets[-1])} right" for r in reports)
        return (f"How far each tag's score reaches into its neighbours (||d score_t/d x_t+d|| above {reports[0].threshold:g} of its value "
                f"at the token itself): {sides}. A forward-only tagger cannot see the right context at all; a bidirectional one "
                "reads it through its backward layer.")
    ratios = ", ".join(f"{r.name} ({r.pool} pool{', bidirectional' if r.bidirectional else ''}) {r.first_last_ratio:.3g}" for r in reports)
    return (f"How strongly the predicted class depends on the first tenth of an input, relative to the last tenth: {ratios}. "
            "Far below 1, the decision forgets the beginning: with last pooling (the lecture's Design 3, one output at the end) "
            "the gradient reaching x_t is a product of one step Jacobian per later token and vanishes geometrically; mean, max "
            "and attention pooling read every position directly, and a backward layer reads the beginning last.")


def _side(reach: int | None, measured: int) -> str:
    return f"at least {measured} (every offset measured)" if reach is None else str(reach)
