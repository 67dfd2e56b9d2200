"""One place that owns terminal output: results to stdout, progress and messages to stderr.

On a terminal: rich progress bars and tables. In a pipe: no progress, plain aligned text. With
``--quiet`` only errors (and ``--json``) are printed; with ``--json`` stdout carries nothing but
one JSON document. Corpus text is always printed with markup off: corpora contain [brackets].
"""
from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from typing import Any, Iterator, Sequence

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table


class Ui:
    def __init__(self, quiet: bool = False, json_mode: bool = False):
        self.quiet = quiet
        self.json_mode = json_mode
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def show_results(self) -> bool:
        return not self.quiet and not self.json_mode

    def info(self, msg: str) -> None:
        """A message for people (stderr), unless quiet."""
        if not self.quiet:
            self.err.print(msg, markup=False)

    def warn(self, msg: str) -> None:
        """A warning (stderr), shown even when quiet."""
        self.err.print(f"warning: {msg}", markup=False, style="yellow")

    def text(self, s: str, end: str = "\n") -> None:
        """Corpus or generated text to stdout, exactly as it is."""
        self.out.file.write(s + end)
        self.out.file.flush()

    def emit_json(self, obj: Any) -> None:
        self.out.file.write(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n")
        self.out.file.flush()

    def emit_json_line(self, obj: Any) -> None:
        """One object per line (JSON Lines), for output that streams record by record."""
        self.out.file.write(json.dumps(obj, ensure_ascii=False, default=_json_default) + "\n")

    def table(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> None:
        """A summary table on stdout (rich on a terminal, plain aligned columns in a pipe)."""
        if not self.show_results:
            return
        tty = self.out.is_terminal
        t = Table(title=title if tty else None, box=box.SIMPLE_HEAD if tty else None, show_header=True, pad_edge=False)
        for i, c in enumerate(columns):
            t.add_column(c, justify="right" if i in numeric else "left", overflow="fold")
        for r in rows:
            t.add_row(*(_cell(v) for v in r))
        if title and not tty:
            self.out.print(f"{title}:", markup=False)
        # In a pipe nobody's screen width applies: every row stays on one line, however wide.
        screen = self.out.width
        if not tty:
            self.out.width = max(screen, Measurement.get(self.out, self.out.options.update_width(10_000), t).maximum)
        try:
            self.out.print(t, markup=False)
        finally:
            self.out.width = screen

    @contextlib.contextmanager
    def progress(self, description: str, total: float | None) -> Iterator["Ticker"]:
        """A progress bar on stderr when it is a terminal; silent otherwise."""
        if self.quiet or not self.err.is_terminal:
            yield Ticker(None, None)
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from rich.table import Column

        whole = Column(no_wrap=True)  # sizes and times are never cut or wrapped: the description and the bar give way
        with Progress(
            TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
            BarColumn(bar_width=None, table_column=Column(ratio=1)),
            DownloadColumn(table_column=whole),
            TimeElapsedColumn(table_column=whole),
            TimeRemainingColumn(table_column=whole),
            console=self.err,
            transient=True,
            expand=True,
        ) as p:
            yield Ticker(p, p.add_task(description, total=total))


class Ticker:
    def __init__(self, progress, task):
        self._p, self._t, self._last = progress, task, 0.0

    def update(self, completed: float, description: str | None = None) -> None:
        if self._p is None:
            return
        now = time.monotonic()
        if now - self._last > 0.05:
            self._last = now
            kw = {"description": description} if description else {}
            self._p.update(self._t, completed=completed, **kw)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _json_default(o: Any):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def is_debug() -> bool:
    import os

    return os.environ.get("SEQTOOL_DEBUG", "") not in ("", "0")


def stderr_line(msg: str) -> None:
    """``msg`` as one line on stderr: newlines become spaces, other control characters and line
    separators (from an echoed option value: a carriage return, an escape sequence) their escapes."""
    sys.stderr.write(_CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), msg.replace("\n", " ")) + "\n")
    sys.stderr.flush()


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
