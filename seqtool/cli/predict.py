"""``seqtool predict``: labels from a trained classifier or tagger, line by line; and ``eval`` of such runs.

Parses options, reads lines in batches (stdin streams), calls seqtool.task_runs, renders: one
label per input line (with ``--top-k`` probabilities), or CoNLL columns / the lecture's inline
``[Jim]_{PER}`` form for a tagger; ``--json`` gives one JSON object per line (JSON Lines).
"""
from __future__ import annotations

import sys
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer

from seqtool.cli import options as opt
from seqtool.cli.console import Ui

EXAMPLES = """
[bold]Examples[/bold]

  seqtool train sample_corpora/sentiment.tsv --task classify --pool mean --time-budget 2m --out runs/sentiment

  echo "the soup was not good at all" | seqtool predict runs/sentiment --top-k 2

  seqtool train sample_corpora/tagged.conll --task tag --crf --time-budget 2m --out runs/ner

  echo "Tamvin bought 300 shares of the Guild of Weavers in 1513 ." | seqtool predict runs/ner --inline
"""

BATCH_LINES = 512  # lines read, predicted and written at a time: stdin streams, memory stays bounded


def register(app: typer.Typer) -> None:
    app.command("predict", help="Label text with a trained classifier (a label per line) or tagger (a tag per token; input: one sentence per line, tokens separated by spaces).", epilog=EXAMPLES)(predict_cmd)


def predict_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="A seqtool train --task run directory (its best.pt) or a checkpoint file.", show_default=False)],
    file: Annotated[str, typer.Argument(help="A UTF-8 text file, one example per line, or - for stdin.")] = "-",
    top_k: Annotated[int, typer.Option("--top-k", help="classify: show the K most likely labels with their probabilities.", min=1)] = 1,
    inline: Annotated[bool, typer.Option("--inline", help="tag: print each sentence with its entities marked [Jim]_{PER} instead of CoNLL columns.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps.")] = "auto",
    errors: opt.Errors = "strict",
    quiet: opt.Quiet = False,
    json_out: opt.Json = False,
) -> None:
    from seqtool import task_runs
    from seqtool.devices import resolve_device
    from seqtool.errors import CorpusError

    ui = Ui(quiet=quiet, json_mode=json_out)
    stream = sys.stdin if file == "-" else _open(file, errors)
    loaded = task_runs.load_task_model(checkpoint, resolve_device(device))
    kind, labels = loaded.spec.kind, loaded.spec.labels
    seen = 0
    try:
        while True:
            lines = [ln.rstrip("\r\n") for ln in islice(stream, BATCH_LINES)]
            if not lines:
                break
            seen += len(lines)
            if kind == "classify":
                _print_labels(ui, task_runs.predict(loaded, [ln.strip() for ln in lines]), labels, min(top_k, len(labels)), lines)
            else:
                sents = [ln.split() for ln in lines if ln.strip()]
                _print_tags(ui, sents, task_runs.predict(loaded, sents), inline)
    finally:
        if stream is not sys.stdin:
            stream.close()
    if not seen:
        raise CorpusError(f"{'stdin' if file == '-' else file}: no input lines to label", fixes=("give one text per line",))


def _open(path: str, errors: str):
    from seqtool.text.corpus import check_paths

    check_paths([path])
    return open(path, encoding="utf-8", errors=errors)


def _print_labels(ui: Ui, probs, labels: list[str], k: int, lines: list[str]) -> None:
    import numpy as np

    for line, p in zip(lines, probs):
        order = np.argsort(-p)[:k]
        if ui.json_mode:
            ui.emit_json_line({"text": line, "label": labels[order[0]], "top": [{"label": labels[i], "p": round(float(p[i]), 6)} for i in order]})
        else:
            ui.text("\t".join(f"{labels[i]}\t{p[i]:.4f}" for i in order))


def _print_tags(ui: Ui, sents: list[list[str]], tags: list[list[str]], inline: bool) -> None:
    from seqtool.tasks.metrics import chunks

    for toks, ts in zip(sents, tags):
        if ui.json_mode:
            ui.emit_json_line({"tokens": toks, "tags": ts})
        elif inline:
            marks = {start: (end, typ) for start, end, typ in chunks(ts)}
            out, i = [], 0
            while i < len(toks):
                if i in marks:
                    end, typ = marks[i]
                    out.append(f"[{' '.join(toks[i:end + 1])}]_{{{typ}}}")
                    i = end + 1
                else:
                    out.append(toks[i])
                    i += 1
            ui.text(" ".join(out))
        else:
            ui.text("\n".join(f"{w}\t{t}" for w, t in zip(toks, ts)) + "\n")


def eval_task(ui: Ui, checkpoint: Path, files: list[str], device: str, inputs_kw: dict) -> None:
    """``seqtool eval`` of a classifier or tagger run: its scores on labelled files."""
    from seqtool import task_runs
    from seqtool.devices import resolve_device

    loaded = task_runs.load_task_model(checkpoint, resolve_device(device))
    inputs = task_runs.TaskInputs(loaded.spec.kind, **inputs_kw)
    results = []
    for f in files:
        xs, ys = task_runs._examples(inputs.read(f), loaded.spec.kind)
        scored, unseen, n_unseen, dropped = task_runs.score_examples(loaded, xs, ys, f)
        if n_unseen:
            ui.warn(f"{f}: {n_unseen:,} {'labels' if loaded.spec.kind == 'classify' else 'tags'} training never saw "
                    f"({', '.join(unseen[:5])}{'...' if len(unseen) > 5 else ''}); they count as wrong")
        results.append({"file": f, "loss": scored.loss, **scored.report.to_dict(), "unseen_labels": n_unseen, "left_out": dropped})
        _render_report(ui, f, scored.report)
    if ui.json_mode:
        ui.emit_json({"checkpoint": loaded.path, "task": loaded.spec.kind, "files": results})


def _render_report(ui: Ui, name: str, r) -> None:
    from seqtool.tasks.metrics import ClassificationReport

    if isinstance(r, ClassificationReport):
        rows = [(lab, s.precision, s.recall, s.f1, s.support) for lab, s in r.per_class.items()]
        rows += [("accuracy", "", "", r.accuracy, r.total), ("macro avg", "", "", r.macro_f1, r.total)]
        ui.table(f"{name}: classification", ["label", "precision", "recall", "F1", "support"], rows, numeric=(1, 2, 3, 4))
        ui.table(f"{name}: confusion (rows gold, columns predicted)", ["", *r.labels], [(lab, *row) for lab, row in zip(r.labels, r.confusion)],
                 numeric=tuple(range(1, len(r.labels) + 1)))
        return
    rows = [("token accuracy", r.token_accuracy, r.tokens)]
    if r.scheme is not None:
        rows += [(f"entities ({r.scheme}): precision", r.precision, r.predicted_chunks), ("entities: recall", r.recall, r.gold_chunks), ("entities: F1", r.f1, "")]
        rows += [(f"  {t}: F1 (P {s.precision:.3f}, R {s.recall:.3f})", s.f1, s.support) for t, s in r.per_type.items()]
    ui.table(f"{name}: tagging", ["", "score", "count"], rows, numeric=(1, 2))

