"""Scores for classification and tagging: what ``eval`` and the validation lines report.

Classification: accuracy, per-class precision/recall/F1 with support, macro-F1 (the unweighted
mean over classes, so a rare class counts as much as a common one) and the confusion matrix.

Tagging: token accuracy, and for entity tag schemes (IOB1, IOB2/BIO, IOBES) entity-level
precision/recall/F1 overall and per type with the conventions of the CoNLL shared tasks'
``conlleval`` script: a chunk is counted correct only when its type and both its ends match, and
chunk boundaries follow conlleval's start/end rules, which read all three schemes (in IOB1, B-
only separates two adjacent chunks of the same type). Sentences never share a chunk.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

_PREFIXED = re.compile(r"^([BIES])-(.+)$")


# ----------------------------------------------------------------------------- classification


@dataclass
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class ClassificationReport:
    labels: list[str]
    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassScores]
    confusion: list[list[int]]  # confusion[gold][predicted], rows and columns in ``labels`` order
    total: int

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy, "macro_f1": self.macro_f1, "total": self.total, "labels": self.labels,
            "per_class": {k: vars(v) for k, v in self.per_class.items()}, "confusion": self.confusion,
        }


def _prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def classification_report(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None) -> ClassificationReport:
    """Scores of ``pred`` against ``gold``; ``labels`` fixes the order (default: sorted, every label seen)."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    labels = list(labels) if labels is not None else sorted(set(gold) | set(pred))
    index = {lab: i for i, lab in enumerate(labels)}
    confusion = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred):
        confusion[index[g]][index[p]] += 1
    return report_from_confusion(labels, confusion)


def report_from_confusion(labels: Sequence[str], confusion: Sequence[Sequence[int]]) -> ClassificationReport:
    """The scores of a confusion matrix (confusion[gold][predicted]): what they all are computed from, so the
    matrices of several shards of a dataset, added up, give the whole dataset's report."""
    labels, confusion = list(labels), [[int(c) for c in row] for row in confusion]
    index = {lab: i for i, lab in enumerate(labels)}
    per_class = {}
    for i, lab in enumerate(labels):
        tp = confusion[i][i]
        n_gold = sum(confusion[i])
        n_pred = sum(row[i] for row in confusion)
        per_class[lab] = ClassScores(*_prf(tp, n_pred, n_gold), support=n_gold)
    total = sum(map(sum, confusion))
    correct = sum(confusion[i][i] for i in range(len(labels)))
    present = [lab for lab in labels if per_class[lab].support or any(row[index[lab]] for row in confusion)]
    macro = sum(per_class[lab].f1 for lab in present) / len(present) if present else 0.0
    return ClassificationReport(labels, correct / total if total else 0.0, macro, per_class, confusion, total)


def majority_baseline(train_labels: Sequence[str], gold: Sequence[str]) -> tuple[str, float]:
    """The most frequent training label and the accuracy of always predicting it on ``gold``."""
    counts: dict[str, int] = {}
    for lab in train_labels:
        counts[lab] = counts.get(lab, 0) + 1
    best = max(counts, key=lambda k: (counts[k], k))
    return best, (sum(g == best for g in gold) / len(gold) if gold else 0.0)


# ----------------------------------------------------------------------------- tagging


