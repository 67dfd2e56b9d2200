"""Read labelled texts (classification) and tagged sentences (tagging) from the usual file layouts.

Classification, ``read_labelled``:
- ``tsv``: ``label<TAB>text`` or ``text<TAB>label`` (``label_column``: first | last, detected when
  not given: the column whose cells have no spaces and repeat), an optional header row;
- ``sst``: ``<label> <text>``, the label the first space-separated field (the SST files' form);
- ``folders``: a directory with one sub-directory per class, one text file per document (aclImdb).

Tagging, ``read_tagged``:
- ``conll``: whitespace-separated columns, the token first and the tag in ``tag_column`` (default
  the last); a blank line ends a sentence; ``-DOCSTART-`` lines are skipped;
- ``conllu``: CoNLL-U's ten tab-separated fields; ``tag_field`` upos (default) or xpos; comment
  lines, multiword ranges (``3-4``) and empty nodes (``5.1``) are skipped.

Bad input is a CorpusError naming the file and line. Texts are read as UTF-8 (``errors`` as for
``tokenize``). Everything is held in memory: these corpora are sentences, not gigabytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqtool.errors import CorpusError, UsageError

CLASSIFY_FORMATS = ("tsv", "sst", "folders")
TAG_FORMATS = ("conll", "conllu")
TAG_FIELDS = {"upos": 3, "xpos": 4}
_HEADER_WORDS = {"label", "labels", "class", "category", "sentiment", "target", "y", "text", "sentence", "review"}


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[str]
    format: str


@dataclass
class TaggedSentences:
    tokens: list[list[str]]
    tags: list[list[str]]
    format: str


def _lines(path: Path, errors: str) -> list[str]:
    try:
        return path.read_bytes().decode("utf-8", errors=errors).splitlines()
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not valid UTF-8 at byte {e.start}", fixes=("fix the file", "pass --errors replace")) from None
    except OSError as e:
        raise CorpusError(f"{path}: cannot read it ({e.strerror}); check the path") from None


# ----------------------------------------------------------------------------- classification


def read_labelled(path: str | Path, fmt: str | None = None, label_column: str | None = None, errors: str = "strict") -> LabelledTexts:
    path = Path(path)
    if fmt is not None and fmt not in CLASSIFY_FORMATS:
        raise UsageError(f"format {fmt!r}: choose one of {', '.join(CLASSIFY_FORMATS)} for labelled texts")
    if label_column not in (None, "first", "last"):
        raise UsageError(f"label column {label_column!r}: choose first or last")
    if not path.exists():
        raise CorpusError(f"{path}: no such file or directory; check the path")
    if path.is_dir() or fmt == "folders":
        return _read_folders(path, errors)
    lines = [(i, ln) for i, ln in enumerate(_lines(path, errors), start=1) if ln.strip()]
    if not lines:
        raise CorpusError(f"{path}: no labelled lines; give lines of label<TAB>text or '<label> <text>'")
    fmt = fmt or ("tsv" if "\t" in lines[0][1] else "sst")  # the SST form has no tabs
    out = _read_tsv(path, lines, label_column) if fmt == "tsv" else _read_sst(path, lines)
    if not out.texts:
        raise CorpusError(f"{path}: no labelled lines after the header")
    return out


def _read_sst(path: Path, lines) -> LabelledTexts:
    texts, labels = [], []
    for i, ln in lines:
        parts = ln.strip().split(None, 1)
        if len(parts) < 2:
            raise CorpusError(f"{path}:{i}: a label without text; each line is '<label> <text>'")
        labels.append(parts[0])
        texts.append(parts[1])
    return LabelledTexts(texts, labels, "sst")


def _label_side(rows) -> str:
    """The column holding labels: the one whose cells have no spaces and repeat most."""
    def score(col):
        cells = [r[col] for r in rows]
        return (all(" " not in c.strip() for c in cells), -len(set(cells)))
    return "first" if score(0) >= score(-1) else "last"


def _read_tsv(path: Path, lines, label_column: str | None) -> LabelledTexts:
    rows = []
    for i, ln in lines:
        cells = ln.split("\t")
        if len(cells) < 2 or not cells[0].strip() or not cells[-1].strip():
            raise CorpusError(f"{path}:{i}: expected label<TAB>text (or text<TAB>label); this line has no {'tab' if len(cells) < 2 else 'label or text'}")
        rows.append((i, cells))
    first = rows[0][1]
    if first[0].strip().lower() in _HEADER_WORDS or first[-1].strip().lower() in _HEADER_WORDS:
        rows = rows[1:]  # a header row
    side = label_column or (_label_side([c for _, c in rows[:500]]) if rows else "first")
    texts, labels = [], []
    for _, cells in rows:
        lab, text = (cells[0], "\t".join(cells[1:])) if side == "first" else (cells[-1], "\t".join(cells[:-1]))
        labels.append(lab.strip())
        texts.append(text.strip())
    return LabelledTexts(texts, labels, "tsv")


def _read_folders(path: Path, errors: str) -> LabelledTexts:
    if not path.is_dir():
        raise CorpusError(f"{path}: the folders format needs a directory with one sub-directory per class")
    texts, labels = [], []
    classes = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    for d in classes:
        for f in sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith(".")):
            text = " ".join(_lines(f, errors)).strip()
            if text:
                texts.append(text)
                labels.append(d.name)
    if len(classes) < 2 or not texts:
        raise CorpusError(f"{path}: expected one sub-directory per class (at least two) holding text files; found {len(classes)} with {len(texts)} documents")
    return LabelledTexts(texts, labels, "folders")


# ----------------------------------------------------------------------------- tagging


def read_tagged(path: str | Path, fmt: str | None = None, tag_column: int = -1, tag_field: str = "upos", errors: str = "strict") -> TaggedSentences:
    path = Path(path)
    if fmt is not None and fmt not in TAG_FORMATS:
        raise UsageError(f"format {fmt!r}: choose one of {', '.join(TAG_FORMATS)} for tagged sentences")
    if tag_field not in TAG_FIELDS:
        raise UsageError(f"tag field {tag_field!r}: choose one of {', '.join(TAG_FIELDS)}")
    if path.is_dir() or not path.exists():
        raise CorpusError(f"{path}: {'is a directory' if path.is_dir() else 'no such file'}; give a CoNLL or CoNLL-U file")
    lines = _lines(path, errors)
    if fmt is None:
        data = [ln for ln in lines if ln.strip() and not ln.startswith("#")][:20]
        fmt = "conllu" if path.suffix == ".conllu" or (data and all(len(ln.split("\t")) == 10 for ln in data)) else "conll"
    out = _read_conllu(path, lines, TAG_FIELDS[tag_field]) if fmt == "conllu" else _read_conll(path, lines, tag_column)
    if not out.tokens:
        raise CorpusError(f"{path}: no tagged sentences; give {fmt} lines of token and tag columns")
    return out


def _read_conll(path: Path, lines: list[str], tag_column: int) -> TaggedSentences:
    tokens, tags, sent, sent_tags = [], [], [], []
    width = None
    for i, ln in enumerate([*lines, ""], start=1):
        cols = ln.split()
        if not cols or cols[0] == "-DOCSTART-":
            if sent:
                tokens.append(sent)
                tags.append(sent_tags)
            sent, sent_tags = [], []
            continue
        width = width or len(cols)
        if len(cols) != width or len(cols) < 2:
            raise CorpusError(f"{path}:{i}: {len(cols)} columns where the file's lines have {width}; every token line needs the same columns (token ... tag)")
        if not -len(cols) <= tag_column < len(cols) or tag_column == 0:
            raise UsageError(f"tag column {tag_column}: the file has {len(cols)} columns (0 is the token); give 1..{len(cols) - 1} or -1 for the last")
        sent.append(cols[0])
        sent_tags.append(cols[tag_column])
    return TaggedSentences(tokens, tags, "conll")


def _read_conllu(path: Path, lines: list[str], field: int) -> TaggedSentences:
    tokens, tags, sent, sent_tags = [], [], [], []
    opened = None  # line where the current sentence's comments or tokens began
    for i, ln in enumerate([*lines, ""], start=1):
        if not ln.strip():
            if opened is not None and not sent:
                raise CorpusError(f"{path}:{opened}: a sentence with no tokens; every sentence needs at least one token line")
            if sent:
                tokens.append(sent)
                tags.append(sent_tags)
            sent, sent_tags, opened = [], [], None
            continue
        opened = opened or i
        if ln.startswith("#"):
            continue
        cols = ln.split("\t")
        if len(cols) != 10:
            raise CorpusError(f"{path}:{i}: {len(cols)} tab-separated fields; CoNLL-U token lines have 10")
        if "-" in cols[0] or "." in cols[0]:
            continue  # a multiword range or an empty node: not a token of its own
        sent.append(cols[1])
        sent_tags.append(cols[field])
    return TaggedSentences(tokens, tags, "conllu")
