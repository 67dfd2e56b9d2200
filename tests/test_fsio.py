"""seqtool.fsio: atomic outputs get the permissions a plain write would give, not mkstemp's private ones."""
from __future__ import annotations

import os
import stat

import pytest

from seqtool.fsio import atomic_dir, atomic_write_bytes


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_atomic_file_is_readable_by_others_under_umask_022(tmp_path, umask_022):
    p = tmp_path / "a.json"
    atomic_write_bytes(p, b"{}")
    assert p.read_bytes() == b"{}" and mode(p) == 0o644


def test_atomic_dir_has_plain_directory_mode(tmp_path, umask_022):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "x").write_text("1")
    assert mode(out) == 0o755 and (out / "x").read_text() == "1"
