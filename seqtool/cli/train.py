"""``seqtool train``: parse options, prepare the run, render progress; the loop is seqtool.training."""
from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from seqtool.cli import options as opt
from seqtool.cli import train_task as tt
from seqtool.cli.console import Ui
from seqtool.cli.train_progress import ProgressRenderer, threads_warning
from seqtool.models.registry import CELLS

TRAIN = opt.TRAIN

EXAMPLES = """
[bold]Examples[/bold]

  seqtool train sample_corpora/fables.txt --level char --time-budget 2m --out runs/fables-lstm

  seqtool train sample_corpora/fables.txt --level char --cell rnn --hidden 256 --max-steps 500 --out runs/fables-rnn

  seqtool tokenize sample_corpora/words.txt --val-fraction 0.1 --filters "" --out runs/words-data && seqtool train runs/words-data --cell gru --epochs 2 --out runs/words-gru

  seqtool train sample_corpora/fables.txt --cell leaky --tau-min 1 --tau-max 50 --summary

  seqtool train --resume runs/fables-lstm --time-budget 4m

  seqtool train sample_corpora/sentiment.tsv --task classify --pool mean --time-budget 2m --out runs/sentiment

  seqtool train sample_corpora/tagged.conll --task tag --tag-column 2 --crf --time-budget 2m --out runs/ner

  seqtool train sample_corpora/tagged.conll --task tag --tag-column 1 --char-features cnn --word-dropout 0.05 --time-budget 2m --out runs/pos-chars
"""


def register(app: typer.Typer) -> None:
    app.command("train", help=f"Train a recurrent model ({', '.join(CELLS)}): a char or word language model with teacher forcing and truncated BPTT, "
                "or with --task a text classifier or a token tagger.", epilog=EXAMPLES)(opt.with_groups(train))


