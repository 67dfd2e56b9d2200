"""Crash-safe file output: whole directories and single files appear complete or not at all.

A directory is built under a temporary name beside its target and renamed into place when every
file in it is written; a file is written to a temporary sibling, fsynced, and renamed over the old
one. A kill at any instant therefore leaves either the previous output or the new one, never a
half-written mix.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from seqtool.errors import OutputError


def check_output_dir(out: Path, force: bool, option: str = "--out") -> None:
    """Refuse an existing non-empty directory (or a file in the way) unless ``force``."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{option} {out}: exists and is not a directory; choose another path")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputError(
            f"{option} {out}: directory exists and is not empty; choose another path or pass --force to replace it"
        )


@contextlib.contextmanager
def atomic_dir(out: Path, force: bool = False, option: str = "--out") -> Iterator[Path]:
    """Yield a temporary directory that replaces ``out`` only when the block finishes without error."""
    out = Path(out)
    check_output_dir(out, force, option)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    except OSError as e:
        raise OutputError(f"{option} {out}: cannot create the directory ({e.strerror}); check the path and permissions") from e
    try:
        yield tmp
        _fsync_tree(tmp)
        old = None
        if out.exists():
            old = parent / f".{out.name}.old-{os.getpid()}"
            os.rename(out, old)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary sibling and an atomic rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(root)


def _fsync_dir(d: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
