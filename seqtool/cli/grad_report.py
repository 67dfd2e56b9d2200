"""``seqtool grad-report``: parse options, call seqtool.gradients, render tables, a log-scale chart, JSON and a PNG."""
from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from seqtool.cli import options as opt
from seqtool.cli.charts import print_log_chart
from seqtool.cli.console import Ui
from seqtool.cli.pngs import png_bytes, pyplot, require_matplotlib
from seqtool.cli.renamed import renamed
from seqtool.errors import UsageError
from seqtool.fsio import check_new_file, write_new_file

EXAMPLES = """
[bold]Examples[/bold]

  seqtool grad-report --compare rnn,gru,lstm,leaky --data sample_corpora/fables.txt --hidden 64 --layers 1

  seqtool grad-report runs/fables-lstm runs/fables-rnn --init --timesteps 200

  seqtool grad-report runs/fables-lstm --data sample_corpora/fables.txt --json-out report.json --plot report.png

  seqtool grad-report runs/fables-lstm --windows 16 --json > report.json

  seqtool grad-report --cell leaky --tau-max 50 --data sample_corpora/words.txt --level word --hidden 64

  seqtool grad-report runs/sentiment-last runs/sentiment-mean --windows 500
"""

HELP = ("Gradient flow across timesteps: how strongly the loss at the last step of a window depends on each earlier step "
        "(vanishing and exploding gradients), memory horizons, recurrent-matrix spectra, step Jacobians and a clipping threshold. "
        "For classifier runs: how the predicted class's gradient reaches back over the input positions; for tagger runs: how far each tag's context reaches left and right.")

REPORT = "Report"


def register(app: typer.Typer) -> None:
    # Old spellings that still work, with a deprecation line: --steps, --batches, --json FILE (--json is the stdout flag everywhere).
    cls = renamed({"--steps": "--timesteps", "--batches": "--windows"}, json_file="--json-out")
    app.command("grad-report", help=HELP, epilog=EXAMPLES, cls=cls)(opt.with_groups(grad_report_cmd))