def train(
    ctx: typer.Context,
    data: Annotated[Optional[list[str]], typer.Argument(help="A seqtool tokenize output directory, or text files (tokenized with the options below).", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory: config, tokenizer, metrics.jsonl, best.pt, last.pt.")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue the run in this directory exactly where it stopped (budgets may be raised).")] = None,
    model: Any = opt.model_group(),
    regularisation: Any = opt.regularisation_group(),
    pretrained_embeddings: Annotated[Optional[Path], typer.Option("--pretrained-embeddings", help="word2vec (text or binary) or GloVe vectors for the embedding.", rich_help_panel=opt.MODEL)] = None,
    freeze_embeddings: Annotated[bool, typer.Option("--freeze-embeddings", help="Keep the (pretrained) embedding fixed.", rich_help_panel=opt.MODEL)] = False,
    batch_size: opt.BatchSize = None,
    bptt: opt.Bptt = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Passes over the training text \\[5 when no budget is given].", rich_help_panel=TRAIN, show_default=False)] = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Stop after this many optimizer steps.", rich_help_panel=TRAIN)] = None,
    time_budget: Annotated[Optional[str], typer.Option("--time-budget", help="Stop after this much training time: 600, 10m, 1.5h.", rich_help_panel=TRAIN)] = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adam | adamw | sgd.", rich_help_panel=TRAIN)] = opt.TRAIN_DEFAULTS["optimizer"],
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.", rich_help_panel=TRAIN)] = opt.TRAIN_DEFAULTS["lr"],
    weight_decay: Annotated[float, typer.Option("--weight-decay", help="L2 penalty (decoupled with adamw).", rich_help_panel=TRAIN)] = opt.TRAIN_DEFAULTS["weight_decay"],
    warmup: Annotated[int, typer.Option("--warmup", help="Steps of linear learning-rate warmup.", rich_help_panel=TRAIN)] = opt.TRAIN_DEFAULTS["warmup"],
    schedule: Annotated[str, typer.Option("--schedule", help="cosine (to 10% over the budget) | plateau (/4 when validation stalls) | none.", rich_help_panel=TRAIN)] = opt.TRAIN_DEFAULTS["schedule"],
    clip_norm: Annotated[float, typer.Option("--clip-norm", help="Clip the global gradient norm to this (Pascanu et al. 2013); 0 = off.", rich_help_panel=TRAIN)] = opt.TRAIN_DEFAULTS["clip_norm"],
    patience: Annotated[Optional[int], typer.Option("--patience", help="Stop after this many validations without improvement.", rich_help_panel=TRAIN)] = None,
    carry_state: Annotated[bool, typer.Option("--carry-state/--no-carry-state", help="Carry the hidden state across windows (detached) or start each from zeros.", rich_help_panel=TRAIN)] = opt.TRAIN_DEFAULTS["carry_state"],
    log_every: Annotated[int, typer.Option("--log-every", help="Steps between progress/metrics lines.", rich_help_panel=TRAIN)] = opt.TRAIN_DEFAULTS["log_every"],
    eval_every: Annotated[Optional[int], typer.Option("--eval-every", help="Steps between validations \\[once per epoch].", rich_help_panel=TRAIN, show_default=False)] = None,
    skip_nonfinite: Annotated[int, typer.Option("--skip-nonfinite", help="Skip up to N steps whose loss or gradient is NaN/inf (no update; counted as skipped_steps in metrics.jsonl) before stopping; 0 = stop at the first. "
                                                 "Above 0 every step is checked, a host sync per step on a GPU.", rich_help_panel=TRAIN)] = opt.TRAIN_DEFAULTS["skip_nonfinite"],
    save_every: Annotated[Optional[str], typer.Option("--save-every", help="Save last.pt every N steps (500) or this much time (90s, 10m), besides each validation, so a killed run loses at most that; 0 = at validations only "
                                                      f"\\[{opt.TRAIN_DEFAULTS['save_every']}].", rich_help_panel=TRAIN, show_default=False)] = None,
    average_weights: opt.AverageWeights = opt.TRAIN_DEFAULTS["average_weights"],
    average_start: opt.AverageStart = opt.TRAIN_DEFAULTS["average_start"],
    ema_decay: opt.EmaDecay = opt.TRAIN_DEFAULTS["ema_decay"],
    scheduled_sampling: opt.ScheduledSampling = None,
    seed: opt.Seed = opt.TRAIN_DEFAULTS["seed"],
    device: opt.Device = opt.TRAIN_DEFAULTS["device"],
    threads: opt.Threads = None,
    precision: Annotated[str, typer.Option("--precision", help="auto (bf16 on a CUDA GPU that supports it, and the bf16 kernel for a large enough LSTM language model on a CPU with native bf16; else fp32) | fp32 | bf16 (matmuls in bf16, state and loss in fp32; on a CPU seqtool's bf16 kernel for lstm/gru/rnn).", rich_help_panel=TRAIN)] = opt.TRAIN_DEFAULTS["precision"],
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Also write TensorBoard scalar events (metrics, learning rate, gradient norm per layer) into the run directory, where TensorBoard finds them (needs pip install 'seqtool\\[tensorboard]').")] = False,
    tensorboard_dir: Annotated[Optional[Path], typer.Option("--tensorboard-dir", help="Write the TensorBoard events here instead of the run directory (implies --tensorboard).", show_default=False)] = None,
    nproc: Annotated[int, typer.Option("--nproc", help="Train in this many processes on this machine (torchrun's elastic agent, DDP): "
                                       "one per GPU, or CPU processes of --threads each. For several machines run torchrun yourself (see the README).",
                                       rich_help_panel=TRAIN)] = 1,
    dist_timeout: Annotated[float, typer.Option("--dist-timeout", help="Under torchrun: seconds a process waits for the others in a collective before the run fails with an error (a process that died or hangs).",
                                                rich_help_panel=TRAIN)] = 600.0,
    summary: Annotated[bool, typer.Option("--summary", help="Print the model's layers and parameter counts, and exit.")] = False,
    tok_options: Any = opt.tokenizer_group(level="char", level_why=opt.CHAR_LEVEL_WHY, sequence_levels_only=True),
    io: Any = opt.corpus_io_group(),
    task: tt.Task = "lm",
    data_format: tt.Format = None,
    label_column: tt.LabelColumn = None,
    tag_column: tt.TagColumn = -1,
    tag_field: tt.TagField = "upos",
    pool: tt.Pool = "last",
    bidirectional: tt.Bidirectional = None,
    crf: tt.Crf = False,
    class_weights: tt.ClassWeights = None,
    char_features: tt.CharFeatures = "none",
    char_dim: tt.CharDim = None,
    char_hidden: tt.CharHidden = None,
    word_dropout: tt.WordDropout = 0.0,
) -> None:
    from seqtool import lm_defaults, runs
    from seqtool.errors import UsageError
    from seqtool.fsio import DirLock
    from seqtool.train_config import TrainConfig, parse_duration

    ui = Ui(quiet=io.quiet, json_mode=io.json)
    if nproc < 1:
        raise UsageError(f"--nproc {nproc}: give 1 or more processes")
    cpus = os.cpu_count() or 1
    if nproc > opt.MAX_THREADS_PER_CPU * cpus:  # torchrun would try to start them all
        raise UsageError(f"--nproc {nproc}: more than {opt.MAX_THREADS_PER_CPU} processes per CPU (this machine has {cpus}); use at most {cpus}")
    if nproc > 1 and "WORLD_SIZE" not in os.environ:  # not yet under torchrun: start it, with this command line as each process's
        from seqtool import distributed

        raise typer.Exit(distributed.launch(nproc, distributed.without_option(ctx.find_root().command.argv, "--nproc")))
    opt.apply_threads(threads)
    budget = parse_duration(time_budget) if time_budget else None
    callbacks = _callbacks(ui, tensorboard, tensorboard_dir)

    if resume is not None:
        if data or out:
            raise UsageError("--resume continues a run with its own data and directory; give no DATA or --out with it")
        overrides = {"epochs": epochs, "max_steps": max_steps, "time_budget": budget, "patience": patience, "save_every": save_every,
                     "skip_nonfinite": skip_nonfinite if opt.typed(ctx, "skip_nonfinite") else None, "device": None if device == "auto" else device}
        return _resume(ctx, ui, resume, overrides, callbacks, dist_timeout)

    if not data:
        raise UsageError("give DATA (text files or a seqtool tokenize directory), or --resume RUN_DIR")
    tt.check_lm_only(task, regularisation)
    tt.check_task_options(task, data_format, label_column, pool, bidirectional, crf, class_weights, char_features, char_dim, char_hidden, word_dropout)
    _check_averaging_options(ctx, task, average_weights, scheduled_sampling)
    if tok_options.level in ("ngram", "char-ngram"):
        raise UsageError(f"--level {tok_options.level}: n-gram tokens are bags of overlapping grams, not a sequence to model; use char, word or subword")
    if out is None and not summary:
        raise UsageError("give --out RUN_DIR for the run's checkpoints and metrics")

    level_of_data = _data_level(data, tok_options) if task == "lm" else ("word" if not opt.typed(ctx, "level") else tok_options.level)
    picked = None
    if task == "lm":
        typed = frozenset(k for k in (*lm_defaults.MODEL_FIELDS, *lm_defaults.TRAIN_FIELDS) if opt.typed(ctx, k))
        if regularisation["weight_drop"] > 0:  # it needs one of torch's cells: the default lstm, not a rule's
            typed |= {"cell"}
        picked = lm_defaults.pick(level_of_data, budget, opt.TRAIN_DEFAULTS["lr"], typed, opt.typed(ctx, "tie_weights"))
    d = picked.values if picked else {"batch_size": 32, "bptt": 1}  # tasks: whole sequences, no bptt windows
    if picked is not None and "lr" not in picked.typed:
        lr = d["lr"]
    if epochs is None and max_steps is None and budget is None:
        epochs = 5
    tcfg = TrainConfig(
        batch_size=d["batch_size"] if batch_size is None else batch_size, bptt=d["bptt"] if bptt is None else bptt, epochs=epochs, max_steps=max_steps, time_budget=budget,
        optimizer=optimizer, lr=lr, weight_decay=weight_decay, warmup=warmup, schedule=schedule, clip_norm=clip_norm,
        patience=patience, carry_state=carry_state, log_every=log_every, eval_every=eval_every, seed=seed, device=device, precision=precision, skip_nonfinite=skip_nonfinite,
        average_weights=average_weights, average_start=average_start, ema_decay=ema_decay, scheduled_sampling=scheduled_sampling,
        **({} if save_every is None else {"save_every": save_every}),
    ).validate()
    if task == "lm":  # before any tokenizing; a resumed run is checked by LMTask
        from seqtool.tasks.lm import check_split

        check_split(tcfg.batch_size, int(os.environ.get("WORLD_SIZE", "1")))
    given = {**opt.model_given(model), **regularisation, "freeze_embeddings": freeze_embeddings}
    if picked is not None:
        given = {**given, **{k: d[k] for k in lm_defaults.MODEL_FIELDS if k in d and k not in picked.typed}}

    if task != "lm":
        from seqtool.distributed import rank0_first
        from seqtool.task_runs import TaskInputs

        inputs = TaskInputs(task, data_format, label_column, tag_column, tag_field, io.errors)
        head = {"pool": pool, "bidirectional": bidirectional, "crf": crf, "weights": class_weights,
                "char_features": char_features, "char_dim": char_dim, "char_hidden": char_hidden, "word_dropout": word_dropout}
        with _joined(ui, dist_timeout, not summary) as dist, DirLock() as lock:
            trainer = rank0_first(dist, lambda: tt.start_task_run(ui, data, out, io, tok_options, opt.typed(ctx, "level"), inputs, tcfg, given, head,
                                                                  pretrained_embeddings, callbacks, lock, summary, dist),
                                  lambda: runs.resume(out, {}, None, None, dist)[0])
            if trainer is not None:  # None: --summary printed the model
                _fit(trainer, ui, out)
        return

    if summary:
        tok = _summary_tokenizer(data, tok_options)
        given, line = picked.for_vocabulary(given, len(tok.vocab))
        mcfg = runs.model_config(len(tok.vocab), tok.level, given)
        _print_summary(ui, mcfg, line)
        return

    from seqtool.distributed import rank0_first

    with _joined(ui, dist_timeout) as dist, DirLock() as lock:  # the lock is held on the new run until training ends
        # Process 0 makes the run directory; the others then read it as a run to resume at step 0.
        trainer = rank0_first(dist, lambda: _start_run(ui, data, out, io, tok_options, level_of_data, tcfg, given, picked, pretrained_embeddings, callbacks, lock, dist),
                              lambda: runs.resume(out, {}, None, None, dist)[0])
        _fit(trainer, ui, out)


