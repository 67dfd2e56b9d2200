"""What a training run writes into its run directory besides checkpoints: metrics.jsonl (appends, the trim
on resume, the end mark) and the one-line error when a write there fails. Only process 0 of a
distributed run writes (``enabled``)."""
from __future__ import annotations

import json
from pathlib import Path

from seqtool.errors import OutputError
from seqtool.fsio import atomic_write_bytes
from seqtool.metrics_file import marked_lines, resumed_lines


class RunWriter:
    def __init__(self, run_dir: Path, enabled: bool = True):
        self.run_dir, self.enabled = Path(run_dir), enabled
        self.metrics_path = self.run_dir / "metrics.jsonl"

    def append(self, rec: dict) -> None:
        """One metrics line; a failed write may leave it torn (resume drops it)."""
        if self.enabled:
            try:
                with open(self.metrics_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            except OSError as e:
                raise self.failure(self.metrics_path, e) from None

    def trim(self, step: int) -> None:
        """metrics.jsonl as it was at ``step``, before a resumed run goes on: lines logged after the
        checkpoint, a torn last append and the end mark (``stopped``, ``params``) dropped."""
        if self.enabled and self.metrics_path.exists():
            self._rewrite(resumed_lines(self.metrics_path.read_text(errors="replace"), step))

    def mark_end(self, end: dict, step: int, must: bool = True) -> None:
        """Add ``end`` (why the run stopped, its parameter count) to the last line (a line of its own when there is
        none or it is torn), so a reader of the run (``seqtool runs``) tells a finished run from a killed one.
        ``must``: a failed write raises (it does not when the run is already failing for another reason)."""
        if not self.enabled:
            return
        try:
            text = self.metrics_path.read_text(errors="replace") if self.metrics_path.exists() else ""
        except OSError as e:
            if must:
                raise self.failure(self.metrics_path, e) from None
            return
        try:
            self._rewrite(marked_lines(text, end, step))
        except OutputError:
            if must:
                raise

    def _rewrite(self, lines: list[str]) -> None:
        try:
            atomic_write_bytes(self.metrics_path, "".join(ln + "\n" for ln in lines).encode())
        except OSError as e:
            raise self.failure(self.metrics_path, e) from None

    def failure(self, path: Path, e: OSError | None) -> OutputError:
        """One line for a write into the run directory that failed: full disk, lost permissions, or no directory at all."""
        if not self.run_dir.is_dir():
            return OutputError(f"{self.run_dir}: the run directory was removed or moved while training; if it was moved, "
                               f"resume it from its new place with seqtool train --resume")
        why = (e.strerror or str(e)) if e is not None else "failed"
        return OutputError(f"{path}: cannot write ({why}); free some space, then resume with seqtool train --resume {self.run_dir}")
