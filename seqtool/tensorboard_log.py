"""Training callbacks that write TensorBoard scalar events (torch.utils.tensorboard; the ``tensorboard`` extra).

Every numeric field of a metrics line becomes a scalar at its step (``train_loss`` -> ``train/loss``,
``val_ppl`` -> ``val/ppl``, ``lr`` and the rest under their own names), and each layer's gradient norm
``grad_norm_by_layer/LAYER``, so ``tensorboard --logdir runs/`` shows seqtool runs like any PyTorch run.
"""
from __future__ import annotations

import math
from pathlib import Path

from seqtool.callbacks import Callbacks
from seqtool.errors import OutputError

#: Payload fields that are not measurements.
SKIP = {"step", "improved", "best_val", "stopped", "params"}


def require_tensorboard(option: str = "--tensorboard") -> None:
    """Before any work: one line saying how to install what ``option`` needs."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise OutputError(f"{option} needs tensorboard, which is not installed: pip install 'seqtool[tensorboard]' (or drop {option})") from None


def tag(field: str) -> str:
    for prefix in ("train_", "val_"):
        if field.startswith(prefix):
            return f"{prefix[:-1]}/{field[len(prefix):]}"
    return field


class TensorBoardLog(Callbacks):
    """Writes events to ``log_dir``, or to the run directory when it is None (known when training starts)."""

    wants_layer_grad_norms = True

    def __init__(self, log_dir: Path | None = None):
        self.log_dir = log_dir
        self.writer = None

    def on_start(self, info: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(self.log_dir or info["run_dir"]))

    def _write(self, record: dict) -> None:
        step = int(record["step"])
        for field, v in record.items():
            if field not in SKIP and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                self.writer.add_scalar(tag(field), v, step)
        for layer, v in record.get("layer_grad_norms", {}).items():
            self.writer.add_scalar(f"grad_norm_by_layer/{layer}", v, step)
        self.writer.flush()  # a run that dies keeps what it logged

    def on_log(self, record: dict) -> None:
        self._write(record)

    def on_eval(self, record: dict) -> None:
        self._write(record)

    def on_end(self, summary: dict) -> None:
        if self.writer is not None:
            self.writer.close()
