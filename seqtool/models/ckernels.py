"""Build once and load the C step kernels (cell_kernels.c), or say they are unavailable.

The source ships in the package and is compiled with the system C compiler on first use, never at import, into
the per-user cache ($XDG_CACHE_HOME or ~/.cache)/seqtool/ckernels/, under a name keyed by a hash of the source,
the compiler, its flags and this CPU's flags line: a -march=native binary is never loaded on another CPU that
shares the home directory. Each build writes its own temporary file and renames it into place, so processes
building at once (torchrun ranks) each end with a whole library. No compiler, a failed build, or
SEQTOOL_NO_C_KERNELS=1: ``kernels()`` returns None and the callers keep their torch path (a note on stderr
under SEQTOOL_DEBUG=1). The kernels run on the calling thread; no OpenMP runtime is linked.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("cell_kernels.c")
# each kernel's arguments after (B, H): how many pointers
SYMBOLS = {f"{cell}_{way}_{dtype}": n for cell, ways in (("lstm", (8, 8)), ("gru", (8, 9)), ("lnlstm", (17, 21)))
           for way, n in zip(("fwd", "bwd"), ways) for dtype in ("bf16", "f32")}
# The first vectorises expf/tanhf through glibc's libmvec (~25x faster here); the second works without it.
# Each set is (compiler flags, libraries). The object is linked in a second command without -ffast-math:
# linking with it adds crtfastmath.o, which on load would set flush-to-zero for the whole process (torch too).
_COMMON = ("-O3", "-march=native", "-ffast-math", "-fPIC")
FLAG_SETS = ((_COMMON + ("-fopenmp-simd",), ("-lmvec", "-lm")), (_COMMON, ("-lm",)))
Flags = tuple[tuple[str, ...], tuple[str, ...]]
_loaded: dict[str, ctypes.CDLL | None] = {}  # cache path -> the library, or None after a failed build


def _debug(msg: str) -> None:
    if os.environ.get("SEQTOOL_DEBUG", "") not in ("", "0"):
        print(f"seqtool: C kernels: {msg}", file=sys.stderr)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "seqtool" / "ckernels"


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def _library_path(cc: str, flags: Flags) -> Path:
    key = hashlib.sha256(b"\0".join([SOURCE.read_bytes(), cc.encode(), repr(flags).encode(),
                                     _cpu_flags().encode()])).hexdigest()[:16]
    return cache_dir() / f"cell_kernels-{key}.so"


def _open(path: Path) -> ctypes.CDLL | None:
    """The library at ``path`` with every symbol present, or None (missing, corrupt, or from an older source)."""
    try:
        lib = ctypes.CDLL(str(path))
        for name, pointers in SYMBOLS.items():  # without argtypes ctypes would pass addresses as 32-bit ints
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = [ctypes.c_int] * 2 + [ctypes.c_void_p] * pointers, None
        return lib
    except (OSError, AttributeError):
        return None


def _build(cc: str, flags: Flags, path: Path) -> bool:
    """Compile and link into temporary siblings of ``path``, rename into place; False if the compiler fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    obj = tmp + ".o"
    try:
        for cmd in ([cc, "-c", *flags[0], str(SOURCE), "-o", obj], [cc, "-shared", obj, "-o", tmp, *flags[1]]):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                _debug(f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}")
                return False
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
        return True
    except (OSError, subprocess.SubprocessError) as e:
        _debug(f"{cc} could not run: {e}")
        return False
    finally:
        for leftover in (tmp, obj):
            if os.path.exists(leftover):
                os.unlink(leftover)


def _load_or_build(cc: str, flags: Flags) -> ctypes.CDLL | None:
    path = _library_path(cc, flags)
    if path.exists() and (lib := _open(path)) is not None:
        return lib
    if path.exists():
        _debug(f"{path} does not load; rebuilding it")
    return _open(path) if _build(cc, flags, path) else None


def kernels() -> ctypes.CDLL | None:
    """The compiled kernels, built on the first call of a process (about a second), or None to use torch."""
    if os.environ.get("SEQTOOL_NO_C_KERNELS", "") not in ("", "0"):
        return None
    cc = os.environ.get("CC") or "cc"
    key = f"{cc}\0{cache_dir()}"
    if key not in _loaded:
        lib = None
        if shutil.which(cc) is None:
            _debug(f"no C compiler {cc!r} on PATH; using the torch step")
        else:
            for flags in FLAG_SETS:
                if (lib := _load_or_build(cc, flags)) is not None:
                    break
        _loaded[key] = lib
    return _loaded[key]