@contextlib.contextmanager
def _joined(ui: Ui, timeout: float, join: bool = True):
    """The process group of a torchrun launch (None for a plain run, or ``join`` False), left at the end; only process 0 prints
    progress and results."""
    from seqtool import distributed

    dist = distributed.from_env(timeout) if join else None
    if dist is not None and not dist.is_main:
        ui.quiet, ui.json_mode = True, False
    try:
        yield dist
    finally:
        distributed.shutdown(dist)


def _resume(ctx: typer.Context, ui: Ui, run_dir: Path, overrides: dict, callbacks, dist_timeout: float) -> None:
    """--resume: refuse options the run cannot change, then continue it under its lock."""
    from seqtool import runs
    from seqtool.errors import UsageError
    from seqtool.fsio import DirLock

    fixed = opt.given_options(ctx, lambda name: name not in RESUME_OPTIONS)
    if fixed:
        raise UsageError(f"--resume continues the run with its own settings; {', '.join(fixed)} cannot change there "
                         f"(only {', '.join(sorted(RESUME_OPTIONS_SHOWN))} can); start a new run with --out to change them")
    from seqtool.distributed import rank0_first

    with _joined(ui, dist_timeout) as dist, DirLock() as lock:
        trainer, _ = rank0_first(dist, lambda: runs.resume(run_dir, overrides, callbacks, lock, dist), lambda: runs.resume(run_dir, overrides, None, None, dist))
        ui.info(f"resuming {run_dir} at step {trainer.step:,} (epoch {trainer.epoch}, window {trainer.window})")
        _fit(trainer, ui, run_dir)


