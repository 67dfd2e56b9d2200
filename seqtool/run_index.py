"""Read run directories back into one summary each (what ``seqtool runs`` lists): never raises on a damaged run.

A summary comes only from what the run wrote: config.json (task, level, model), metrics.jsonl (steps,
time, speed, validation figures, and on its last line why it stopped), which checkpoints exist, and
whether a process holds the run's lock now (it is still running).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from seqtool.errors import ConfigError, UsageError
from seqtool.fsio import DirLock
from seqtool.metrics_file import MetricsLog

#: Files that make a directory a run directory (any one is enough: a half-written run is still a run).
MARKERS = ("config.json", "metrics.jsonl", "last.pt", "best.pt")

#: The trainer's stop reasons (metrics.jsonl's ``stopped``) and the status each means.
STATUS_OF_STOP = {"max steps reached": "finished", "epochs done": "finished", "time budget used": "stopped by budget",
                  "interrupted": "interrupted", "diverged": "diverged"}


@dataclass
class RunSummary:
    """One run directory, as far as it can be read. ``problem`` says what is wrong with a damaged one."""

    name: str
    path: str
    status: str  # finished | stopped by budget | interrupted | diverged | running | damaged
    stopped: str | None = None  # the trainer's own words, e.g. "early stopping: no validation improvement in 3 evaluations"
    problem: str | None = None
    task: str | None = None  # lm | classify | tag
    level: str | None = None
    cell: str | None = None
    size: str | None = None  # layers x hidden
    params: int | None = None
    steps: int | None = None
    epochs: float | None = None
    elapsed: float | None = None  # seconds of training, across resumes
    tokens_per_sec: float | None = None  # the mean over the logged lines
    metric: str | None = None  # what the best checkpoint is chosen by: val_loss, or val_accuracy / val_f1 / val_token_accuracy
    best: float | None = None  # that metric's best value
    best_step: int | None = None
    best_val_loss: float | None = None
    best_val_ppl: float | None = None  # language models
    best_val_bits: float | None = None
    best_val_macro_f1: float | None = None  # classifiers: at the best accuracy
    has_best: bool = False
    has_last: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = tuple(f.name for f in dataclasses.fields(RunSummary))


def find_runs(dirs: Iterable[Path], depth: int = 3) -> list[Path]:
    """Run directories at or below each of ``dirs`` (up to ``depth`` levels; hidden directories skipped), each once
    however many of ``dirs`` reach it, in the order first found."""
    found: dict[Path, Path] = {}  # resolved path -> the path as found
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise ConfigError(f"{d}: no such directory; give directories holding seqtool runs (seqtool train --out)")
        for r in _walk(d, depth):
            found.setdefault(r.resolve(), r)
    return list(found.values())


def _walk(d: Path, depth: int) -> list[Path]:
    if any((d / m).exists() for m in MARKERS):
        return [d]
    if depth == 0:
        return []
    try:
        children = sorted(c for c in d.iterdir() if c.is_dir() and not c.name.startswith("."))
    except OSError:
        return []
    return [r for c in children for r in _walk(c, depth - 1)]


def summarize(run_dir: Path) -> RunSummary:
    """The summary of one run directory; a damaged one gets status "damaged" and a ``problem``."""
    run_dir = Path(run_dir)
    s = RunSummary(name=run_dir.name, path=str(run_dir), status="interrupted",
                   has_best=(run_dir / "best.pt").is_file(), has_last=(run_dir / "last.pt").is_file())
    try:
        config = _read_config(run_dir / "config.json")
        _from_config(s, config)
        log = MetricsLog.read(run_dir / "metrics.jsonl")
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        s.status, s.problem = "damaged", _problem(run_dir, e)
        return s
    _from_metrics(s, log.records)
    running = DirLock.holder(run_dir) is not None
    if running:
        s.status = "running"
    elif log.bad_lines:
        s.status, s.problem = "damaged", f"metrics.jsonl line {log.bad_lines[0]} is cut off or not JSON"
    elif s.stopped is not None:
        s.status = "finished" if s.stopped.startswith("early stopping") else STATUS_OF_STOP.get(s.stopped, "finished")
    return s


def _read_config(path: Path) -> dict:
    if not path.is_file():
        raise KeyError("no config.json")
    config = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise KeyError("config.json has no model section")
    return config


def _problem(run_dir: Path, e: Exception) -> str:
    if isinstance(e, KeyError):
        return str(e.args[0]) if e.args else "config.json is incomplete"
    if isinstance(e, ValueError):
        return f"config.json is not valid JSON ({e})"
    if isinstance(e, OSError):
        return f"cannot read {e.filename or run_dir} ({e.strerror or e})"
    return f"config.json is not a seqtool run config ({e})"


def _from_config(s: RunSummary, config: dict) -> None:
    from seqtool.models.config import ModelConfig

    model = config["model"]
    task = config.get("task", {"kind": "lm"})
    if not isinstance(task, dict) or task.get("kind") not in ("classify", "tag", "lm"):
        raise KeyError("config.json's task record is damaged")
    s.task = task["kind"]
    s.level, s.cell = config.get("level"), model.get("cell")
    s.size = f"{model.get('layers')}x{model.get('hidden')}"
    s.metric = "val_loss" if s.task == "lm" else None
    if s.task == "lm":
        try:
            s.params = ModelConfig.from_dict(model).param_count()
        except Exception:  # noqa: BLE001 - a config from another version: the count is left out, the run still listed
            s.params = None


def _from_metrics(s: RunSummary, records: list[dict]) -> None:
    if not records:
        return
    last = records[-1]
    s.steps, s.epochs, s.elapsed = _num(last.get("step"), int), _num(last.get("epoch")), _num(last.get("elapsed"))
    s.stopped = last.get("stopped") if isinstance(last.get("stopped"), str) else None
    s.params = _num(last.get("params"), int) or s.params
    speeds = [v for r in records if (v := _num(r.get("tokens_per_sec"))) is not None]
    s.tokens_per_sec = sum(speeds) / len(speeds) if speeds else None
    if s.metric is None:  # a task run: the best checkpoint is chosen by its score, higher is better
        s.metric = next((m for m in ("val_accuracy", "val_f1", "val_token_accuracy") if any(m in r for r in records)), None)
    scored = [(v, r) for r in records if (v := _num(r.get(s.metric))) is not None] if s.metric else []
    if not scored:
        return
    sign = 1 if s.metric == "val_loss" else -1
    s.best, best = min(scored, key=lambda vr: sign * vr[0])
    s.best_step, s.best_val_loss = _num(best.get("step"), int), _num(best.get("val_loss"))
    if s.task == "lm" and s.best_val_loss is not None:
        s.best_val_ppl = math.exp(min(s.best_val_loss, 700.0))
        s.best_val_bits = s.best_val_loss / math.log(2)
    s.best_val_macro_f1 = _num(best.get("val_macro_f1"))


def _num(v: Any, kind=float):
    """A number from a metrics line, or None (missing, null, a string, NaN)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return kind(v)


