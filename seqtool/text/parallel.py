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
    with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn")) as ex:

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