def _start_run(ui: Ui, data: list[str], out: Path, io: opt.CorpusIO, tok_options, level_of_data: str, tcfg, given: dict, picked,
               pretrained_embeddings: Optional[Path], callbacks, lock, dist=None):
    """Check the inputs, tokenize, write the run files and build the Trainer, in a stage directory that replaces --out at the end."""
    from seqtool import runs
    from seqtool.devices import resolve_device
    from seqtool.errors import UsageError

    dev = resolve_device(tcfg.device)
    # Validate the model options (with a stand-in vocabulary size) and the inputs before any slow tokenizing.
    stand_in = runs.model_config(2, level_of_data, {**given, "adaptive_cutoffs": None})  # cutoffs need the real vocabulary
    runs.check_model_fits(stand_in)  # --hidden 1000000 is too big whatever the vocabulary
    if pretrained_embeddings is not None and stand_in.embed_dim == 0:
        raise UsageError("--pretrained-embeddings needs --embed-dim set to the vectors' dimension")
    runs.check_inputs(data, io.val, io.val_fraction, pretrained_embeddings)
    inputs = [*data, *(io.val or []), *([str(pretrained_embeddings)] if pretrained_embeddings else [])]
    # The run is built beside --out and replaces it only once data, config and trainer are all ready.
    with runs.staged_run_dir(out, io.force, inputs, lock) as stage:
        with ui.progress("tokenizing", None) as bar:
            spec = runs.prepare_data(data, stage, tok_options, io.val, io.val_fraction, io.errors,
                                     progress=lambda phase, done, total: bar.update(done, f"{phase}"))
        tok, train_ids, val_ids = spec.load()
        given, line = picked.for_vocabulary(given, len(tok.vocab))  # the defaults picked (seqtool.lm_defaults), now for this vocabulary
        mcfg = runs.model_config(len(tok.vocab), tok.level, given)
        runs.write_run_files(stage, mcfg, tcfg, tok, spec, world_size=dist.world if dist else 1)
        trainer = runs.build_trainer(out, mcfg, tcfg, tok, train_ids, val_ids, spec, dev, callbacks, pretrained_embeddings, notify=ui.info, dist=dist)
        trainer.save("last", {}, directory=stage)  # step 0: a run killed before its first save still resumes
    ui.info(f"{tok.level} level, vocabulary {len(tok.vocab):,}, {len(train_ids):,} training and {len(val_ids):,} validation tokens; "
            f"{mcfg.cell} {mcfg.layers}x{mcfg.hidden}, {sum(p.numel() for p in trainer.model.parameters()):,} parameters on {dev}")
    if line:
        ui.info(line)
    return trainer


