"""One self-describing, versioned checkpoint format, written atomically, loaded without pickle code.

A checkpoint is a dict of tensors and plain values (no classes): format and version, the model
and training config, the tokenizer (with its sentencepiece model, if any), weights, optimizer and
scheduler state, step/epoch/window position, the carried hidden state, RNG states and metrics.
It is saved with ``torch.save`` to a temporary file, fsynced and renamed over the old one (a kill
at any instant leaves the previous checkpoint intact), and read back with ``weights_only=True``
on CPU, whatever device wrote it. ``load_model`` turns one back into a model and its tokenizer,
ready for inference.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqtool.errors import CheckpointError, ConfigError, TokenizerError
from seqtool.fsio import atomic_write_bytes

FORMAT = "seqtool-checkpoint"
VERSION = 1
REQUIRED = ("format", "version", "model_config", "tokenizer", "model_state")

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from seqtool.text.tokenizers import Tokenizer


def save_checkpoint(path: Path, ckpt: dict[str, Any]) -> None:
    import torch

    data = {"format": FORMAT, "version": VERSION, **ckpt}
    buf = io.BytesIO()
    torch.save(data, buf)
    try:
        atomic_write_bytes(Path(path), buf.getvalue())
    except OSError as e:
        raise CheckpointError(f"{path}: cannot write the checkpoint ({e.strerror}); check space and permissions") from e


def resolve_checkpoint(path: str | Path, prefer: str = "best") -> Path:
    """A checkpoint file, or a run directory's ``best.pt`` (falling back to ``last.pt``)."""
    p = Path(path)
    if p.is_dir():
        for name in (f"{prefer}.pt", "best.pt", "last.pt"):
            if (p / name).is_file():
                return p / name
        raise CheckpointError(f"{p}: no checkpoint in this directory (best.pt or last.pt); give a seqtool train run directory")
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint or run directory; check the path")
    return p


def _load_failure(e: Exception) -> str:
    """What went wrong reading a checkpoint, in our words: torch's messages suggest loading unsafely."""
    text = str(e)
    if "Weights only load failed" in text or "weights_only" in text:
        return "it holds pickled objects other than tensors and plain values, which could run code; refused without loading them"
    if "zip archive" in text or "central directory" in text or isinstance(e, (EOFError, OSError)):
        return "truncated, unreadable or not a torch file"  # a cut zip reads as OSError(EINVAL) in torch 2.x
    return type(e).__name__


def load_checkpoint(path: str | Path, prefer: str = "best") -> dict[str, Any]:
    """Read and check a checkpoint (on CPU). Raises CheckpointError for missing/foreign/corrupt files."""
    import torch

    p = resolve_checkpoint(path, prefer)
    try:
        with warnings.catch_warnings():  # torch's own hints (pickle protocol, weights_only) are not for our users
            warnings.simplefilter("ignore")
            d = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - garbage bytes can fail anywhere in the unpickler (IndexError, KeyError, ...)
        raise CheckpointError(f"{p}: not a readable seqtool checkpoint ({_load_failure(e)}); it may be corrupt or from another tool") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a seqtool checkpoint; give a file written by seqtool train")
    if d.get("version") != VERSION:
        raise CheckpointError(f"{p}: checkpoint format version {d.get('version')} is not supported (this seqtool reads {VERSION}); upgrade seqtool")
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise CheckpointError(f"{p}: checkpoint is incomplete (missing {', '.join(missing)}); it may be corrupt")
    d["path"] = str(p)
    return d


@dataclass
class LoadedModel:
    """A trained model ready for inference (eval mode, on ``device``) with its own tokenizer."""

    model: Any  # LanguageModel
    tokenizer: Tokenizer
    path: str
    device: torch.device


def load_model(path: str | Path, device: torch.device | str = "cpu", prefer: str = "best") -> LoadedModel:
    """Read a checkpoint (or a run directory's best.pt) and rebuild its model and tokenizer.

    The checkpoint is read on CPU whatever device wrote it, then moved to ``device``. Anything
    that does not fit together (config, tokenizer, weights) is a CheckpointError naming the file.
    """
    import torch

    from seqtool.models import ModelConfig, build_model
    from seqtool.text.tokenizers import tokenizer_from_dict

    ckpt = load_checkpoint(path, prefer)
    p = ckpt["path"]
    if "task" in ckpt:  # a classifier or tagger (train --task) has no next-token output
        kind = ckpt["task"].get("kind", "task") if isinstance(ckpt["task"], dict) else "task"
        raise CheckpointError(f"{p}: a {kind} run, not a language model", fixes=("use seqtool predict or seqtool eval with it",))
    try:
        cfg = ModelConfig.from_dict(ckpt["model_config"])
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{p}: its model config is invalid ({e}); the checkpoint may be corrupt") from None
    try:
        tok = tokenizer_from_dict(ckpt["tokenizer"], source=p)
    except TokenizerError as e:
        raise CheckpointError(str(e)) from None
    if len(tok.vocab) != cfg.vocab_size:
        raise CheckpointError(f"{p}: the tokenizer has {len(tok.vocab):,} tokens but the model {cfg.vocab_size:,}; the checkpoint is inconsistent")
    model = build_model(cfg)
    try:
        model.load_state_dict(ckpt["model_state"])
    except (RuntimeError, TypeError, KeyError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{p}: the weights do not fit the model config ({first[:120]}); the checkpoint may be corrupt") from None
    device = torch.device(device)
    model.to(device).eval()
    return LoadedModel(model, tok, p, device)