def grad_report_cmd(
    ctx: typer.Context,
    checkpoints: Annotated[Optional[list[Path]], typer.Argument(help="Run directories or checkpoint files; none: a fresh model from the model options (or --compare).", show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Text to measure on (tokenized with each checkpoint's tokenizer; a fresh model fits its tokenizer on it; a classifier or tagger reads one input per line). Default for a run: its validation examples.", show_default=False, rich_help_panel=REPORT)] = None,
    timesteps: Annotated[Optional[int], typer.Option("--timesteps", help="Window length T in tokens: the last step's loss is traced back over T steps (may exceed the training --bptt); default 100. Classifier: distances from the last token to profile (default 50); tagger: context offsets each side (default 10).", show_default=False, rich_help_panel=REPORT)] = None,
    windows: Annotated[Optional[int], typer.Option("--windows", help="Windows to average over, also the training-shaped batches behind the clip suggestion (default 8); for a classifier or tagger, examples to average over (default 256).", show_default=False, rich_help_panel=REPORT)] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Memory horizon: first lag whose gradient is below this fraction of its lag-0 value.", rich_help_panel=REPORT)] = 1e-3,
    compare: Annotated[Optional[str], typer.Option("--compare", help="Fresh models of several cells side by side, e.g. rnn,gru,lstm,leaky (other model options shared).", show_default=False, rich_help_panel=REPORT)] = None,
    init: Annotated[bool, typer.Option("--init", help="With checkpoints: also report each one's model at initialisation (same config and seed).", rich_help_panel=REPORT)] = False,
    json_file: Annotated[Optional[Path], typer.Option("--json-out", help="Also write every number to this JSON file (--json prints the same on stdout).", show_default=False, rich_help_panel=REPORT)] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also save a chart as PNG (needs matplotlib: pip install 'seqtool\\[plot]').", show_default=False, rich_help_panel=REPORT)] = None,
    force: opt.force_option("the --json-out and --plot files") = False,
    model: Any = opt.model_group(),
    batch_size: opt.BatchSize = None,
    bptt: opt.Bptt = None,
    seed: opt.Seed = opt.TRAIN_DEFAULTS["seed"],
    device: opt.Device = opt.TRAIN_DEFAULTS["device"],
    threads: opt.Threads = None,
    tokenizer: Any = opt.tokenizer_group(level="char", level_why=opt.CHAR_LEVEL_WHY, sequence_levels_only=True),
    errors: opt.Errors = "strict",
    quiet: opt.Quiet = False,
    json_out: opt.Json = False,
) -> None:
    ui = Ui(quiet=quiet, json_mode=json_out)
    from seqtool.grad_subjects import check_compare
    from seqtool.gradients import GradOptions

    opts = GradOptions(steps=_given(timesteps, 100), windows=_given(windows, 8), threshold=threshold, seed=seed).validate()
    cells = check_compare([c.strip() for c in compare.split(",")]) if compare else [model["cell"]]
    if checkpoints:
        _refuse_fresh_model_options(ctx)
    if checkpoints and compare:
        raise UsageError("--compare builds fresh models; give either checkpoints or --compare (use --init to add a checkpoint's initial model)")
    if init and not checkpoints:
        raise UsageError("--init adds the initial model of each checkpoint; give checkpoints (fresh models are already at initialisation)")
    if not checkpoints and data is None:
        raise UsageError("a fresh model needs --data FILE to fit its tokenizer and measure on (or give a run directory)")
    _check_outputs(json_file, plot, force)
    from seqtool.text.options import check_errors

    check_errors(errors)  # before reading: an unknown handler fails only at the first bad byte

    from seqtool import grad_explain, grad_subjects
    from seqtool.devices import resolve_device
    from seqtool.text.corpus import read_text

    opt.apply_threads(threads)
    dev = resolve_device(device)
    text = read_text(data, errors) if data is not None else None
    if checkpoints:
        subjects = [s for c in checkpoints for s in grad_subjects.checkpoint_subjects(c, text, dev, init, seed, batch_size, bptt)]
        opts = _task_options(subjects, opts, timesteps, windows, plot, batch_size, bptt)
    else:
        subjects = grad_subjects.fresh_subjects(cells, opt.model_given(model), tokenizer, text, seed, dev, batch_size, bptt)
    reports = []
    with ui.progress("measuring", len(subjects)) as bar:
        for i, s in enumerate(subjects):
            bar.update(i, f"measuring {s.name}")
            reports.append(grad_subjects.report_subject(s, opts))
        bar.update(len(subjects))
    task = subjects[0].kind != "lm"
    explanation = (grad_explain.explain_task if task else grad_explain.explain)(reports)
    _write_outputs(ui, reports, explanation, opts, json_file, json_out, plot, force)
    if task:
        from seqtool.cli.grad_task import render_task_reports

        render_task_reports(ui, reports, explanation)
    else:
        render_reports(ui, reports, explanation)


def _refuse_fresh_model_options(ctx: typer.Context) -> None:
    """The model and tokenizer options build fresh models; a checkpoint is measured with its own."""
    fresh = {name for group in (opt.model_group(), opt.tokenizer_group()) for name, _, _ in group.options}
    given = opt.given_options(ctx, lambda name: name in fresh)
    if given:
        raise UsageError(f"{', '.join(given)}: a checkpoint's model and tokenizer are its own; these options build fresh models "
                         "(drop them, or give --data without a checkpoint)")


def _task_options(subjects, opts, timesteps: Optional[int], windows: Optional[int], plot: Optional[Path], batch_size: Optional[int],
                  bptt: Optional[int]):
    """The options of a classifier or tagger report (their own defaults), after checking the runs are of one kind and
    that no language-model-only option was given."""
    kinds = sorted({s.kind for s in subjects})
    if len(kinds) > 1:
        raise UsageError(f"the runs are of different kinds ({', '.join(kinds)}); give language models, classifiers or taggers, one kind at a time")
    if kinds[0] == "lm":
        return opts
    if plot is not None:
        raise UsageError("--plot draws language-model reports; for a classifier or tagger use --json-out FILE for the numbers")
    lm_only = [name for name, value in (("--batch-size", batch_size), ("--bptt", bptt)) if value is not None]
    if lm_only:
        raise UsageError(f"{', '.join(lm_only)}: a language model's measuring windows; a classifier or tagger report measures "
                         "--windows examples of up to --timesteps tokens (drop them)")
    steps = _given(timesteps, 50 if kinds[0] == "classify" else 10)
    return dataclasses.replace(opts, steps=steps, windows=_given(windows, 256)).validate()


def _given(value: Optional[int], default: int) -> int:
    return default if value is None else value


def _check_outputs(json_file: Optional[Path], plot: Optional[Path], force: bool) -> None:
    """Before any work: --json-out and --plot name files that may be written (an existing one only with --force)."""
    if json_file is not None:
        if str(json_file) == "-":
            raise UsageError("--json-out -: give a file name (--json prints the JSON on stdout)")
        check_new_file(json_file, force, "--json-out")
    if plot is not None:
        if plot.suffix.lower() != ".png":
            raise UsageError(f"--plot {plot}: give a .png file name")
        check_new_file(plot, force, "--plot")
        require_matplotlib("--plot", "drop --plot")


def _write_outputs(ui: Ui, reports, explanation: str, opts, json_file: Optional[Path], to_stdout: bool, plot: Optional[Path], force: bool) -> None:
    """--json (stdout), --json-out (a file) and --plot."""
    payload = {"steps": opts.steps, "windows": opts.windows, "threshold": opts.threshold, "models": [r.to_dict() for r in reports],
               "explanation": explanation}
    if to_stdout:
        ui.emit_json(payload)
    if json_file is not None:
        import json

        write_new_file(json_file, (json.dumps(payload, indent=1) + "\n").encode(), force, "--json-out")
        ui.info(f"wrote {json_file}")
    if plot is not None:
        _save_plot(reports, plot, force)
        ui.info(f"wrote {plot}")


def _fmt_horizon(h: int | None, steps: int) -> str:
    return f">{steps - 1}" if h is None else str(h)


def render_reports(ui: Ui, reports, explanation: str | None = None) -> None:
    """The tables, the chart and the explanation (shared with seqtool demo)."""
    if not ui.show_results:
        return
    T = reports[0].steps
    rows = []
    for r in reports:
        for f in r.layers:
            jac = f.step_jacobian_norm["mean"] if f.step_jacobian_norm else None
            rows.append((r.name if f.layer == 0 else "", f.layer, _fmt_horizon(f.horizon, T), _fmt_horizon(f.input_horizon, T),
                         f"{f.decay_per_step:.3f}", "-" if f.spectral_radius is None else f"{f.spectral_radius:.3f}",
                         "-" if f.singular_values is None else f"{f.singular_values[0]:.3f}", "-" if jac is None else f"{jac:.3f}",
                         "-" if f.keep_fraction is None else f"{f.keep_fraction:.2f}", "yes" if f.exploding else "no"))
    ui.table(f"gradient of the last step's loss across {T} steps ({reports[0].windows} windows)",
             ["model", "layer", "reach h", "reach x", "decay", "rho(W)", "smax(W)", "|J|", "keep", "explodes"],
             rows, numeric=(1, 2, 3, 4, 5, 6, 7, 8))
    ui.info("reach h/x: lags until ||dL_T/dh_t|| / ||dL_T/dx_t|| fall below --threshold of their lag-0 value; decay: factor per step; "
            "rho, smax: spectral radius and largest singular value of W; |J|: mean ||dh_t/dh_t-1||; keep: share of the old state kept per step")
    rows = [(r.name, f"{r.last_step_loss:.3f}", f"{r.total_grad_norm['median']:.3g}", f"{r.total_grad_norm['p90']:.3g}",
             f"{r.total_grad_norm['max']:.3g}", f"{r.clip_suggestion:g}") for r in reports]
    ui.table("gradient norms on training-shaped batches (Pascanu et al. 2013: clip near the average norm)",
             ["model", "last-step loss", "norm median", "p90", "max", "suggested --clip-norm"], rows, numeric=(1, 2, 3, 4, 5))
    if len(reports) == 1:
        norms = sorted(reports[0].param_grad_norms.items(), key=lambda kv: -kv[1])
        ui.table("per-parameter gradient norms (mean over batches)", ["parameter", "norm"], [(n, f"{v:.3g}") for n, v in norms], numeric=(1,))
    _chart(ui, reports)
    if explanation is None:
        from seqtool.grad_explain import explain

        explanation = explain(reports)
    ui.out.print("\n" + textwrap.fill(explanation, 100), markup=False)


def _chart(ui: Ui, reports) -> None:
    series = {}
    for r in reports:
        x = r.layers[0].input_grad_norm_by_lag
        series[r.name] = [v / x[0] if x[0] > 0 else 0.0 for v in x]
    print_log_chart(ui, series, "||dL_T/dx_t|| relative to the last step, log scale, against the lag T - t "
                    "(how far back the last prediction reaches)")


def _save_plot(reports, path: Path, force: bool) -> None:
    fig, axes = pyplot().subplots(1, 2, figsize=(12, 4.5))
    for r in reports:
        x = r.layers[0].input_grad_norm_by_lag
        axes[0].semilogy([v / x[0] if x[0] > 0 else float("nan") for v in x], label=r.name)
        for f in r.layers:
            h = f.grad_norm_by_lag
            axes[1].semilogy(h, label=f"{r.name} layer {f.layer}")
            axes[1].fill_between(range(len(h)), f.grad_norm_by_lag_p10, f.grad_norm_by_lag_p90, alpha=0.15)
    axes[0].set(title="||dL_T/dx_t|| / ||dL_T/dx_T||", xlabel="lag T - t")
    axes[1].set(title="||dL_T/dh_t|| per layer (band: 10-90% of windows)", xlabel="lag T - t")
    axes[0].axhline(reports[0].threshold, color="grey", lw=0.8, ls=":")  # the horizon's threshold
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    write_new_file(path, png_bytes(fig), force, "--plot")