# What --resume may change: the budgets, how often it saves, how many bad steps it skips, and where/how quietly it runs. Everything else is the run's own.
RESUME_OPTIONS = {"resume", "epochs", "max_steps", "time_budget", "patience", "save_every", "skip_nonfinite", "device", "threads", "quiet", "json_out",
                  "tensorboard", "tensorboard_dir", "dist_timeout", "nproc"}
RESUME_OPTIONS_SHOWN = {"--epochs", "--max-steps", "--time-budget", "--patience", "--save-every", "--skip-nonfinite", "--device", "--threads",
                        "--tensorboard", "--tensorboard-dir", "--dist-timeout", "--nproc"}


def _callbacks(ui: Ui, tensorboard: bool, tensorboard_dir: Optional[Path]):
    """The progress renderer, a check that torch's threads have their cores to themselves (a warning otherwise),
    and with --tensorboard(-dir) a TensorBoard event writer (checked installed now)."""
    from seqtool.callbacks import AllOf
    from seqtool.contention import ThreadCheck

    callbacks = [ProgressRenderer(ui), ThreadCheck(threads_warning(ui))]
    if tensorboard or tensorboard_dir is not None:
        from seqtool.tensorboard_log import TensorBoardLog, require_tensorboard

        require_tensorboard("--tensorboard-dir" if tensorboard_dir is not None else "--tensorboard")
        callbacks.append(TensorBoardLog(tensorboard_dir))
    return AllOf(*callbacks)


def _check_averaging_options(ctx: typer.Context, task: str, average_weights: str, scheduled_sampling: Optional[float]) -> None:
    """Options that only mean something beside another: --average-start and --ema-decay, --scheduled-sampling for a language model."""
    from seqtool.errors import UsageError

    if scheduled_sampling is not None and task != "lm":
        raise UsageError(f"--scheduled-sampling applies to language models (--task lm), not --task {task}")
    if average_weights == "off" and (opt.typed(ctx, "average_start") or opt.typed(ctx, "ema_decay")):
        raise UsageError("--average-start and --ema-decay need --average-weights ema or swa")
    if average_weights == "swa" and opt.typed(ctx, "ema_decay"):
        raise UsageError("--ema-decay applies to --average-weights ema; swa weighs every step equally")


