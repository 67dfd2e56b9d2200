"""``seqtool eval``: parse options, call seqtool.evaluation (and seqtool.probes for --long-range), render tables and the free-running chart."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seqtool.cli import options as opt
from seqtool.cli import train_task as tt
from seqtool.cli.console import Ui
from seqtool.cli.renamed import renamed

EXAMPLES = """
[bold]Examples[/bold]

  seqtool train sample_corpora/fables.txt --level char --time-budget 2m --out runs/fables-lstm

  seqtool eval runs/fables-lstm sample_corpora/fables.txt

  seqtool eval runs/fables-lstm/best.pt sample_corpora/fables.txt sample_corpora/words.txt --json

  seqtool eval runs/fables-lstm sample_corpora/fables.txt --free-running 20 --positions 500

  head -n 200 sample_corpora/words.txt | seqtool eval runs/fables-lstm -

  seqtool eval runs/france50-lstm runs/france50-test.txt --long-range france

  seqtool eval runs/sentiment sample_corpora/sentiment.tsv
"""


def register(app: typer.Typer) -> None:
    # --bptt was --window, the name train gives the TDNN width; the old spelling still works, with a deprecation line.
    app.command("eval", cls=renamed({"--window": "--bptt"}), help="Score new text with a trained model: loss, perplexity, bits per token, OOV rate; --free-running K shows how errors compound without teacher forcing. "
        "A classifier or tagger run (seqtool train --task) is scored on labelled files: accuracy, per-class F1 and the confusion matrix, or token accuracy and entity F1.", epilog=EXAMPLES)(eval_cmd)


def eval_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="A seqtool train run directory (its best.pt) or a checkpoint file.", show_default=False)],
    files: Annotated[list[str], typer.Argument(help="UTF-8 text files to score (each on its own), or - for stdin.", show_default=False)],
    free_running: Annotated[Optional[int], typer.Option("--free-running", help="Also let the model continue K tokens on its own (greedy) from many positions and compare with the text.", show_default=False)] = None,
    positions: Annotated[int, typer.Option("--positions", help="Free-running start positions per file, spread evenly.")] = 200,
    long_range: Annotated[Optional[str], typer.Option("--long-range", help="Also score the dependent token of each line of this seqtool make-corpus task (france | agreement | copy) against chance; needs a word-level model.", show_default=False)] = None,
    bptt: Annotated[int, typer.Option("--bptt", help="Window length in tokens: the text is read in windows of this many tokens, one forward call each, as train's validation reads it in --bptt windows; the state is carried across, so the result does not depend on it.")] = 1024,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps.")] = "auto",
    errors: opt.Errors = "strict",
    quiet: opt.Quiet = False,
    json_out: opt.Json = False,
    data_format: tt.Format = None,
    label_column: tt.LabelColumn = None,
    tag_column: tt.TagColumn = None,
    tag_field: tt.TagField = None,
) -> None:
    from seqtool import evaluation
    from seqtool.checkpoint import load_model
    from seqtool.devices import resolve_device
    from seqtool.text.corpus import iter_chunks
    from seqtool.text.corpus import sources as corpus_sources
    from seqtool.text.options import check_errors

    ui = Ui(quiet=quiet, json_mode=json_out)
    if _is_task_run(checkpoint):
        from seqtool.cli.predict import eval_task

        return eval_task(ui, checkpoint, files, device, {"format": data_format, "label_column": label_column, "tag_column": tag_column,
                                                          "tag_field": tag_field, "errors": errors})
    evaluation.check_options(bptt, free_running, positions)
    check_errors(errors)
    if long_range is not None:
        from seqtool.text.longrange import check

        check(long_range)
    lm = load_model(checkpoint, resolve_device(device))
    with corpus_sources(files) as opened:  # stdin's temporary copy is deleted when the block ends
        texts = ((s.name, "".join(iter_chunks([s], errors=errors))) for s in opened)
        probes = None
        if long_range is not None:  # before the (longer) loss pass, so a model that cannot be probed fails fast
            from seqtool.probes import probe_accuracy

            texts = list(texts)
            probes = [{"file": name, **probe_accuracy(lm.model, lm.tokenizer, text.splitlines(), long_range, lm.device)} for name, text in texts]
        with ui.progress("scoring", None) as bar:
            report = evaluation.evaluate(lm.model, lm.tokenizer, texts, bptt, free_running, positions,
                                         progress=lambda name, done, n: bar.update(done, f"scoring {name}"))
    if json_out:
        ui.emit_json({"checkpoint": lm.path, **report.to_dict(), **({"long_range": probes} if probes else {})})
        return
    per = "char" if report.level == "char" else "token"
    rows = [(f.name, f.tokens, round(f.loss, 4), round(f.perplexity, 3), round(f.bits_per_token, 4), f"{f.oov_rate:.2%}")
            for f in report.files]
    if len(report.files) > 1:
        t = report.total
        rows.append(("total", t.tokens, round(t.loss, 4), round(t.perplexity, 3), round(t.bits_per_token, 4), f"{t.oov_rate:.2%}"))
    ui.table(f"seqtool eval ({report.level} level)", ["file", "tokens", "loss (nats/token)", "perplexity", f"bits/{per}", "OOV"], rows, numeric=(1, 2, 3, 4, 5))
    if report.free_running is not None:
        _free_running(ui, report.free_running)
    if probes:
        rows = [(p["file"], p["probes"], round(p["mean_distance"], 1), f"{p['accuracy']:.1%}", f"{p['accuracy_among_choices']:.1%}",
                 round(p["mean_prob"], 3), f"{p['chance']:.1%}") for p in probes]
        ui.table(f"long-range probes ({long_range}): the dependent token, predicted from its cue across the gap",
                 ["file", "probes", "cue -> answer (tokens)", "accuracy", "among answers", "mean p(answer)", "chance"], rows, numeric=(1, 2, 3, 4, 5, 6))


def _is_task_run(checkpoint: Path) -> bool:
    """A train --task run (its config.json, or a checkpoint beside one, names a task)."""
    import json

    p = Path(checkpoint)
    config = (p if p.is_dir() else p.parent) / "config.json"
    try:
        return "task" in json.loads(config.read_text())
    except (OSError, ValueError, TypeError):
        return False


def _free_running(ui: Ui, fr) -> None:
    tf = fr.teacher_forced_accuracy
    rows = [(j + 1, f"{a:.1%}", f"{c:.1%}") for j, (a, c) in enumerate(zip(fr.accuracy, fr.all_correct))]
    ui.table(f"free running from {fr.positions:,} positions (greedy); teacher-forced next-token accuracy {tf:.1%}",
             ["steps ahead", "matches the text", "all steps so far match"], rows, numeric=(0, 1, 2))
    if not ui.show_results:
        return
    width = 40
    ui.out.print(f"\nmatch rate by steps ahead (| = teacher-forced accuracy {tf:.1%})", markup=False)
    mark = min(width - 1, round(tf * width))
    for j, a in enumerate(fr.accuracy):
        bar = list(("█" * round(a * width)).ljust(width))
        bar[mark] = "|" if bar[mark] == " " else "┃"
        ui.out.print(f"{j + 1:>4} {''.join(bar)} {a:6.1%}", markup=False)
