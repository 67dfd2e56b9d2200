"""Crash-safe file output: whole directories and single files appear complete or not at all.

A directory is built under a temporary name beside its target and renamed into place when every
file in it is written; a file is written to a temporary sibling, fsynced, and renamed over the old
one. A kill at any instant therefore leaves either the previous output or the new one, never a
half-written mix. A directory that a long job keeps writing (a training run) is guarded by an
advisory lock, so a second writer is refused instead of interleaving with the first.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from seqtool.errors import OutputError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _plain_mode(path: str, directory: bool = False) -> None:
    """Give a temporary file or directory the mode a plain open()/mkdir() would (mkstemp makes them private)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def is_within(inner: Path, outer: Path) -> bool:
    """``inner`` is ``outer`` or lies below it (paths resolved, so '.', '..' and links count)."""
    inner, outer = Path(inner).resolve(), Path(outer).resolve()
    return inner == outer or outer in inner.parents


def check_output_dir(out: Path, force: bool, option: str = "--out") -> None:
    """Refuse an existing non-empty directory (or a file in the way) unless ``force``."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{option} {out}: exists and is not a directory; choose another path")
    if is_within(Path.cwd(), out):  # replacing it would pull the directory out from under the user
        raise OutputError(f"{option} {out}: is the current directory or contains it; give a new directory, e.g. {option} out/NAME")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputError(f"{option} {out}: directory exists and is not empty", fixes=("choose another path", "pass --force to replace it"))


@contextlib.contextmanager
def atomic_dir(out: Path, force: bool = False, option: str = "--out") -> Iterator[Path]:
    """Yield a temporary directory that replaces ``out`` only when the block finishes without error."""
    out = Path(out)
    check_output_dir(out, force, option)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
        _plain_mode(str(tmp), directory=True)
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
        _plain_mode(tmp)
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


def remove_write_debris(directory: Path) -> None:
    """Delete the temporary files (``.NAME.tmp-*``) that writes killed mid-way left in ``directory``.

    Call it only while holding ``directory``'s DirLock: then no other process is writing there.
    """
    for p in Path(directory).glob(".*.tmp-*"):
        if p.is_file() and not p.is_symlink():
            with contextlib.suppress(OSError):
                p.unlink()


def remove_stale_stages(out: Path, min_age: float = 60.0) -> None:
    """Delete the staging directories (``.OUT.tmp-*``) that runs killed while building ``out`` left beside it.

    Only a stage with a lock file that nobody holds and that is older than ``min_age`` seconds is
    removed: a younger one may belong to a run that has just created it and is about to lock it, and
    one without a lock file was not made by a locking writer (``tokenize --out``).
    """
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    for p in parent.glob(f".{glob.escape(out.name)}.tmp-*"):
        lock = p / DirLock.NAME
        try:
            if p.is_symlink() or not p.is_dir() or time.time() - max(p.stat().st_mtime, lock.stat().st_mtime) < min_age:
                continue
        except OSError:  # no lock file, or removed meanwhile
            continue
        if not DirLock.is_held(p):
            shutil.rmtree(p, ignore_errors=True)


def check_new_file(path: Path, force: bool, option: str = "--out") -> None:
    """Refuse a directory always and an existing file unless ``force``: called before the work whose result goes there."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a directory; give a file name")
    if path.exists() and not force:
        raise OutputError(f"{option} {path}: file exists", fixes=("choose another path", "pass --force to replace it"))


def write_new_file(path: Path, data: bytes, force: bool = False, option: str = "--out") -> None:
    """Write ``data`` to ``path`` atomically; refuse an existing file unless ``force``, and a directory always."""
    path = Path(path)
    check_new_file(path, force, option)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as e:
        raise OutputError(f"{option} {path}: cannot write the file ({e.strerror or e}); check the path and permissions") from e


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


class DirLock:
    """An advisory lock on a directory: ``DIR/.lock`` held with ``flock`` while a process writes ``DIR``.

    The kernel releases it when the process exits or is killed, so a crash never leaves a stale lock;
    the file itself stays (empty but for the holder's pid) and means nothing while nobody holds it.
    Where ``fcntl`` is missing (Windows) locking is skipped.
    """

    NAME = ".lock"

    def __init__(self) -> None:
        self._file = None
        self.dir: Path | None = None

    def acquire(self, directory: Path, option: str = "--out") -> "DirLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no advisory locks on this platform
            return self
        directory = Path(directory)
        try:
            f = open(directory / self.NAME, "a+")
        except OSError as e:
            raise OutputError(f"{option} {directory}: cannot create its lock file ({e.strerror}); check the permissions") from None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise OutputError(_busy_message(directory, option)) from None
        f.truncate(0)
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file, self.dir = f, directory
        return self

    def moved_to(self, directory: Path) -> None:
        """The locked directory was renamed (the lock stays held: it belongs to the open file)."""
        self.dir = Path(directory)

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the last descriptor drops the flock
            self._file = None

    def __enter__(self) -> "DirLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @classmethod
    def is_held(cls, directory: Path) -> bool:
        """Another process holds ``directory``'s lock now."""
        try:
            cls.refuse_if_held(directory)
        except OutputError:
            return True
        return False

    @classmethod
    def holder(cls, directory: Path) -> int | None:
        """The pid of the process that holds ``directory``'s lock now (0 when it wrote none), or None when
        nobody does. Only reads: the lock file is opened read-only and probed with a shared lock."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no advisory locks on this platform
            return None
        try:
            f = open(Path(directory) / cls.NAME)
        except OSError:
            return None
        with f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                pid = f.read().strip()
                return int(pid) if pid.isdigit() else 0
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return None

    @classmethod
    def refuse_if_held(cls, directory: Path, option: str = "--out") -> None:
        """Raise if another process holds ``directory``'s lock (checked without taking it for long)."""
        probe = cls()
        if (Path(directory) / cls.NAME).is_file():
            probe.acquire(directory, option)
            probe.release()


def _busy_message(directory: Path, option: str) -> str:
    try:
        pid = (directory / DirLock.NAME).read_text().strip()
    except OSError:
        pid = ""
    who = f"process {pid}" if pid.isdigit() else "another process"
    return f"{option} {directory}: in use by seqtool {who}, which is still writing it; wait for it to finish, stop it, or choose another directory"
