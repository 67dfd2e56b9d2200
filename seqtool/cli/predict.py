"""``seqtool predict``: labels from a trained classifier or tagger, line by line; and ``eval`` of such runs.

Parses options, reads lines in batches (stdin streams), calls seqtool.task_runs, renders: one
label per input line (with ``--top-k`` probabilities; with ``--explain`` each token's saliency,
seqtool.tasks.saliency), or CoNLL columns / the lecture's inline ``[Jim]_{PER}`` form for a tagger;
``--json`` gives one JSON object per line (JSON Lines).
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

  echo "the soup was not good at all" | seqtool predict runs/sentiment --explain

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
    explain: Annotated[bool, typer.Option("--explain", help="classify: also each token's saliency, gradient x input of the predicted class's score with respect to the token's word embedding, character features held fixed (green for, red against; numbers in --json).")] = False,
    inline: Annotated[bool, typer.Option("--inline", help="tag: print each sentence with its entities marked [Jim]_{PER} instead of CoNLL columns.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps.")] = "auto",
    errors: opt.Errors = "strict",
    quiet: opt.Quiet = False,
    json_out: opt.Json = False,
) -> None:
    from seqtool import task_runs
    from seqtool.devices import resolve_device
    from seqtool.errors import CorpusError, UsageError

    ui = Ui(quiet=quiet, json_mode=json_out)
    loaded = task_runs.load_task_model(checkpoint, resolve_device(device))
    kind, labels = loaded.spec.kind, loaded.spec.labels
    if inline and kind == "classify":
        raise UsageError("--inline marks a tagger's entities in the sentence; a classifier prints one label per line (drop --inline)")
    if explain and kind == "tag":
        raise UsageError("--explain shows a classifier's per-token saliency; for how far a tagger's context reaches use seqtool grad-report RUN")
    stream = sys.stdin if file == "-" else _open(file, errors)
    if explain and loaded.model.chars is not None:
        from seqtool.tasks.saliency import attributed

        ui.info(f"saliency: gradient x input of {attributed(loaded.model)}")
    seen = 0
    try:
        while True:
            lines = [ln.rstrip("\r\n") for ln in islice(stream, BATCH_LINES)]
            if not lines:
                break
            seen += len(lines)
            if kind == "classify" and explain:
                from seqtool.tasks.saliency import attributed, explain as saliency

                found = saliency(loaded.model, task_runs.unlabelled(loaded, [ln.strip() for ln in lines]), loaded.device)
                _print_explained(ui, found, labels, min(top_k, len(labels)), lines, loaded.tokenizer.vocab.tokens, attributed(loaded.model))
            elif kind == "classify":
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
    for line, p in zip(lines, probs):
        if ui.json_mode:
            ui.emit_json_line(_label_record(line, p, labels, k))
        else:
            ui.text(_label_text(p, labels, k))


def _label_record(line: str, p, labels: list[str], k: int) -> dict:
    import numpy as np

    order = np.argsort(-np.asarray(p))[:k]
    return {"text": line, "label": labels[order[0]], "top": [{"label": labels[i], "p": round(float(p[i]), 6)} for i in order]}


def _label_text(p, labels: list[str], k: int) -> str:
    import numpy as np

    return "\t".join(f"{labels[i]}\t{p[i]:.4f}" for i in np.argsort(-np.asarray(p))[:k])


def _print_explained(ui: Ui, found, labels: list[str], k: int, lines: list[str], vocab: list[str], of: str) -> None:
    """Each line's labels and its tokens with their saliency: coloured on a terminal, numbers in a pipe and in JSON
    (with ``of``, what the saliency is taken with respect to)."""
    from rich.text import Text

    for line, e in zip(lines, found):
        tokens = [vocab[i] for i in e.ids]
        if ui.json_mode:
            ui.emit_json_line({**_label_record(line, e.probabilities, labels, k), "tokens": tokens,
                               "saliency": [round(v, 6) for v in e.grad_x_input], "gradient_norm": [round(v, 6) for v in e.grad_norm],
                               "saliency_of": of})
        elif not ui.out.is_terminal:
            ui.text(_label_text(e.probabilities, labels, k) + "\t" + " ".join(f"{t}:{v:+.3g}" for t, v in zip(tokens, e.grad_x_input)))
        else:
            top = max((abs(v) for v in e.grad_x_input), default=0.0) or 1.0
            out = Text(_label_text(e.probabilities, labels, k) + "\t")  # Text: corpus tokens are never read as markup
            for i, (t, v) in enumerate(zip(tokens, e.grad_x_input)):
                level = round(40 + 160 * abs(v) / top)  # background intensity: the share of the line's largest saliency
                out.append(("" if i == 0 else " "))
                out.append(t, style=f"on rgb({0 if v >= 0 else level},{level if v >= 0 else 0},0)")
            ui.out.print(out)


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
    given = {k: v for k, v in inputs_kw.items() if v is not None}  # the rest: as the run read its training files
    inputs = task_runs.TaskInputs(loaded.spec.kind, **{**loaded.spec.reading, **given})
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