def _data_level(data: list[str], tok_options) -> str:
    from seqtool import runs

    p = Path(data[0])
    if len(data) == 1 and runs.is_tokenized_dir(p):
        import json

        try:
            return json.loads((p / "tokenizer.json").read_text())["level"]
        except (ValueError, KeyError):
            return tok_options.level
    return tok_options.level


def _summary_tokenizer(data: list[str], tok_options):
    from seqtool import runs
    from seqtool.text import load_tokenizer, make_tokenizer
    from seqtool.text.corpus import iter_chunks, open_sources

    if len(data) == 1 and runs.is_tokenized_dir(Path(data[0])):
        return load_tokenizer(data[0])
    return make_tokenizer(tok_options).fit(iter_chunks(open_sources(data)))


def _print_summary(ui: Ui, mcfg, defaults_line: Optional[str]) -> None:
    from seqtool.models import build_model, summary_rows

    model = build_model(mcfg)
    rows = summary_rows(model)
    total = sum(n for *_, n in rows)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if ui.json_mode:
        ui.emit_json({"layers": [{"layer": a, "output_shape": b, "params": n} for a, b, n in rows], "total_params": total,
                      "trainable_params": trainable, "non_trainable_params": total - trainable, "config": mcfg.to_dict(),
                      "defaults": defaults_line})
        return
    if defaults_line:
        ui.info(defaults_line)
    ui.table(f"{mcfg.cell} language model", ["Layer (type)", "Output Shape", "Param #"], rows + [("Total params", "", total), ("Trainable params", "", trainable), ("Non-trainable params", "", total - trainable)], numeric=(2,))


def _fit(trainer, ui: Ui, run_dir: Path) -> None:
    """Run the loop with Ctrl-C and SIGTERM handling: the first finishes the step and saves `last`, a second aborts."""
    caught: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore(sig):
        old = previous[sig]
        signal.signal(sig, old if callable(old) or old in (signal.SIG_DFL, signal.SIG_IGN) else signal.default_int_handler)

    def on_signal(signum, frame):
        if caught and trainer.dist is not None and signum == signal.SIGTERM:
            return  # torchrun's agent forwards the SIGTERM a scheduler sent to every process: the same request, not a second one
        caught.append(signum)
        trainer.stop_requested = True
        name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        again = "" if trainer.dist is not None and signum == signal.SIGTERM else f" ({name} again to abort at once)"
        ui.warn(f"{name}: stopping after this step and saving last.pt{again}")
        if again:  # else this handler stays, to let the agent's copy pass
            restore(signum)

    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        result = trainer.fit()
    finally:
        for sig in previous:
            restore(sig)
    if ui.json_mode:
        ui.emit_json(result)
    else:
        rows = [("stopped", result["stopped"]), ("steps", result["steps"]), ("epochs", result["epochs"]), ("time (s)", result["elapsed"])]
        if "metric" in result:  # a classifier or tagger: its score, and the best one (best.pt)
            m = result["metric"]
            for key, label in ((f"val_{m}", f"validation {m.replace('_', ' ')}"), (f"best_val_{m}", f"best validation {m.replace('_', ' ')}"), ("val_loss", "validation loss")):
                if result.get(key) is not None:
                    rows.append((label, round(result[key], 4)))
        elif result["val_loss"] is not None:
            rows += [("validation loss (nats/token)", round(result["val_loss"], 4)), ("validation perplexity", round(result["val_ppl"], 2)),
                     ("validation bits/token", round(result["val_bits_per_token"], 4))]
        if result.get("best_val_loss") is not None:
            rows.append(("best validation loss", round(result["best_val_loss"], 4)))
        rows.append(("run directory", result["run_dir"]))
        ui.table("seqtool train", ["", "value"], rows)
    if result["stopped"] == "interrupted":
        terminated = caught and caught[0] == signal.SIGTERM
        if trainer.is_main:  # a signal to any process of a distributed run stops them all
            ui.warn(f"{'terminated' if terminated else 'interrupted'}; saved {run_dir}/last.pt. Resume with: seqtool train --resume {run_dir}")
        raise typer.Exit(143 if terminated else 130)
