"""Use both cores on big corpora: an ordered, bounded map of chunk work over worker processes.

Reading and UTF-8 validation stay in the main process (they decide chunk boundaries and error
messages); splitting, counting and id lookup run in workers. Results come back in input order,
with at most a few chunks in flight, so memory stays bounded by the chunk size. Small inputs run
in-process: starting workers costs more than it saves.
"""
from __future__ import annotations

import contextlib
import os
from collections import deque
from typing import Any, Callable, Iterable, Iterator

PARALLEL_MIN_BYTES = 24 << 20


def die_with_parent(parent: int) -> None:
    """Worker initializer: on Linux, ask the kernel to kill this worker when its parent dies.

    A parent killed with SIGKILL runs no cleanup, and its workers would otherwise live on, holding
    memory and the pool's resource tracker (PR_SET_PDEATHSIG, prctl(2)). Elsewhere a no-op.
    """
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


@contextlib.contextmanager
def chunk_mapper(total_bytes: int, workers: int | None = None):
    """Yield ``pmap(fn, items)``: ``fn(*args)`` for ``(key, args)`` items, as ``(key, result)`` in order."""
    if workers is None:  # SEQTOOL_WORKERS=1 turns worker processes off
        workers = int(os.environ.get("SEQTOOL_WORKERS", "0") or 0) or min(2, os.cpu_count() or 1)
    n = workers
    if n < 2 or total_bytes < PARALLEL_MIN_BYTES:
        yield lambda fn, items: ((key, fn(*args)) for key, args in items)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the caller may have torch (and its thread pools) loaded already.
    with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent, initargs=(os.getpid(),)) as ex:

        def pmap(fn: Callable, items: Iterable[tuple[Any, tuple]]) -> Iterator[tuple[Any, Any]]:
            pending: deque = deque()
            for key, args in items:
                pending.append((key, ex.submit(fn, *args)))
                if len(pending) > 2 * n:
                    k, f = pending.popleft()
                    yield k, f.result()
            while pending:
                k, f = pending.popleft()
                yield k, f.result()

        yield pmap
