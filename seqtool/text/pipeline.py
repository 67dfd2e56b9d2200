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

from seqtool.errors import CorpusError, UsageError
from seqtool.fsio import atomic_dir, check_output_dir
from seqtool.text.corpus import Source, iter_split_chunks
from seqtool.text.corpus import sources as corpus_sources
from seqtool.text.kernels import add_counts, char_counts, ids_dtype
from seqtool.memory import human_bytes, refuse_if_over
from seqtool.text.onepass import one_pass
from seqtool.text.parallel import chunk_mapper
from seqtool.text.tokenizers import make_tokenizer
from seqtool.text.options import TokenizerOptions, check_errors
from seqtool.text.tokenizers.base import DROPPED, LINE_END, Tokenizer, split_raw_lines
from seqtool.text.tokenizers.char import CharTokenizer
from seqtool.text.tokenizers.word import UnitTokenizer
from seqtool.text.vectorize import (
    MATRIX_MODES,
    document_frequencies,
    one_hot_bytes,
    one_hot_sequences,
    pad_sequences,
    texts_to_matrix,
)

Progress = Callable[[str, int, int], None]
DENSE_LENGTHS = 4096  # line lengths (tokens) counted in a dense histogram; longer ones in a dict
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
        check_errors(self.errors)
        if self.matrix is not None and self.matrix not in MATRIX_MODES:  # before the corpus is read, not after
            raise UsageError(f"--matrix {self.matrix}: choose one of {', '.join(MATRIX_MODES)}")
        if self.pad_to is not None and self.pad_to < 1:
            raise UsageError(f"--pad-to {self.pad_to}: must be at least 1")
        if (self.padding != "pre" or self.truncating != "pre") and self.pad_to is None and not self.one_hot:
            raise UsageError("--padding/--truncating need --pad-to (or --one-hot)")


class NpyWriter:
    """Append 1-D arrays to a ``.npy`` file whose length is unknown until the end.

    Writes happen on a background thread (numpy releases the GIL while writing), so encoding the
    next block overlaps with writing this one.
    """

    HEADER = 128  # bytes reserved for the header; the final header is padded to exactly this

    def __init__(self, path: Path, dtype: np.dtype):
        from concurrent.futures import ThreadPoolExecutor

        self.path, self.dtype, self.n = path, np.dtype(dtype), 0
        self.f = open(path, "wb")
        self.f.write(b"\0" * self.HEADER)
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending = None

    def write(self, a: np.ndarray) -> None:
        a = a.astype(self.dtype, copy=False)
        self._wait()
        self._pending = self._pool.submit(a.tofile, self.f)
        self.n += len(a)

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def close(self) -> None:
        self._wait()
        self._pool.shutdown()
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
    length_hist: np.ndarray = field(default_factory=lambda: np.zeros(DENSE_LENGTHS, np.int64))  # lines by length
    long_lengths: dict[int, int] = field(default_factory=dict)  # lines of DENSE_LENGTHS tokens or more, by length
    docs: list[np.ndarray] | None = None
    _partial: int = 0
    _doc_tail: list[np.ndarray] = field(default_factory=list)  # raw ids of a line the next block goes on with

    def add(self, raw: np.ndarray, marker: int, oov_id: int | None, n_written: int) -> None:
        """Account for one block of raw ids (see ``Tokenizer.encode_raw``)."""
        self.tokens += n_written
        ends = np.flatnonzero(raw == marker)
        has_markers = len(raw) > 0 and raw.dtype.kind != "u" and raw.min() < 0
        if has_markers:
            self.unknown += int((raw == DROPPED).sum())
            real = np.cumsum((raw >= 0) & (raw != marker))  # tokens of the text so far, line ends excluded
            at_end, total = real[ends], (int(real[-1]) if len(raw) else 0)
        else:  # fast path: every entry is a real id, so position arithmetic gives the same counts
            at_end, total = ends - np.arange(len(ends)), len(raw) - len(ends)
        if oov_id is not None:
            self.unknown += int((raw == oov_id).sum())
        self.words += total
        if len(ends):
            lengths = np.diff(np.concatenate(([0], at_end)))
            lengths[0] += self._partial
            self._partial = int(total - at_end[-1])
            self._count(lengths)
        else:
            self._partial += total
        if self.docs is not None:
            self._add_docs(raw, marker)

    def _add_docs(self, raw: np.ndarray, marker: int) -> None:
        """One document per line, though blocks end anywhere in a line (a cut long line, a word-level block)."""
        ends = np.flatnonzero(raw == marker)
        if len(ends) == 0:
            if len(raw):
                self._doc_tail.append(raw)
            return
        whole = np.concatenate(self._doc_tail + [raw[: ends[-1] + 1]]) if self._doc_tail else raw[: ends[-1] + 1]
        self.docs.extend(split_raw_lines(whole, marker))
        self._doc_tail = [raw[ends[-1] + 1 :]] if ends[-1] + 1 < len(raw) else []

    def flush(self) -> None:
        if self._partial:
            self._count(np.array([self._partial]))
            self._partial = 0
        if self._doc_tail:  # a last line without its end is a document too
            self.docs.extend(split_raw_lines(np.concatenate(self._doc_tail), LINE_END))
            self._doc_tail = []

    def _count(self, lengths: np.ndarray) -> None:
        """Add lines of these lengths: short ones to a dense histogram, the rare long ones to a dict
        (a dense histogram up to a 200M-token line would take 1.6 GB)."""
        self.lines += len(lengths)
        short = lengths < DENSE_LENGTHS
        self.length_hist += np.bincount(lengths[short], minlength=DENSE_LENGTHS)
        for n in lengths[~short].tolist():
            self.long_lengths[n] = self.long_lengths.get(n, 0) + 1

    def length_summary(self) -> dict:
        nz = np.flatnonzero(self.length_hist)
        longs = sorted(self.long_lengths.items())
        values = np.concatenate([nz, np.array([v for v, _ in longs], np.int64)])  # distinct lengths, ascending
        counts = np.concatenate([self.length_hist[nz], np.array([c for _, c in longs], np.int64)])
        n = int(counts.sum())
        if n == 0:
            return {}
        cdf = np.cumsum(counts)
        pct = lambda q: int(values[np.searchsorted(cdf, q * n)])  # noqa: E731
        return {
            "min": int(values[0]),
            "mean": round(float((values.astype(np.float64) * counts).sum() / n), 2),
            "p50": pct(0.5),
            "p90": pct(0.9),
            "p99": pct(0.99),
            "max": int(values[-1]),
        }


