"""Run directories for ``train --task classify|tag``: from labelled files to a ready Trainer, fresh or resumed.

The layout is a language-model run's (config.json, tokenizer.json, metrics.jsonl, best.pt,
last.pt) with ``data/task.npz`` in place of the tokenized streams: the encoded training and
validation examples (ids, offsets, targets, and with character features each token's word form),
so the run resumes, moved or not, without the files it was made from. config.json and every checkpoint also hold the ``task`` record (kind, label or
tag names, head options) that ``eval`` and ``predict`` rebuild the model from.
"""
from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from seqtool import __version__
from seqtool.errors import CheckpointError, CorpusError, UsageError
from seqtool.fsio import atomic_write_bytes
from seqtool.tasks.batches import TaskData
from seqtool.tasks.data import check_classes, class_weights, label_set, stratified_split
from seqtool.tasks.formats import read_labelled, read_tagged
from seqtool.tasks.labels import TaskSpec

DATA_FILE = "task.npz"


@dataclass
class TaskInputs:
    """How ``train --task`` reads its files (the --format family of options)."""

    kind: str
    format: str | None = None
    label_column: str | None = None
    tag_column: int = -1
    tag_field: str = "upos"
    errors: str = "strict"

    def read(self, path: str):
        if self.kind == "classify":
            return read_labelled(path, self.format, self.label_column, self.errors)
        return read_tagged(path, self.format, self.tag_column, self.tag_field, self.errors)

    def reading(self) -> dict:
        """How the training files were read, recorded with the run: eval reads its files the same way unless told otherwise."""
        return {"format": self.format, "label_column": self.label_column, "tag_column": self.tag_column, "tag_field": self.tag_field}


def _examples(raw, kind: str) -> tuple[list, list]:
    """(texts or token lists, labels or tag lists) of a read corpus."""
    return (raw.texts, raw.labels) if kind == "classify" else (raw.tokens, raw.tags)


def read_splits(inputs: TaskInputs, data: list[str], val: list[str] | None, val_fraction: float | None, seed: int):
    """Training and validation examples: --val files, or a stratified --val-fraction (0.1) of the training files."""
    xs, ys = [], []
    for path in data:
        x, y = _examples(inputs.read(path), inputs.kind)
        xs += x
        ys += y
    if val:
        vx, vy = [], []
        for path in val:
            x, y = _examples(inputs.read(path), inputs.kind)
            vx += x
            vy += y
        return (xs, ys), (vx, vy)
    fraction = 0.1 if val_fraction is None else val_fraction
    if not 0.0 < fraction < 1.0:
        raise UsageError(f"--val-fraction {fraction}: must be between 0 and 1 (e.g. 0.1)")
    strata = ys if inputs.kind == "classify" else ["all"] * len(ys)
    tr, va = stratified_split(strata, fraction, seed)
    if len(va) == 0:
        raise CorpusError(f"{data[0]}: too few examples to hold out a validation part", fixes=("give --val FILE",))
    return ([xs[i] for i in tr], [ys[i] for i in tr]), ([xs[i] for i in va], [ys[i] for i in va])


def task_tokenizer_options(kind: str, tok_options, level_given: bool):
    """The tokenizer a task run uses: word level unless asked otherwise, unseen words mapped to an OOV
    token (never dropped: a tag needs its token), no end-of-line token; tagging splits only at spaces."""
    level = tok_options.level if level_given else "word"
    if kind == "tag" and level != "word":
        raise UsageError(f"--level {level}: --task tag reads tokenized sentences and needs --level word")
    changes = {"level": level, "eos": False, "oov_token": tok_options.oov_token or "<unk>"}
    if kind == "tag":
        changes["filters"] = ""  # a token is the file's token, punctuation and all
    return dataclasses.replace(tok_options, **changes).resolved()


