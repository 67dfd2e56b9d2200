"""The tokenize job: corpus files in, a self-contained output directory out.

Two streaming passes over the training text (fit the vocabulary, then encode), ids written to
``.npy`` files as they are produced, statistics gathered on the way. Everything lands in a
temporary directory that is renamed into place at the end, so an interrupted run leaves nothing.

Output directory: ``tokenizer.json``, ``train.npy`` (and ``val.npy``), ``stats.json``, and on
request document vectors (``*_matrix.npy``), padded sequences (``*_padded.npy``) and one-hot
sequences (``*_onehot.npy``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from seqtool.errors import ConfigError, CorpusError, UsageError
from seqtool.fsio import atomic_dir, check_output_dir
from seqtool.text.corpus import Source, iter_split_chunks, open_sources
from seqtool.text.tokenizers import DROPPED, LINE_END, Tokenizer, TokenizerOptions, make_tokenizer, split_raw_lines
from seqtool.text.vectorize import (
    document_frequencies,
    human_bytes,
    one_hot_bytes,
    one_hot_sequences,
    pad_sequences,
    texts_to_matrix,
)

Progress = Callable[[str, int, int], None]
"""``progress(phase, bytes_done, bytes_total)``."""


@dataclass
class TokenizeJob:
    inputs: list[str]
    out: Path
    options: TokenizerOptions = field(default_factory=TokenizerOptions)
    val: list[str] | None = None
    val_fraction: float | None = None
    errors: str = "strict"
    force: bool = False
    matrix: str | None = None
    pad_to: int | None = None
    padding: str = "pre"
    truncating: str = "pre"
    one_hot: bool = False
    max_memory: int = 2 << 30

    def validate(self) -> None:
        if self.val and self.val_fraction:
            raise UsageError("--val and --val-fraction cannot be used together; choose one")
        if self.val_fraction is not None and not 0.0 < self.val_fraction < 1.0:
            raise UsageError(f"--val-fraction {self.val_fraction}: must be between 0 and 1 (e.g. 0.1)")
        if self.errors not in ("strict", "replace"):
            raise UsageError(f"--errors {self.errors}: choose strict or replace")
        if self.pad_to is not None and self.pad_to < 1:
            raise UsageError(f"--pad-to {self.pad_to}: must be at least 1")
        if (self.padding != "pre" or self.truncating != "pre") and self.pad_to is None and not self.one_hot:
            raise UsageError("--padding/--truncating need --pad-to (or --one-hot)")


class NpyWriter:
    """Append 1-D arrays to a ``.npy`` file whose length is unknown until the end."""

    HEADER = 128  # bytes reserved for the header; the final header is padded to exactly this

    def __init__(self, path: Path, dtype: np.dtype):
        self.path, self.dtype, self.n = path, np.dtype(dtype), 0
        self.f = open(path, "wb")
        self.f.write(b"\0" * self.HEADER)

    def write(self, a: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(a, dtype=self.dtype).tobytes())
        self.n += len(a)

    def close(self) -> None:
        d = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.n,)}
        text = repr(d).encode("latin1")
        pad = self.HEADER - 10 - len(text) - 1
        header = b"\x93NUMPY\x01\x00" + (self.HEADER - 10).to_bytes(2, "little") + text + b" " * pad + b"\n"
        self.f.seek(0)
        self.f.write(header)
        self.f.close()


@dataclass
class SplitStats:
    """What encoding one split saw."""

    lines: int = 0
    tokens: int = 0  # ids written (line-end tokens included)
    words: int = 0  # tokens of the text, line ends excluded
    unknown: int = 0  # of those, mapped to OOV or dropped
    length_hist: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    docs: list[np.ndarray] | None = None
    _partial: int = 0

    def add(self, raw: np.ndarray, oov_id: int | None, n_written: int) -> None:
        self.tokens += n_written
        ends = raw == LINE_END
        n_ends = int(ends.sum())
        self.words += len(raw) - n_ends
        self.unknown += int((raw == DROPPED).sum()) + (int((raw == oov_id).sum()) if oov_id is not None else 0)
        kept = np.cumsum(raw >= 0)
        at_end = kept[ends] if n_ends else np.zeros(0, np.int64)
        lengths = np.diff(np.concatenate(([0], at_end)))
        if len(lengths):
            lengths[0] += self._partial
            self._partial = int(kept[-1] - at_end[-1]) if len(raw) else 0
            self._count(lengths)
        elif len(raw):
            self._partial += int(kept[-1])
        if self.docs is not None:
            self.docs.extend(split_raw_lines(raw))

    def flush(self) -> None:
        if self._partial:
            self._count(np.array([self._partial]))
            self._partial = 0

    def _count(self, lengths: np.ndarray) -> None:
        self.lines += len(lengths)
        bc = np.bincount(lengths)
        if len(bc) > len(self.length_hist):
            self.length_hist = np.concatenate([self.length_hist, np.zeros(len(bc) - len(self.length_hist), np.int64)])
        self.length_hist[: len(bc)] += bc

    def length_summary(self) -> dict:
        h = self.length_hist
        n = int(h.sum())
        if n == 0:
            return {}
        cdf = np.cumsum(h)
        pct = lambda q: int(np.searchsorted(cdf, q * n))  # noqa: E731
        nz = np.flatnonzero(h)
        return {
            "min": int(nz[0]),
            "mean": round(float((np.arange(len(h)) * h).sum() / n), 2),
            "p50": pct(0.5),
            "p90": pct(0.9),
            "p99": pct(0.99),
            "max": int(nz[-1]),
        }


def run_tokenize(job: TokenizeJob, progress: Progress | None = None, notify: Callable[[str], None] | None = None) -> dict:
    """Fit a tokenizer on the training text, encode train (and validation) text, write ``job.out``."""
    job.validate()
    options = job.options.resolved()
    check_output_dir(job.out, job.force)
    sources = open_sources(job.inputs)
    val_sources = open_sources(job.val, option="--val") if job.val else None
    train_bytes = sum(s.size for s in sources)
    total = 2 * train_bytes + (sum(s.size for s in val_sources) if val_sources else 0)
    done = [0]

    def tick(phase: str):
        def f(n: int) -> None:
            done[0] += n
            if progress:
                progress(phase, done[0], total)
        return f

    tok = make_tokenizer(options)
    tok.fit(_until_val(iter_split_chunks(sources, job.val_fraction, job.errors, progress=tick("fitting"))))
    want_docs = bool(job.matrix or job.pad_to or job.one_hot)
    dtype = np.uint16 if len(tok.vocab) <= 1 << 16 else np.uint32

    with atomic_dir(job.out, job.force) as tmp:
        writers = {"train": NpyWriter(tmp / "train.npy", dtype)}
        stats = {"train": SplitStats(docs=[] if want_docs else None)}
        has_val = bool(job.val_fraction or val_sources)
        if has_val:
            writers["val"] = NpyWriter(tmp / "val.npy", dtype)
            stats["val"] = SplitStats(docs=[] if want_docs else None)
        subword_counts = np.zeros(len(tok.vocab), np.int64) if options.level == "subword" else None
        pieces = iter_split_chunks(sources, job.val_fraction, job.errors, progress=tick("encoding"))
        if val_sources:
            pieces = _chain(pieces, (("val", t) for _, t in iter_split_chunks(val_sources, None, job.errors, progress=tick("encoding"))))
        for split, text in pieces:
            raw = tok.encode_raw(text)
            ids = tok.finish(raw)
            writers[split].write(ids)
            stats[split].add(raw, tok.vocab.oov_id, len(ids))
            if subword_counts is not None and split == "train":
                subword_counts += np.bincount(ids, minlength=len(subword_counts))
        for split in writers:
            writers[split].close()
            stats[split].flush()
        if stats["train"].words == 0:
            raise CorpusError(f"{sources[0].name}: the training text has no tokens at --level {options.level}; give a corpus with some text")
        if has_val and stats["val"].tokens == 0:
            raise CorpusError("the validation text has no tokens; give more text or a larger --val-fraction")
        if subword_counts is not None:
            tok.vocab.counts = subword_counts.tolist()
        tok.save(tmp / "tokenizer.json")
        report = _report(tok, stats, sources, val_sources, job, options, dtype)
        if want_docs:
            report["outputs"] = _write_doc_vectors(tmp, tok, stats, job, notify)
        (tmp / "stats.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


def _until_val(pieces):
    for split, text in pieces:
        if split != "train":
            return
        yield text


def _chain(*its):
    for it in its:
        yield from it


def _report(tok: Tokenizer, stats: dict, sources: list[Source], val_sources, job: TokenizeJob, options, dtype) -> dict:
    v = tok.vocab
    special = set(v.specials.values())
    tr = stats["train"]
    if options.level == "subword":
        types = int(sum(1 for i, c in enumerate(v.counts) if c and i not in special))
    else:
        types = len(tok.total_counts)
    top = sorted(((v.tokens[i], v.counts[i]) for i in range(len(v)) if i not in special), key=lambda tc: -tc[1])[:20]
    report = {
        "level": options.level,
        "inputs": [s.name for s in sources],
        "validation": ([s.name for s in val_sources] if val_sources else (f"last {job.val_fraction:g} of the input" if job.val_fraction else None)),
        "vocab_size": len(v),
        "specials": {role: v.tokens[i] for role, i in v.specials.items()},
        "dtype": np.dtype(dtype).name,
        "train": {
            "lines": tr.lines,
            "tokens": tr.tokens,
            "types": types,
            "coverage": round(1.0 - tr.unknown / tr.words, 6) if tr.words else 0.0,
            "line_length": tr.length_summary(),
        },
        "top_tokens": [[t, c] for t, c in top],
        "options": asdict(options),
    }
    if "val" in stats:
        va = stats["val"]
        report["val"] = {
            "lines": va.lines,
            "tokens": va.tokens,
            "oov_rate": round(va.unknown / va.words, 6) if va.words else 0.0,
            "line_length": va.length_summary(),
        }
    return report


def _write_doc_vectors(tmp: Path, tok: Tokenizer, stats: dict, job: TokenizeJob, notify) -> dict:
    """Document-level outputs, one document per line: matrix, padded ids, one-hot sequences."""
    dim = len(tok.vocab)
    outputs = {}
    train_docs = stats["train"].docs
    df = document_frequencies(train_docs, dim) if job.matrix == "tfidf" else None
    maxlen = job.pad_to or max((len(d) for d in train_docs), default=1) or 1
    for split, st in stats.items():
        docs = st.docs
        if job.matrix:
            need = len(docs) * dim * 4
            _check_memory(need, f"--matrix {job.matrix}", f"{len(docs)} lines x {dim} ids x 4 bytes", job, notify, "lower --num-words")
            m = np.lib.format.open_memmap(tmp / f"{split}_matrix.npy", mode="w+", dtype=np.float32, shape=(len(docs), dim))
            texts_to_matrix(docs, dim, job.matrix, df, len(train_docs), out=m)
            m.flush()
            del m
            outputs[f"{split}_matrix.npy"] = [len(docs), dim]
        if job.pad_to or job.one_hot:
            padded = pad_sequences(docs, maxlen, job.padding, job.truncating, dtype=np.int32)
            np.save(tmp / f"{split}_padded.npy", padded)
            outputs[f"{split}_padded.npy"] = list(padded.shape)
            if job.one_hot:
                need = one_hot_bytes(len(docs), maxlen, dim)
                _check_memory(need, "--one-hot", f"{len(docs)} lines x {maxlen} steps x {dim} ids x 1 byte", job, notify, "lower --pad-to or --num-words")
                np.save(tmp / f"{split}_onehot.npy", one_hot_sequences(padded, dim))
                outputs[f"{split}_onehot.npy"] = [len(docs), maxlen, dim]
    return outputs


def _check_memory(need: int, what: str, shape: str, job: TokenizeJob, notify, fix: str) -> None:
    if notify:
        notify(f"{what}: {shape} = {human_bytes(need)}")
    if need > job.max_memory:
        raise ConfigError(
            f"{what} would need {human_bytes(need)} ({shape}), above --max-memory {human_bytes(job.max_memory)}; {fix} or raise --max-memory"
        )