def run_tokenize(job: TokenizeJob, progress: Progress | None = None, notify: Callable[[str], None] | None = None) -> dict:
    """Fit a tokenizer on the training text, encode train (and validation) text, write ``job.out``."""
    job.validate()
    options = job.options.resolved()
    check_output_dir(job.out, job.force)
    with corpus_sources(job.inputs) as sources, corpus_sources(job.val, option="--val") as val_sources:
        return _tokenize(job, options, sources, val_sources, progress, notify)


def _tokenize(job: TokenizeJob, options: TokenizerOptions, sources: list[Source], val_sources: list[Source] | None,
              progress: Progress | None, notify: Callable[[str], None] | None) -> dict:
    tok = make_tokenizer(options)
    reader = _Reader(job, sources, val_sources, tok, progress)
    want_docs = bool(job.matrix or job.pad_to or job.one_hot)
    splits = ["train", "val"] if job.val_fraction or val_sources else ["train"]
    # Char level is vectorised numpy already: shipping chunks to workers costs more than it saves
    # (100 MB: 2.3 s in-process vs 4.4 s with two workers); word-like levels gain (6.8 s vs 5.3 s).
    workers = 1 if isinstance(tok, CharTokenizer) else None
    with atomic_dir(job.out, job.force) as tmp, chunk_mapper(reader.all_bytes, workers) as pmap:
        blocks = _fit_and_encode(tok, reader, tmp, splits, pmap)
        stats, dtype = _write_ids(tok, blocks, tmp, splits, want_docs)
        _check_tokens(stats, sources, options.level)
        tok.save(tmp / "tokenizer.json")
        report = _report(tok, stats, sources, val_sources, job, options, dtype)
        if want_docs:
            report["outputs"] = _write_doc_vectors(tmp, tok, stats, job, notify)
        (tmp / "stats.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


class _Reader:
    """The job's corpus as bounded chunks cut where ``tok`` allows, with byte progress summed over every read of it."""

    def __init__(self, job: TokenizeJob, sources: list[Source], val_sources, tok: Tokenizer, progress: Progress | None):
        self.job, self.sources, self.val_sources, self.progress = job, sources, val_sources, progress
        self.cut_before = tok.cut_before  # where a line too long for a chunk may be cut
        reads_once = isinstance(tok, UnitTokenizer)
        train_bytes = sum(s.size for s in sources)
        self.all_bytes = train_bytes + (sum(s.size for s in val_sources) if val_sources else 0)
        # Word-like levels read the corpus once; char and subword fit first, then read it again.
        self.total = self.all_bytes if reads_once else self.all_bytes + int(train_bytes * (1 - (job.val_fraction or 0)))
        self.done = 0

    def _tick(self, phase: str):
        def f(n: int) -> None:
            self.done += n
            if self.progress:
                self.progress(phase, self.done, self.total)
        return f

    def pieces(self, phase: str):
        """(split, text) chunks of the training text, then of the validation files if there are any."""
        job = self.job
        it = iter_split_chunks(self.sources, job.val_fraction, job.errors, progress=self._tick(phase), cut_before=self.cut_before)
        if self.val_sources:
            val = iter_split_chunks(self.val_sources, None, job.errors, progress=self._tick(phase), cut_before=self.cut_before)
            it = _chain(it, (("val", t) for _, t in val))
        return it

    def train_text(self, phase: str):
        """Text chunks of the training split only (the fitting pass)."""
        return _until_val(iter_split_chunks(self.sources, self.job.val_fraction, self.job.errors, progress=self._tick(phase), cut_before=self.cut_before))


def _fit_and_encode(tok: Tokenizer, reader: _Reader, tmp: Path, splits: list[str], pmap):
    """(split, raw ids) blocks of the whole corpus; the tokenizer is fitted by the time the first arrives."""
    if isinstance(tok, UnitTokenizer):
        return one_pass(tok, reader.pieces("reading"), tmp, splits, pmap)
    train_text = reader.train_text("fitting")
    if isinstance(tok, CharTokenizer):
        tok.fit_chunk_counts(r for _, r in pmap(char_counts, ((None, (t,)) for t in train_text)))
    else:
        tok.fit(train_text)
    return pmap(tok.encode_raw, ((split, (text,)) for split, text in reader.pieces("encoding")))


def _write_ids(tok: Tokenizer, blocks, tmp: Path, splits: list[str], want_docs: bool) -> tuple[dict[str, SplitStats], np.dtype]:
    """Write each split's ids to ``<split>.npy`` as blocks arrive; return its statistics and the ids dtype.

    Subword training counts are known only here (SentencePiece does not report them), so they are
    filled into the vocabulary at the end.
    """
    stats = {sp: SplitStats(docs=[] if want_docs else None) for sp in splits}
    writers: dict[str, NpyWriter] = {}
    subword_counts = None
    for split, raw in blocks:
        if split not in writers:  # (the vocabulary of word-like levels is known only once blocks flow)
            writers[split] = NpyWriter(tmp / f"{split}.npy", ids_dtype(len(tok.vocab)))
        ids = tok.finish(raw)
        writers[split].write(ids)
        stats[split].add(raw, tok.line_end_marker, tok.vocab.oov_id, len(ids))
        if tok.options.level == "subword" and split == "train":
            subword_counts = add_counts(np.zeros(0, np.int64) if subword_counts is None else subword_counts, ids, len(tok.vocab))
    for split in splits:
        if split not in writers:
            writers[split] = NpyWriter(tmp / f"{split}.npy", ids_dtype(len(tok.vocab)))
        writers[split].close()
        stats[split].flush()
    if subword_counts is not None:
        tok.vocab.counts = subword_counts.tolist()
    return stats, writers["train"].dtype


def _check_tokens(stats: dict[str, SplitStats], sources: list[Source], level: str) -> None:
    if stats["train"].words == 0:
        raise CorpusError(f"{sources[0].name}: the training text has no tokens at --level {level}; give a corpus with some text")
    if "val" in stats and stats["val"].tokens == 0:
        raise CorpusError("the validation text has no tokens", fixes=("give more text", "a larger --val-fraction"))


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
            need = len(docs) * maxlen * 4
            _check_memory(need, "--pad-to", f"{len(docs)} lines x {maxlen} ids x 4 bytes", job, notify, "lower --pad-to")
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
    refuse_if_over(need, job.max_memory, what, shape, "--max-memory", fixes=(fix, "raise --max-memory"))