def as_text(kind: str, xs: list) -> str:
    """Examples as the tokenizer reads them: one per line, each ended by a line end (so a last example without a
    token is still a line of its own); a tagged sentence's tokens joined by spaces."""
    return "".join((" ".join(x) if kind == "tag" else x) + "\n" for x in xs)


def encode(tok, kind: str, xs: list, ys: list, names: list[str], source: str, alphabet: str = "") -> tuple[TaskData, int]:
    """TaskData of examples and the number left out for having no tokens (classify only); with an
    ``alphabet`` (character features) each token's word form too."""
    index = {n: i for i, n in enumerate(names)}
    seqs = tok.encode_lines(as_text(kind, xs)) if xs else []
    words = word_forms(tok, kind, xs, seqs, source) if alphabet else None
    if kind == "tag":
        for i, (s, x) in enumerate(zip(seqs, xs)):
            if len(s) != len(x):
                raise CorpusError(f"{source}: sentence {i + 1} has {len(x)} tokens but the tokenizer made {len(s)} of it")
        forms, form_ids = _forms(words, alphabet)
        return TaskData([s.astype(np.int64) for s in seqs], [np.array([index[t] for t in y], dtype=np.int64) for y in ys], kind, forms, form_ids), 0
    keep = [i for i, s in enumerate(seqs) if len(s)]
    forms, form_ids = _forms(None if words is None else [words[i] for i in keep], alphabet)
    return TaskData([seqs[i].astype(np.int64) for i in keep], [index[ys[i]] for i in keep], kind, forms, form_ids), len(seqs) - len(keep)


def word_forms(tok, kind: str, xs: list, seqs: list | None = None, source: str = "") -> list[list[str]]:
    """Each example's tokens as character features read them: a tagged sentence's own tokens; a text's words as the
    word tokenizer cuts them (lowercased and without punctuation unless its options keep them), one per id of
    ``seqs`` (the texts' ids, checked against when given)."""
    if kind == "tag":
        return xs
    from seqtool.text.kernels import SENTINEL

    words, line = [], []
    for unit in tok.units(as_text(kind, xs)) if xs else []:
        w = unit.decode("ascii") if isinstance(unit, bytes) else unit  # the tokenizer reads ASCII text as bytes
        if w == SENTINEL:  # a line end: the example's last word
            words.append(line)
            line = []
        else:
            line.append(w)
    if seqs is not None and [len(w) for w in words] != [len(s) for s in seqs]:
        raise CorpusError(f"{source}: the words of a text do not line up with its token ids",
                          fixes=("character features read the word tokenizer's words: train with --level word",))
    return words


def alphabet_of(sentences: list) -> str:
    """The characters of each example's word forms (``word_forms``): character features' alphabet."""
    from seqtool.models.charfeat import char_alphabet

    return char_alphabet(t for sent in sentences for t in sent)


def _forms(sentences: list | None, alphabet: str):
    """Character features' (forms, form_ids) of examples' word forms; (None, None) without an alphabet."""
    if not alphabet:
        return None, None
    from seqtool.models.charfeat import form_table

    return form_table(sentences, alphabet)


def names_of(kind: str, train_y: list, val_y: list, source: str) -> list[str]:
    if kind == "classify":
        check_classes(train_y, source)
        return label_set([*train_y, *val_y])  # a class only validation has is an output that is never right
    return label_set([t for y in [*train_y, *val_y] for t in y])


def save_data(directory: Path, train: TaskData, val: TaskData) -> None:
    arrays = {}
    for split, d in (("train", train), ("val", val)):
        arrays[f"{split}_ids"] = np.concatenate(d.seqs) if len(d) else np.zeros(0, np.int64)
        arrays[f"{split}_lengths"] = d.lengths
        arrays[f"{split}_targets"] = np.array(d.targets, dtype=np.int64) if d.kind == "classify" else np.concatenate(d.targets)
        if d.forms is not None:  # character features: each distinct form's chars, each token's form
            arrays[f"{split}_forms"] = d.forms
            arrays[f"{split}_form_ids"] = np.concatenate(d.form_ids) if len(d) else np.zeros(0, np.int64)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    Path(directory).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(directory) / DATA_FILE, buf.getvalue())


