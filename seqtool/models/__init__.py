"""Recurrent cells and the language model around them.

``ModelConfig`` says what to build, ``build_model`` builds a ``LanguageModel`` (ids (T, B) ->
logits (T, B, V), time-major, with a carried state), ``summary_rows`` lists layers and parameter
counts, and ``load_pretrained_vectors`` reads word2vec/GloVe files for the embedding.
The cells are listed once, in ``seqtool.models.registry`` (build, step function, parameter count,
help); the custom ones (leaky, skip, jordan, tdnn) are in ``seqtool.models.cells``, torch's fused
ones in ``seqtool.models.fused``.

``ModelConfig``, ``CELLS`` and ``layer_param_formula`` do not need torch; the rest is imported on first use (PEP 562),
so the CLI can validate a config without paying for ``import torch``.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from seqtool.models.config import ModelConfig
from seqtool.models.registry import CELLS, layer_param_formula

_LAZY = {
    "LanguageModel": "seqtool.models.lm",
    "build_model": "seqtool.models.lm",
    "summary_rows": "seqtool.models.lm",
    "load_pretrained_vectors": "seqtool.models.vectors",
}

if TYPE_CHECKING:  # pragma: no cover
    from seqtool.models.lm import LanguageModel, build_model, summary_rows
    from seqtool.models.vectors import load_pretrained_vectors


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CELLS",
    "ModelConfig",
    "LanguageModel",
    "build_model",
    "summary_rows",
    "layer_param_formula",
    "load_pretrained_vectors",
]
