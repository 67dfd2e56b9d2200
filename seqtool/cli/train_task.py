"""``seqtool train --task classify|tag``: the options of the two labelled tasks and the start of such a run.

The command itself (options shared with language models, the loop, progress, Ctrl-C) is
cli/train.py; this module reads the labelled files, fits the tokenizer, encodes, and builds the
run beside --out the way a language-model run is built (staged, locked, swapped in when ready).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seqtool.cli.console import Ui

TASK = "Task (classify, tag)"

Task = Annotated[str, typer.Option("--task", help="lm (a language model) | classify (a label per text: the lecture's sequence-to-one design) | tag (a label per token: part of speech, named entities).", rich_help_panel=TASK)]
Format = Annotated[Optional[str], typer.Option("--format", help="classify: tsv | sst | folders; tag: conll | conllu \\[detected].", rich_help_panel=TASK, show_default=False)]
LabelColumn = Annotated[Optional[str], typer.Option("--label-column", help="tsv: which column holds the label, first | last \\[detected].", rich_help_panel=TASK, show_default=False)]
TagColumn = Annotated[Optional[int], typer.Option("--tag-column", help="conll: the tag's column (0 is the token; -1 the last); eval: as the run was trained \\[-1].", rich_help_panel=TASK, show_default=False)]
TagField = Annotated[Optional[str], typer.Option("--tag-field", help="conllu: upos | xpos; eval: as the run was trained \\[upos].", rich_help_panel=TASK, show_default=False)]
Pool = Annotated[str, typer.Option("--pool", help="classify: what the label is read from: last (the state after the last token) | mean | max | attention.", rich_help_panel=TASK)]
Bidirectional = Annotated[Optional[bool], typer.Option("--bidirectional/--no-bidirectional", help="A second recurrent stack reads each sequence backwards \\[tag: on, classify: off].", rich_help_panel=TASK, show_default=False)]
Crf = Annotated[bool, typer.Option("--crf", help="tag: a linear-chain CRF output layer, decoded with Viterbi (Lample et al. 2016).", rich_help_panel=TASK)]
CharFeatures = Annotated[str, typer.Option("--char-features", help="Each word's characters read by a bidirectional lstm (Lample et al. 2016) or a width-3 cnn (Ma & Hovy 2016), beside the word embedding, so unseen words have features | none.", rich_help_panel=TASK)]
CharDim = Annotated[Optional[int], typer.Option("--char-dim", help="--char-features: character embedding width \\[32].", rich_help_panel=TASK, show_default=False)]
CharHidden = Annotated[Optional[int], typer.Option("--char-hidden", help="--char-features: lstm units per direction, or cnn filters \\[64].", rich_help_panel=TASK, show_default=False)]
WordDropout = Annotated[float, typer.Option("--word-dropout", help="Training only: each token becomes the unknown word with this probability, so the model learns unknown words (from their characters).", rich_help_panel=TASK)]
ClassWeights = Annotated[Optional[str], typer.Option("--class-weights", help="classify: auto weighs each class's loss by n / (classes x its count) for imbalanced labels | none.", rich_help_panel=TASK, show_default=False)]


def check_task_options(task: str, data_format, label_column, pool: str, bidirectional, crf: bool, class_weights,
                       char_features: str = "none", char_dim=None, char_hidden=None, word_dropout: float = 0.0) -> None:
    from seqtool.errors import UsageError

    if task not in ("lm", "classify", "tag"):
        raise UsageError(f"--task {task}: choose lm, classify or tag")
    if task == "lm" and (data_format or label_column or crf or class_weights or pool != "last" or bidirectional is not None):
        raise UsageError("--format, --label-column, --pool, --bidirectional, --crf and --class-weights need --task classify or tag")
    if class_weights not in (None, "none", "auto"):
        raise UsageError(f"--class-weights {class_weights}: choose auto or none")
    if task != "classify" and class_weights == "auto":
        raise UsageError("--class-weights applies to --task classify")
    if task != "tag" and crf:
        raise UsageError("--crf applies to --task tag")
    _check_char_options(task, char_features, char_dim, char_hidden, word_dropout)


def check_lm_only(task: str, regularisation: dict) -> None:
    """--locked-dropout, --embed-dropout and --weight-drop are built and tested for language models only."""
    from seqtool.errors import UsageError

    given = ["--" + name.replace("_", "-") for name, value in regularisation.items() if value]
    if task != "lm" and given:
        raise UsageError(f"{', '.join(given)} applies to --task lm (language models) only; drop it for --task {task}")


def _check_char_options(task: str, char_features: str, char_dim, char_hidden, word_dropout: float) -> None:
    from seqtool.errors import UsageError

    if char_features not in ("none", "lstm", "cnn"):
        raise UsageError(f"--char-features {char_features}: choose lstm, cnn or none")
    if char_features != "none" and task == "lm":
        raise UsageError("--char-features needs --task classify or tag")
    for name, value in (("--char-dim", char_dim), ("--char-hidden", char_hidden)):
        if value is not None and char_features == "none":
            raise UsageError(f"{name} sizes character features: give --char-features lstm or cnn")
        if value is not None and value < 1:
            raise UsageError(f"{name} {value}: must be at least 1")
    if word_dropout and task == "lm":
        raise UsageError("--word-dropout needs --task classify or tag")
    if not 0.0 <= word_dropout < 1.0:
        raise UsageError(f"--word-dropout {word_dropout}: must be at least 0 and below 1 (e.g. 0.1)")


def start_task_run(ui: Ui, data: list[str], out: Path, io, tok_options, level_given: bool, inputs, tcfg, given: dict,
                   head: dict, pretrained: Optional[Path], callbacks, lock, summary: bool = False, dist=None):
    """Read, tokenize and encode the labelled files, write the run files, and build the Trainer."""
    from seqtool import runs, task_runs
    from seqtool.devices import resolve_device
    from seqtool.errors import ConfigError, UsageError
    from seqtool.text import make_tokenizer

    dev = resolve_device(tcfg.device)
    if pretrained is not None and not Path(pretrained).is_file():  # the readers check DATA and --val (a folder may be DATA)
        raise ConfigError(f"--pretrained-embeddings {pretrained}: no such file; check the path")
    opts = task_runs.task_tokenizer_options(inputs.kind, tok_options, level_given)
    if head.get("char_features", "none") != "none" and opts.level != "word":
        raise UsageError(f"--char-features reads each word's characters; --level {opts.level} has no words: drop --level (word is the task default)")
    stand_in = runs.model_config(2, opts.level, {**given, "adaptive_cutoffs": None, "tie_weights": False})
    runs.check_model_fits(stand_in)
    (xs, ys), (vx, vy) = task_runs.read_splits(inputs, data, io.val, io.val_fraction, tcfg.seed)
    names = task_runs.names_of(inputs.kind, ys, vy, data[0])
    tok = make_tokenizer(opts).fit([task_runs.as_text(inputs.kind, xs)])
    chars = head.get("char_features", "none") != "none"
    alphabet = task_runs.alphabet_of(task_runs.word_forms(tok, inputs.kind, xs)) if chars else ""  # training words only
    train, dropped = task_runs.encode(tok, inputs.kind, xs, ys, names, data[0], alphabet)
    val, vdropped = task_runs.encode(tok, inputs.kind, vx, vy, names, (io.val or data)[0], alphabet)
    if dropped or vdropped:
        ui.warn(f"{dropped + vdropped:,} texts had no tokens at --level {opts.level} and were left out")
    spec = task_runs.spec_for(inputs.kind, names, train, **head, alphabet=alphabet, reading=inputs.reading())
    mcfg = runs.model_config(len(tok.vocab), tok.level, {**given, "tie_weights": False, "adaptive_cutoffs": None})
    if summary:
        _print_task_summary(ui, mcfg, spec)
        return None
    with runs.staged_run_dir(out, io.force, [*data, *(io.val or [])], lock) as stage:
        task_runs.save_data(stage / "data", train, val)
        runs.write_run_files(stage, mcfg, tcfg, tok, runs.DataSpec(stage / "data", "data"), task=spec.to_dict(), world_size=dist.world if dist else 1)
        trainer = task_runs.build_trainer(out, mcfg, tcfg, tok, spec, train, val, dev, callbacks, pretrained, notify=ui.info, dist=dist)
        trainer.save("last", {}, directory=stage)  # step 0: a run killed before its first save still resumes
    what = "classes" if inputs.kind == "classify" else "tags"
    ui.info(f"{inputs.kind}: {len(train):,} training and {len(val):,} validation examples, {len(names)} {what}; {tok.level} level, "
            f"vocabulary {len(tok.vocab):,}; {mcfg.cell} {mcfg.layers}x{mcfg.hidden}{' bidirectional' if spec.bidirectional else ''}, "
            f"{sum(p.numel() for p in trainer.model.parameters()):,} parameters on {dev}")
    return trainer


def _print_task_summary(ui: Ui, mcfg, spec) -> None:
    from seqtool.models.heads import summary_rows
    from seqtool.tasks.labels import build_head

    model = build_head(mcfg, spec)
    rows = summary_rows(model)
    total = sum(n for *_, n in rows)
    if ui.json_mode:
        ui.emit_json({"layers": [{"layer": a, "output_shape": b, "params": n} for a, b, n in rows], "total_params": total,
                      "config": mcfg.to_dict(), "task": spec.to_dict()})
        return
    ui.table(f"{mcfg.cell} {'classifier' if spec.kind == 'classify' else 'tagger'}", ["Layer (type)", "Output Shape", "Param #"],
             rows + [("Total params", "", total)], numeric=(2,))