def load_data(directory: Path, kind: str) -> tuple[TaskData, TaskData]:
    path = Path(directory) / DATA_FILE
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: cannot read the run's encoded examples ({type(e).__name__}); the run directory is damaged") from None
    out = []
    for split in ("train", "val"):
        cuts = np.cumsum(arrays[f"{split}_lengths"])[:-1]
        seqs = np.split(arrays[f"{split}_ids"], cuts)
        targets = arrays[f"{split}_targets"].tolist() if kind == "classify" else np.split(arrays[f"{split}_targets"], cuts)
        forms = arrays.get(f"{split}_forms")
        form_ids = None if forms is None else np.split(arrays[f"{split}_form_ids"], cuts)
        out.append(TaskData(seqs, targets, kind, forms, form_ids))
    return out[0], out[1]


def spec_for(kind: str, names: list[str], train: TaskData, pool: str, bidirectional: bool | None, crf: bool, weights: str | None,
             char_features: str = "none", char_dim: int | None = None, char_hidden: int | None = None, word_dropout: float = 0.0,
             alphabet: str = "", reading: dict | None = None) -> TaskSpec:
    cw = class_weights(np.array(train.targets), len(names)).tolist() if weights == "auto" else None
    bi = (kind == "tag") if bidirectional is None else bidirectional  # taggers read both ways by default
    chars = {"char_dim": char_dim, "char_hidden": char_hidden}
    return TaskSpec(kind, names, pool, bi, crf, cw, char_features, alphabet=alphabet, word_dropout=word_dropout, reading=reading or {},
                    **{k: v for k, v in chars.items() if v is not None})


def build_trainer(run_dir: Path, mcfg, tcfg, tok, spec: TaskSpec, train: TaskData, val: TaskData, device, callbacks=None,
                  pretrained: Path | None = None, notify: Callable[[str], None] | None = None, dist=None):
    import torch

    from seqtool.runs import attach_pretrained, check_model_fits
    from seqtool.tasks.labels import LabelTask, build_head
    from seqtool.training import Trainer

    check_model_fits(mcfg)  # with the real vocabulary
    torch.manual_seed(tcfg.seed)
    model = build_head(mcfg, spec)
    if pretrained is not None:
        attach_pretrained(model, mcfg, tok, pretrained, tcfg.seed, notify)
    device = dist.device(device) if dist is not None else device  # a GPU per process
    model.to(device)
    extra = {"model_config": mcfg.to_dict(), "tokenizer": tok.to_dict(), "data": {"dir": "data"}, "task": spec.to_dict(), "seqtool_version": __version__}
    task = LabelTask(spec, train, val, tcfg.batch_size, tcfg.seed, device, tok.vocab.oov_id, dist)
    return Trainer(model, tcfg, task, run_dir, extra, device, callbacks, dist)


def resume_trainer(run_dir: Path, ckpt: dict, mcfg, tcfg, device, callbacks=None, dist=None):
    """The Trainer of a task run, from its own data/task.npz and last.pt (called by ``runs.resume``)."""
    from seqtool.text.tokenizers import tokenizer_from_dict

    spec = TaskSpec.from_dict(ckpt["task"])
    train, val = load_data(Path(run_dir) / "data", spec.kind)
    tok = tokenizer_from_dict(ckpt["tokenizer"], source=ckpt["path"])
    return build_trainer(run_dir, mcfg, tcfg, tok, spec, train, val, device, callbacks, dist=dist), tok


# ----------------------------------------------------------------------------- using a trained run


@dataclass
class LoadedTask:
    """A trained classifier or tagger ready for inference (eval mode, on ``device``) with its tokenizer."""

    model: object
    tokenizer: object
    spec: TaskSpec
    path: str
    device: object


