"""What grad-report measures: models (a checkpoint and its initialisation, or fresh models per cell),
each with the token ids to measure it on and the training batch shape its clip statistics use; or
a classifier or tagger run with the examples to measure it on.

The measurements themselves are in seqtool.gradients and seqtool.tasks.saliency.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqtool.errors import CorpusError, UsageError
from seqtool.gradients import GradOptions, GradReport, grad_report
from seqtool.models.registry import CELLS


def check_compare(cells: list[str]) -> list[str]:
    """Validate a --compare list of cell names."""
    bad = [c for c in cells if c not in CELLS]
    if bad or not cells:
        raise UsageError(f"--compare: unknown cell {', '.join(bad) or '(empty)'}; choose from {', '.join(CELLS)}")
    return cells


@dataclass
class Subject:
    """A model to report on, the ids to measure it with, and the training batch shape it uses."""

    name: str
    model: Any  # LanguageModel, in eval mode on its device
    ids: np.ndarray
    source: str  # "checkpoint" or "init"
    batch_size: int
    bptt: int
    kind: str = "lm"


@dataclass
class TaskSubject:
    """A classifier or tagger (eval mode, on ``device``) and the examples to measure it on."""

    name: str
    model: Any  # SequenceClassifier or SequenceTagger
    data: Any  # TaskData
    source: str
    kind: str  # classify | tag
    device: Any


def _fresh_model(cfg, seed: int, device):
    from seqtool.models import build_model

    torch.manual_seed(seed)  # the same weights seqtool train --seed would start from
    return build_model(cfg).to(device).eval()


def checkpoint_subjects(path, text: str | None, device, with_init: bool, seed: int = 0,
                        batch_size: int | None = None, bptt: int | None = None) -> list[Subject | TaskSubject]:
    """A trained model (run directory or .pt), its data, and optionally the same config at initialisation.

    ``text`` is encoded with the checkpoint's own tokenizer; without it the run's validation ids
    are used.
    """
    from seqtool.checkpoint import load_checkpoint, load_model
    from seqtool.data import load_ids

    ckpt = load_checkpoint(path)
    if "task" in ckpt:
        return task_subjects(path, ckpt, text, device, with_init, seed)
    lm = load_model(ckpt["path"], device)
    if text is not None:
        ids = lm.tokenizer.encode(text)
    else:
        val = Path(ckpt["path"]).parent / ckpt.get("data", {}).get("dir", "") / "val.npy"  # a relative record is the run's own data/
        if not val.is_file():
            raise CorpusError(f"{path}: its validation ids ({val}) are gone", fixes=("give --data FILE to measure on",))
        ids = load_ids(val)
    train = ckpt.get("train_config", {})  # the run's own training batch shape, unless given
    batch = int(train.get("batch_size", 32)) if batch_size is None else batch_size
    bptt = int(train.get("bptt", 64)) if bptt is None else bptt
    name = _name(path)
    subjects = [Subject(name, lm.model, ids, "checkpoint", batch, bptt)]
    if with_init:
        model = _fresh_model(lm.model.cfg, seed, device)
        subjects.append(Subject(f"{name} (init)", model, ids, "init", batch, bptt))
    return subjects


def _name(path) -> str:
    p = Path(path)
    return p.name if p.is_dir() else (p.parent.name if p.stem in ("best", "last") else p.stem)


def task_subjects(path, ckpt: dict, text: str | None, device, with_init: bool, seed: int) -> list[TaskSubject]:
    """A classifier or tagger run and the examples to measure it on: the lines of ``text`` (a tagger's tokens
    split at spaces; blank lines left out), or the run's validation examples; optionally also at initialisation."""
    from seqtool.tasks.labels import build_head
    from seqtool.task_runs import load_data, load_task_model, unlabelled

    loaded = load_task_model(path, device)
    kind = loaded.spec.kind
    if text is not None:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        data = unlabelled(loaded, [ln.split() for ln in lines] if kind == "tag" else lines, drop_empty=True)
        if not len(data):
            raise CorpusError(f"--data: no line has a token that {_name(path)}'s tokenizer reads", fixes=("give one input per line",))
    else:
        directory = Path(ckpt["path"]).parent / ckpt.get("data", {}).get("dir", "data")
        data = load_data(directory, kind)[1]
        if not len(data):
            raise CorpusError(f"{path}: the run has no validation examples", fixes=("give --data FILE with one input per line",))
    name = _name(path)
    subjects = [TaskSubject(name, loaded.model, data, "checkpoint", kind, loaded.device)]
    if with_init:
        torch.manual_seed(seed)  # the weights seqtool train --seed would start from
        model = build_head(loaded.model.cfg, loaded.spec).to(loaded.device).eval()
        subjects.append(TaskSubject(f"{name} (init)", model, data, "init", kind, loaded.device))
    return subjects


def fresh_subjects(cells: list[str], given: dict[str, Any], tok_options, text: str, seed: int, device,
                   batch_size: int | None = None, bptt: int | None = None) -> list[Subject]:
    """Freshly initialised models, one per cell, with a tokenizer fitted on ``text``.

    ``given`` holds the train command's model options (None = the level's default), so a report
    at initialisation describes exactly the model ``seqtool train`` would start from.
    """
    from seqtool.models.config import level_defaults
    from seqtool.runs import check_model_fits, model_config
    from seqtool.text.tokenizers import make_tokenizer

    tok = make_tokenizer(tok_options).fit([text])
    ids = tok.encode(text)
    defaults = level_defaults(tok.level)
    base = model_config(len(tok.vocab), tok.level, {**given, "cell": cells[0]})
    subjects = []
    for cell in cells:
        cfg = dataclasses.replace(base, cell=cell).validate()
        check_model_fits(cfg)  # before torch tries to allocate it
        subjects.append(Subject(f"{cell} (init)", _fresh_model(cfg, seed, device), ids, "init",
                                defaults["batch_size"] if batch_size is None else batch_size, defaults["bptt"] if bptt is None else bptt))
    return subjects


def report_subject(s: Subject | TaskSubject, opts: GradOptions):
    """``grad_report`` for one subject, with its own training batch shape for the clip statistics;
    the ClassifierFlow or TaggerFlow of a task run (``opts.windows`` examples, ``opts.steps`` distances or offsets)."""
    if isinstance(s, TaskSubject):
        from seqtool.tasks.saliency import classifier_flow, tagger_flow

        flow = classifier_flow if s.kind == "classify" else tagger_flow
        return flow(s.model, s.data, opts, s.name, s.source, s.device)
    return grad_report(s.model, s.ids, dataclasses.replace(opts, batch_size=s.batch_size, bptt=s.bptt), s.name, s.source)
