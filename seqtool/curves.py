"""Curves of runs: any metrics.jsonl field against steps, tokens seen or training time, grouped into panels.

The x values are the lines' own ``step``, ``tokens`` (seen so far, counted by the trainer across resumes)
and ``elapsed`` (training seconds); a line without the one asked for is left out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from seqtool.errors import ConfigError, UsageError
from seqtool.metrics_file import END_FIELDS, MetricsLog

X_AXES = {"steps": "steps", "tokens": "tokens seen", "time": "training time (s)"}
X_FIELDS = {"steps": "step", "tokens": "tokens", "time": "elapsed"}
DEFAULT_METRICS = ("train_loss", "val_loss")
POSITIONS = ("step", "epoch", "tokens")  # where in training a line was written, not a measurement
NOT_METRICS = {*POSITIONS, *END_FIELDS}


@dataclass
class Curve:
    run: str  # the run's label: its directory's name (its path where two share a name)
    metric: str
    x: list[float]
    y: list[float]
    label: str = ""  # the run, and the metric when a panel holds several

    def __post_init__(self):
        self.label = self.label or self.run


@dataclass
class Panel:
    """The curves that share a y axis: one quantity (loss, ppl, lr ...), train_ and val_ alike."""

    title: str
    curves: list[Curve]
    missing: dict[str, list[str]] = field(default_factory=dict)  # metric -> the runs with no point of it to draw


def panel_of(metric: str) -> str:
    """train_loss and val_loss share the 'loss' panel; lr has its own."""
    for prefix in ("train_", "val_"):
        if metric.startswith(prefix):
            return metric[len(prefix):]
    return metric


def read_logs(run_dirs: list[Path]) -> dict[str, list[dict]]:
    """Each run's metrics.jsonl records (torn lines left out), by a label: the directory's name, or its path
    where two runs share a name."""
    names = [Path(d).name for d in run_dirs]
    logs = {}
    for d, name in zip(run_dirs, names):
        d = Path(d)
        if not (d / "metrics.jsonl").is_file():
            raise ConfigError(f"{d}: has no metrics.jsonl; give run directories made by seqtool train --out")
        logs[str(d) if names.count(name) > 1 else name] = MetricsLog.read(d / "metrics.jsonl").records
    return logs


def panels(logs: dict[str, list[dict]], metrics: list[str] | None, x: str) -> list[Panel]:
    """The curves of ``metrics`` (default: training and validation loss) for every run, one panel per quantity."""
    if x not in X_AXES:
        raise UsageError(f"--x {x}: give one of {', '.join(X_AXES)}")
    metrics = list(metrics or DEFAULT_METRICS)
    recorded = sorted({k for recs in logs.values() for r in recs for k, v in r.items() if _is_num(v)} - NOT_METRICS)
    for m in metrics:
        if m in POSITIONS:
            raise UsageError(f"--metric {m}: a position in training, not a metric; plottable fields: {', '.join(recorded) or 'none'}",
                             fixes=("give the axis as --x steps, --x tokens or --x time",))
        if m not in recorded:
            raise UsageError(f"--metric {m}: no run recorded it; recorded fields: {', '.join(recorded) or 'none (no lines logged yet)'}")
    out: dict[str, Panel] = {}
    for m in metrics:
        panel = out.setdefault(panel_of(m), Panel(panel_of(m), []))
        for run, recs in logs.items():
            xs, ys = _series(recs, m, x)
            if ys:
                panel.curves.append(Curve(run, m, xs, ys))
            else:  # e.g. another task's run: a classifier records val_accuracy, a tagger val_f1
                panel.missing.setdefault(m, []).append(run)
    for p in out.values():
        shown = {c.metric for c in p.curves}
        if len(shown) > 1:
            for c in p.curves:
                c.label = f"{c.label} {c.metric}"
        elif shown:
            p.title = shown.pop()
    return list(out.values())


def _series(recs: list[dict], metric: str, x: str) -> tuple[list[float], list[float]]:
    field = X_FIELDS[x]
    pts = [(float(r[field]), float(r[metric])) for r in recs if _is_num(r.get(field)) and _is_num(r.get(metric))]
    return [p[0] for p in pts], [p[1] for p in pts]


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