def load_task_model(path, device, prefer: str = "best") -> LoadedTask:
    """Read a task run's checkpoint (or its run directory's best.pt) and rebuild its model."""
    import torch

    from seqtool.checkpoint import load_checkpoint
    from seqtool.errors import ConfigError, TokenizerError
    from seqtool.models import ModelConfig
    from seqtool.tasks.labels import build_head
    from seqtool.text.tokenizers import tokenizer_from_dict

    ckpt = load_checkpoint(path, prefer)
    p = ckpt["path"]
    if "task" not in ckpt:
        raise CheckpointError(f"{p}: a language model, not a classifier or tagger", fixes=("train one with seqtool train --task classify|tag",))
    try:
        spec = TaskSpec.from_dict(ckpt["task"])
        cfg = ModelConfig.from_dict(ckpt["model_config"])
        tok = tokenizer_from_dict(ckpt["tokenizer"], source=p)
        model = build_head(cfg, spec)
        model.load_state_dict(ckpt["model_state"])
    except (ConfigError, TokenizerError, TypeError, KeyError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{p}: the task, config or weights do not fit together ({first}); the checkpoint may be corrupt") from None
    dev = torch.device(device)
    model.to(dev).eval()
    return LoadedTask(model, tok, spec, p, dev)


def score_examples(loaded: LoadedTask, xs: list, ys: list, source: str, batch_size: int = 64):
    """Scores of the model on labelled examples, and the labels or tags training never saw (counted, scored as wrong)."""
    from seqtool.tasks.scoring import score

    known = loaded.spec.labels
    flat = ys if loaded.spec.kind == "classify" else [t for y in ys for t in y]
    unseen = sorted(set(flat) - set(known))
    names = [*known, *unseen]  # the model never predicts the unseen ones: they count as errors
    data, dropped = encode(loaded.tokenizer, loaded.spec.kind, xs, ys, names, source, loaded.spec.alphabet)
    if not len(data):
        raise CorpusError(f"{source}: no example has a token the model reads")
    unseen_set = set(unseen)
    unseen_count = sum(1 for t in flat if t in unseen_set)
    return score(loaded.model, data, names, loaded.device, batch_size), unseen, unseen_count, dropped


def unlabelled(loaded: LoadedTask, examples: list, drop_empty: bool = False) -> TaskData:
    """Examples without labels, read as ``loaded``'s run reads them (its tokenizer, and its alphabet for character
    features), as TaskData (targets are zeros); one with no token the model reads becomes a single OOV token (an
    empty word form), or with ``drop_empty`` is left out."""
    tok, kind, alphabet = loaded.tokenizer, loaded.spec.kind, loaded.spec.alphabet
    seqs = tok.encode_lines(as_text(kind, examples)) if examples else []
    words = word_forms(tok, kind, examples, seqs, "the input") if alphabet else [[]] * len(seqs)
    oov = tok.vocab.oov_id
    if drop_empty:
        keep = [i for i, s in enumerate(seqs) if len(s)]
        seqs, words = [seqs[i] for i in keep], [words[i] for i in keep]
    seqs = [s.astype(np.int64) if len(s) else np.array([oov if oov is not None else 0], dtype=np.int64) for s in seqs]
    targets = [0] * len(seqs) if kind == "classify" else [np.zeros(len(s), dtype=np.int64) for s in seqs]  # unused by predictions
    forms, form_ids = _forms([w or [""] for w in words], alphabet)
    return TaskData(seqs, targets, kind, forms, form_ids)


def predict(loaded: LoadedTask, examples: list, batch_size: int = 64):
    """Classify: (N, C) probabilities; tag: a list of tag names per sentence (tokens given as lists)."""
    from seqtool.tasks.scoring import score

    kind = loaded.spec.kind
    s = score(loaded.model, unlabelled(loaded, examples), loaded.spec.labels, loaded.device, batch_size)
    if kind == "classify":
        return s.probabilities
    return [[loaded.spec.labels[t] for t in p] for p in s.predictions]