def select(runs: list[RunSummary], where: list[str], sort: str | None) -> list[RunSummary]:
    """``runs`` filtered by ``key=value`` conditions (all must hold) and sorted by a field (``-field``: descending;
    runs without a value last). ``best`` sorts best first: lowest validation loss, highest accuracy or F1."""
    for cond in where:
        key, sep, value = cond.partition("=")
        key = key.strip()
        if not sep or key not in FIELDS:
            raise UsageError(f"--where {cond!r}: give FIELD=VALUE with a field among {', '.join(FIELDS)}")
        runs = [r for r in runs if _matches(getattr(r, key), value.strip())]
    if sort:
        key, descending = sort.lstrip("-"), sort.startswith("-")
        if key not in FIELDS:
            raise UsageError(f"--sort {sort!r}: not a field; give one of {', '.join(FIELDS)} (a leading - sorts descending)")
        present = [r for r in runs if getattr(r, key) is not None]
        if key == "best":  # a language model's best is a loss, a task run's a score (higher is better)
            present.sort(key=lambda r: r.best if r.metric == "val_loss" else -r.best, reverse=descending)
        else:
            present.sort(key=lambda r: getattr(r, key), reverse=descending)
        runs = present + [r for r in runs if getattr(r, key) is None]
    return runs


def _matches(v: Any, want: str) -> bool:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            return float(want) == v
        except ValueError:
            return False
    return str(v).lower() == want.lower()