def _split(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', ''); a tag without a scheme prefix is its own type."""
    if tag == "O":
        return "O", ""
    m = _PREFIXED.match(tag)
    return (m.group(1), m.group(2)) if m else ("I", tag)


def _ends(prev: str, prev_type: str, tag: str, typ: str) -> bool:
    """conlleval: does a chunk end between the previous token and this one?"""
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev != "O" and prev_type != typ


def _starts(prev: str, prev_type: str, tag: str, typ: str) -> bool:
    """conlleval: does a chunk start at this token?"""
    if tag in ("B", "S"):
        return True
    if prev in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag != "O" and prev_type != typ


def chunks(tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """The entity chunks of one sentence as (first, last, type) token positions."""
    out = set()
    prev, prev_type, start = "O", "", None
    for i, tag in enumerate([*tags, "O"]):  # a final O closes the last chunk
        pos, typ = _split(tag)
        if start is not None and _ends(prev, prev_type, pos, typ):
            out.add((start, i - 1, prev_type))
            start = None
        if _starts(prev, prev_type, pos, typ):
            start = i
        prev, prev_type = pos, typ
    return out


def detect_scheme(tag_sequences: Sequence[Sequence[str]]) -> str | None:
    """'IOBES', 'IOB2', 'IOB1', or None when the tags are not entity tags (e.g. UPOS)."""
    tags = {t for seq in tag_sequences for t in seq}
    if not tags or not all(t == "O" or _PREFIXED.match(t) for t in tags) or tags == {"O"}:
        return None
    if any(t[0] in "ES" for t in tags if t != "O"):
        return "IOBES"
    for seq in tag_sequences:
        prev, prev_type = "O", ""
        for t in seq:
            pos, typ = _split(t)
            if pos == "I" and (prev == "O" or prev_type != typ):
                return "IOB1"  # a chunk that opens with I-
            prev, prev_type = pos, typ
    return "IOB2"


@dataclass
class TaggingReport:
    token_accuracy: float
    tokens: int
    scheme: str | None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    per_type: dict[str, ClassScores] = field(default_factory=dict)
    gold_chunks: int = 0
    predicted_chunks: int = 0

    def to_dict(self) -> dict:
        d = {"token_accuracy": self.token_accuracy, "tokens": self.tokens, "scheme": self.scheme}
        if self.scheme is not None:
            d.update(precision=self.precision, recall=self.recall, f1=self.f1, gold_chunks=self.gold_chunks,
                     predicted_chunks=self.predicted_chunks, per_type={k: vars(v) for k, v in self.per_type.items()})
        return d


@dataclass
class TagCounts:
    """What a tagging report is computed from; counts of several shards of a dataset add up (``vector``,
    ``from_vector``) to the whole dataset's."""

    tokens: int = 0
    correct: int = 0
    tp: dict[str, int] = field(default_factory=dict)  # per entity type: chunks found with both ends and the type right
    gold: dict[str, int] = field(default_factory=dict)  # ... gold chunks
    pred: dict[str, int] = field(default_factory=dict)  # ... predicted chunks

    def vector(self, types: Sequence[str]) -> list[int]:
        """The counts as one flat list, per type in ``types`` order (every type the counts hold must be there)."""
        return [self.tokens, self.correct, *(d.get(t, 0) for d in (self.tp, self.gold, self.pred) for t in types)]

    @classmethod
    def from_vector(cls, v: Sequence[float], types: Sequence[str]) -> "TagCounts":
        v, n = [int(round(x)) for x in v], len(types)
        per = [{t: c for t, c in zip(types, v[2 + k * n: 2 + (k + 1) * n]) if c} for k in range(3)]
        return cls(v[0], v[1], *per)


def tag_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scheme: str | None) -> TagCounts:
    """Tokens, correct tokens and (with an entity ``scheme``) the chunk counts per type of ``pred`` against ``gold``."""
    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred)):
        raise ValueError("gold and predicted tags must have the same sentences and lengths")
    c = TagCounts(sum(len(g) for g in gold), sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p)))
    if scheme is None:
        return c
    for g, p in zip(gold, pred):
        cg, cp = chunks(g), chunks(p)
        for counts, found in ((c.gold, cg), (c.pred, cp), (c.tp, cg & cp)):
            for ch in found:
                counts[ch[2]] = counts.get(ch[2], 0) + 1
    return c


def entity_types(tags: Sequence[str]) -> list[str]:
    """The entity types that chunks of ``tags`` can have, sorted ('B-PER', 'I-PER', 'O' -> ['PER'])."""
    return sorted({_split(t)[1] for t in tags if t != "O"})


def tagging_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scheme: str | None = "detect") -> TaggingReport:
    """Token accuracy, and entity-level scores when the gold tags use an entity scheme."""
    if scheme == "detect":
        scheme = detect_scheme(gold)
    return report_from_counts(tag_counts(gold, pred, scheme), scheme)


def report_from_counts(c: TagCounts, scheme: str | None) -> TaggingReport:
    """The tagging report of ``c``: token accuracy, and with an entity ``scheme`` precision/recall/F1 overall and per type."""
    report = TaggingReport(c.correct / c.tokens if c.tokens else 0.0, c.tokens, scheme)
    if scheme is None:
        return report
    types = sorted(set(c.gold) | set(c.pred))
    report.per_type = {t: ClassScores(*_prf(c.tp.get(t, 0), c.pred.get(t, 0), c.gold.get(t, 0)), support=c.gold.get(t, 0)) for t in types}
    report.gold_chunks, report.predicted_chunks = sum(c.gold.values()), sum(c.pred.values())
    report.precision, report.recall, report.f1 = _prf(sum(c.tp.values()), report.predicted_chunks, report.gold_chunks)
    return report
