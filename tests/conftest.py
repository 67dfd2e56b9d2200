"""Shared test setup: pin torch to few threads (CI has 2 cores), tiny assets found relative to this file."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("SEQTOOL_DEBUG", None)

try:  # torch is only needed by the model tests; the text tests run without importing it
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _kernel_cache(tmp_path_factory):
    """The C step kernels build once per test session into a temporary cache, never into ~/.cache."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
SAMPLES = ROOT / "sample_corpora"


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes) -> Path of a file in tmp_path."""

    def _write(name: str, content) -> Path:
        p = tmp_path / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
        return p

    return _write
