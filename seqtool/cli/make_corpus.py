"""``seqtool make-corpus``: parse options, call seqtool.text.longrange, write the corpus, say what to run next."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqtool.cli import options as opt
from seqtool.cli.console import Ui

EXAMPLES = """
[bold]Examples[/bold]

  seqtool make-corpus france --gap 50 --lines 5000 --out runs/france50.txt

  seqtool make-corpus france --gap 50 --lines 300 --seed 1 --out runs/france50-test.txt

  seqtool train runs/france50.txt --level word --cell lstm --layers 1 --hidden 64 --embed-dim 32 --no-tie-weights --bptt 120 --val-fraction 0.1 --time-budget 2m --out runs/france50-lstm

  seqtool eval runs/france50-lstm runs/france50-test.txt --long-range france

  seqtool make-corpus copy --gap 0 --lines 20 --out /tmp/copy.txt --force --json
"""


def register(app: typer.Typer) -> None:
    app.command("make-corpus", help="Write a corpus with controlled long-range dependencies (france: 'i grew up in france ... i speak fluent french'; agreement: 'the dogs ... are'; copy: 'remember a b c ... recall a b c'), GAP unrelated words between cue and answer.", epilog=EXAMPLES)(make_corpus)


def make_corpus(
    task: Annotated[str, typer.Argument(help="france | agreement | copy.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Text file to write, one example per line.", show_default=False)],
    gap: Annotated[int, typer.Option("--gap", help="Unrelated filler words between the cue clause and the answer's clause (tokens).")] = 50,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Examples (lines) to write.")] = 1500,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same file.", min=0, max=opt.SEED_MAX)] = 0,
    force: opt.force_option("--out") = False,
    quiet: opt.Quiet = False,
    json_out: opt.Json = False,
) -> None:
    from seqtool.fsio import check_new_file, write_new_file
    from seqtool.text import longrange

    ui = Ui(quiet=quiet, json_mode=json_out)
    check_new_file(out, force)
    longrange.check_size(task, gap, lines)
    examples = longrange.generate(task, gap, lines, seed)
    data = "".join(ex.text + "\n" for ex in examples).encode("ascii")
    write_new_file(out, data, force)
    summary = {
        "out": str(out), "task": task, "gap": gap, "seed": seed, "lines": len(examples), "bytes": len(data),
        "tokens": sum(len(ex.text.split()) for ex in examples),  # words; a word-level model adds one <eos> per line
        "distance": longrange.distance(task, gap), "answers": len(examples[0].choices), "chance": longrange.chance(task),
    }
    test = out.with_name(f"{out.stem}-test{out.suffix}")
    run = out.with_name(f"{out.stem}-lstm")
    steps = [
        f"seqtool make-corpus {task} --gap {gap} --lines 300 --seed {seed + 1} --out {test}",
        f"seqtool train {out} --level word --cell lstm --layers 1 --hidden 64 --embed-dim 32 --no-tie-weights "
        f"--bptt {2 * (len(examples[0].text.split()) + 1)} --val-fraction 0.1 --time-budget 2m --out {run}",  # two lines with <eos>
        f"seqtool eval {run} {test} --long-range {task}",
    ]
    if json_out:
        ui.emit_json({**summary, "next": steps})
        return
    ui.table(f"seqtool make-corpus {task}", ["file", "lines", "tokens", "gap", "cue -> answer (tokens)", "chance"],
             [(str(out), summary["lines"], summary["tokens"], gap, summary["distance"], f"1/{summary['answers']} = {summary['chance']:.1%}")],
             numeric=(1, 2, 3, 4))
    ui.info("next: a held-out test file, a model, and its probe accuracy:\n  " + "\n  ".join(steps))
