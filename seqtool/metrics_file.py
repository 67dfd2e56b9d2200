"""metrics.jsonl, the one log line per logged step of a run: read it back, trim it for a resume, mark why it stopped.

Each line is a JSON object with at least ``step``; the trainer appends them, so a kill can leave the last
one torn. The last line of a run that ended (not one that was killed) carries the END_FIELDS: ``stopped``
(why) and ``params`` (the model's parameter count).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

END_FIELDS = ("stopped", "params")


def parse_line(line: str) -> dict | None:
    """One metrics.jsonl line, or None for a line a crash cut short (or anything else that is not a record)."""
    try:
        rec = json.loads(line)
        int(rec["step"])
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return rec if isinstance(rec, dict) else None


def resumed_lines(text: str, step: int) -> list[str]:
    """The lines a run resumed at ``step`` keeps: none logged after it, no torn one, and no END_FIELDS
    (the run goes on)."""
    kept = []
    for line in text.splitlines():
        rec = parse_line(line)
        if rec is not None and 0 <= int(rec["step"]) <= step:
            ended = any(k in rec for k in END_FIELDS)
            kept.append(json.dumps({k: v for k, v in rec.items() if k not in END_FIELDS}) if ended else line)
    return kept


def marked_lines(text: str, end: dict, step: int) -> list[str]:
    """The lines with the ``end`` fields (END_FIELDS) added to the last one (a line of its own, at ``step``,
    when there is none or the last one is torn)."""
    lines = text.splitlines()
    last = parse_line(lines[-1]) if lines else None
    if last is None:
        lines[-1:] = [""]
        last = {"step": step}
    lines[-1] = json.dumps({**last, **end})
    return lines


@dataclass
class MetricsLog:
    """What a metrics.jsonl holds: its records in order, and the numbers (1-based) of lines that are not records."""

    records: list[dict] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> "MetricsLog":
        """The log at ``path`` (empty when there is no file). OSError when it cannot be read."""
        log = cls()
        if not path.exists():
            return log
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            rec = parse_line(line)
            if rec is None:
                log.bad_lines.append(i)
            else:
                log.records.append(rec)
        return log
