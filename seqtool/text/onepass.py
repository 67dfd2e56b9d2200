"""The tokenize job's single read for word-like levels: provisional ids first, final ids once fitted.

``one_pass`` runs in the main process; ``units_as_ids`` is the chunk work it hands to the process
pool (``seqtool.text.parallel``), each worker process keeping its own interner for the job.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

from seqtool.text.kernels import Interner, add_counts
from seqtool.text.tokenizers.word import UnitTokenizer


def one_pass(tok: UnitTokenizer, pieces, tmp: Path, splits: list[str], pmap, block: int = 1 << 22):
    """Word-like levels in one read of the corpus: provisional ids to scratch files, then remap.

    Tokens get provisional ids in first-occurrence order while they are counted; once the
    vocabulary is known a lookup table maps the scratch files to the final ids, block by block.
    Chunks are split and interned by ``pmap`` (in worker processes on big corpora), each worker
    with its own interner; their new tokens are merged here in corpus order, so first occurrence is
    preserved (see ``units_as_ids``).
    """
    interner = Interner()
    counts = np.zeros(1, np.int64)
    scratch = {sp: open(tmp / f".{sp}.provisional", "wb") for sp in splits}
    to_global: dict[int, np.ndarray] = {}  # worker process -> its ids to global provisional ids
    job = uuid.uuid4().hex
    try:
        for split, (worker, new_tokens, ids) in pmap(units_as_ids, ((sp, (job, tok, text)) for sp, text in pieces)):
            table = to_global.get(worker, np.zeros(1, np.int32))  # 0, the line end, is 0 everywhere
            if new_tokens:
                table = to_global[worker] = np.concatenate([table, interner.merge(new_tokens)])
            ids = table[ids]
            ids.tofile(scratch[split])
            if split == "train":
                counts = add_counts(counts, ids, len(interner.tokens))
    finally:
        forget(job)
    for f in scratch.values():
        f.close()
    tok.fit_counts(interner, counts)
    table = tok.remap_table(interner)
    for split in splits:
        path = tmp / f".{split}.provisional"
        prov = np.memmap(path, dtype=np.int32, mode="r") if path.stat().st_size else np.zeros(0, np.int32)
        for start in range(0, len(prov), block):
            yield split, table[prov[start : start + block]]
        del prov
        path.unlink()


_interners: dict = {}  # job -> this process's Interner for it (workers serve one job in their life)


def units_as_ids(job: str, tok, text: str) -> tuple[int, list[str], np.ndarray]:
    """Worker: a chunk's tokens as ids of this process's own interner for ``job``.

    Returns (process id, the tokens this process had not seen before in first-occurrence order,
    ids). The interner lives across the job's chunks, so after the first chunks nearly every token
    is a C-level dict hit and only new tokens travel back. A worker takes chunks in submission
    order (the pool's call queue is FIFO), so when the caller merges this chunk it has already
    merged all of this worker's earlier chunks and knows every token missing from the list.
    """
    interner = _interners.get(job)
    if interner is None:
        _interners.clear()
        interner = _interners[job] = Interner()
    before = len(interner.tokens)
    ids = interner.ids(tok.units(text))
    return os.getpid(), interner.tokens[before:], ids


def forget(job: str) -> None:
    """Drop this process's interner for ``job`` (work that ran in-process keeps it until then)."""
    _interners.pop(job, None)
