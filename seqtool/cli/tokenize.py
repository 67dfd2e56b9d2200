"""``seqtool tokenize`` and ``seqtool decode``: parse options, run the core job, render its report."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from seqtool.cli import options as opt
from seqtool.cli.console import Ui

TOKENIZE_EXAMPLES = """
[bold]Examples[/bold]

  seqtool tokenize sample_corpora/fables.txt --level char --val-fraction 0.1 --out runs/fables-char

  seqtool tokenize sample_corpora/words.txt --level word --num-words 2000 --oov-token "<unk>" --val-fraction 0.1 --out runs/words

  seqtool tokenize sample_corpora/fables.txt --level subword --vocab-size 500 --out runs/fables-bpe --model-type bpe

  echo "The cat sat on the mat." | seqtool tokenize - --level ngram --ngram 3 --no-lower --out runs/ngrams

  seqtool tokenize sample_corpora/words.txt --matrix tfidf --num-words 1000 --no-eos --out runs/tfidf
"""

DECODE_EXAMPLES = """
[bold]Examples[/bold]

  seqtool decode runs/fables-char --npy train.npy --limit 300

  seqtool decode runs/words 5 17 2 9
"""


def register(app: typer.Typer) -> None:
    app.command("tokenize", help="Turn text files into token ids, a vocabulary and statistics (char, word, n-gram or subword).", epilog=TOKENIZE_EXAMPLES)(opt.with_groups(tokenize))
    app.command("decode", help="Turn token ids back into text with a saved tokenizer.", epilog=DECODE_EXAMPLES)(decode)


def tokenize(
    files: Annotated[list[str], typer.Argument(help="UTF-8 text files, or - for stdin.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (written atomically).")],
    tokenizer: Any = opt.tokenizer_group(),
    matrix: Annotated[
        Optional[str], typer.Option("--matrix", help="Also write one vector per line: binary (multi-hot) | count | freq | tfidf, as Keras texts_to_matrix.", rich_help_panel="Document vectors")
    ] = None,
    pad_to: Annotated[Optional[int], typer.Option("--pad-to", help="Also write each line's ids padded/cut to L (Keras pad_sequences).", rich_help_panel="Document vectors")] = None,
    padding: Annotated[str, typer.Option("--padding", help="pre | post: where padding goes.", rich_help_panel="Document vectors")] = "pre",
    truncating: Annotated[str, typer.Option("--truncating", help="pre | post: which end of a long line is cut.", rich_help_panel="Document vectors")] = "pre",
    one_hot: Annotated[bool, typer.Option("--one-hot", help="Also write one-hot sequences (lines x L x vocab, uint8); the size is shown first.", rich_help_panel="Document vectors")] = False,
    max_memory: Annotated[str, typer.Option("--max-memory", help="Refuse document outputs larger than this (e.g. 2G).", rich_help_panel="Document vectors")] = "2G",
    io: Any = opt.corpus_io_group(),
) -> None:
    from seqtool.text.pipeline import TokenizeJob, run_tokenize
    from seqtool.text.vectorize import parse_bytes

    ui = Ui(quiet=io.quiet, json_mode=io.json)
    job = TokenizeJob(
        inputs=files,
        out=out,
        options=tokenizer,
        val=io.val,
        val_fraction=io.val_fraction,
        errors=io.errors,
        force=io.force,
        matrix=matrix,
        pad_to=pad_to,
        padding=padding,
        truncating=truncating,
        one_hot=one_hot,
        max_memory=parse_bytes(max_memory),
    )
    with ui.progress("tokenizing", None) as bar:
        report = run_tokenize(job, progress=lambda phase, done, total: bar.update(done, f"{phase} ({total / 1e6:,.1f} MB x2)") if total else None, notify=ui.info)
    if io.json:
        ui.emit_json({"out": str(out), **report})
        return
    _render(ui, report, out)


def _render(ui: Ui, r: dict, out: Path) -> None:
    tr = r["train"]
    rows = [
        ("level", r["level"]),
        ("vocabulary (kept, with specials)", r["vocab_size"]),
        ("training lines", tr["lines"]),
        ("training tokens", tr["tokens"]),
        ("training types", tr["types"]),
        ("coverage of training tokens", f"{tr['coverage']:.2%}"),
    ]
    if "val" in r:
        rows += [("validation lines", r["val"]["lines"]), ("validation tokens", r["val"]["tokens"]), ("validation OOV rate", f"{r['val']['oov_rate']:.2%}")]
    ll = tr["line_length"]
    if ll:
        rows.append(("tokens per line (min/p50/mean/p90/p99/max)", f"{ll['min']} / {ll['p50']} / {ll['mean']} / {ll['p90']} / {ll['p99']} / {ll['max']}"))
    rows.append(("output", str(out)))
    ui.table("seqtool tokenize", ["", "value"], rows, numeric=(1,))
    ui.table("top tokens", ["token", "count"], [(repr(t)[1:-1] if r["level"] == "char" else t, c) for t, c in r["top_tokens"]], numeric=(1,))


def decode(
    tokenizer: Annotated[Path, typer.Argument(help="A tokenize output directory or its tokenizer.json.", show_default=False)],
    ids: Annotated[Optional[list[int]], typer.Argument(help="Ids to decode (or use --npy).", show_default=False)] = None,
    npy: Annotated[Optional[Path], typer.Option("--npy", help="A .npy file of ids (relative paths are looked up in the tokenizer's directory too).")] = None,
    start: Annotated[int, typer.Option("--start", help="First position to decode from --npy.")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="Number of ids to decode from --npy.")] = 1000,
) -> None:
    import numpy as np

    from seqtool.errors import CorpusError, UsageError
    from seqtool.text import load_tokenizer

    tok = load_tokenizer(tokenizer)
    if (ids is None) == (npy is None):
        raise UsageError("give ids as arguments or --npy FILE (one of them)")
    if npy is not None:
        base = tokenizer if tokenizer.is_dir() else tokenizer.parent
        path = npy if npy.exists() or npy.is_absolute() else base / npy
        try:
            arr = np.load(path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as e:  # EOFError (an empty file) would reach click as an abort
            raise CorpusError(f"--npy {npy}: cannot read ids ({e or 'the file is empty'}); give a .npy file written by seqtool tokenize") from None
        ids = arr[start : start + limit].tolist()
    Ui().text(tok.decode(ids))
