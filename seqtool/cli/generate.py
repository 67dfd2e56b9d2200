"""``seqtool generate``: parse options, call seqtool.sampling, stream the text it produces."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seqtool.cli import options as opt
from seqtool.cli.console import Ui

DECODE = "Decoding"

EXAMPLES = """
[bold]Examples[/bold]

  seqtool train sample_corpora/fables.txt --level char --time-budget 2m --out runs/fables-lstm

  seqtool generate runs/fables-lstm --prompt "The old snail" --length 300

  seqtool generate runs/fables-lstm --num-samples 3 --temperature 0.8 --top-p 0.9 --seed 1 --stop '\\n\\n'

  seqtool generate runs/fables-lstm/best.pt --prompt "Long ago there lived" --beam 5 --length 60

  seqtool generate runs/fables-lstm --prompt "The beetle" --greedy --length 20 --json

  seqtool generate runs/fables-lstm --length 100000 | head -c 500
"""


def register(app: typer.Typer) -> None:
    app.command("generate", help="Generate text from a trained model, feeding its own output back (free running): sampling, top-k/top-p, greedy or beam search.", epilog=EXAMPLES)(generate)


def generate(
    checkpoint: Annotated[Path, typer.Argument(help="A seqtool train run directory (its best.pt) or a checkpoint file.", show_default=False)],
    prompt: Annotated[Optional[str], typer.Option("--prompt", "-p", help="Text to continue [none: start of a line].", show_default=False)] = None,
    prompt_file: Annotated[Optional[Path], typer.Option("--prompt-file", help="Read the prompt from this UTF-8 file.", show_default=False)] = None,
    length: Annotated[int, typer.Option("--length", "-n", help="Tokens to generate per sample.")] = 200,
    num_samples: Annotated[int, typer.Option("--num-samples", "-s", help="Samples, generated as one batch (with --beam: the N best).")] = 1,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed: the same seed gives the same text on the same device [random, shown in --json].", min=0, max=opt.SEED_MAX, show_default=False)] = None,
    stop: Annotated[Optional[list[str]], typer.Option("--stop", help="End a sample where this string first appears (not kept); repeatable. '\\n' and '\\t' are escapes.", show_default=False)] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", "-t", help="Divide logits by T > 0: below 1 sharper, above 1 more varied [1].", rich_help_panel=DECODE, show_default=False)] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", help="Sample only from the K most likely tokens.", rich_help_panel=DECODE, show_default=False)] = None,
    top_p: Annotated[Optional[float], typer.Option("--top-p", help="Sample only from the nucleus: the fewest tokens with probability mass >= P, P in (0, 1].", rich_help_panel=DECODE, show_default=False)] = None,
    greedy: Annotated[bool, typer.Option("--greedy", help="Always take the most likely token.", rich_help_panel=DECODE)] = False,
    beam: Annotated[Optional[int], typer.Option("--beam", help="Beam search with W hypotheses for the most likely continuation (printed when done).", rich_help_panel=DECODE, show_default=False)] = None,
    echo: Annotated[bool, typer.Option("--echo/--no-echo", help="Print the prompt before its continuation.")] = True,
    show_probs: Annotated[bool, typer.Option("--show-probs", help="On a terminal, colour each token by its probability.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps.")] = "auto",
    precision: opt.GeneratePrecision = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No messages on stderr but errors and warnings.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON document: per sample the text and each token with its probability and the entropy of its distribution.")] = False,
    max_prompt_tokens: Annotated[Optional[int], typer.Option("--max-prompt-tokens", help="Refuse a longer prompt: the model reads it in one call whose memory grows with its length times the hidden size [100000].", min=1, show_default=False)] = None,
) -> None:
    from seqtool import sampling
    from seqtool.checkpoint import load_model
    from seqtool.decoding import DecodingOptions, check_request
    from seqtool.devices import check_precision, resolve_device
    from seqtool.errors import UsageError

    ui = Ui(quiet=quiet, json_mode=json_out)
    decoding = DecodingOptions(temperature, top_k, top_p, greedy, beam).validate(num_samples)
    stops = [_unescape(s) for s in stop or []]
    check_request(length, stops)
    check_precision(precision)
    if prompt is not None and prompt_file is not None:
        raise UsageError("--prompt and --prompt-file: give one of them")
    if prompt_file is not None:
        from seqtool.text.corpus import check_paths

        check_paths([str(prompt_file)], "--prompt-file")  # before the model is loaded
    max_prompt_tokens = sampling.MAX_PROMPT_TOKENS if max_prompt_tokens is None else max_prompt_tokens
    lm = load_model(checkpoint, resolve_device(device))
    if prompt_file is not None:
        prompt = sampling.read_prompt(prompt_file, lm.tokenizer, max_prompt_tokens)
    p = sampling.encode_prompt(lm.tokenizer, prompt or "")
    sampling.check_prompt_tokens(len(p.ids), max_prompt_tokens)
    for w in p.warnings:
        ui.warn(w)
    out = None if json_out else TextRenderer(ui, num_samples, p.text if echo else "", sampling.joiner(lm.tokenizer, p.text) if echo else "", show_probs)
    result = sampling.generate(lm.model, lm.tokenizer, p.ids, length=length, num_samples=num_samples, decoding=decoding, seed=seed,
                               stop=stops, on_text=out.piece if out else None, stats=json_out or show_probs, precision=precision)
    if precision == "auto" and result.precision == "bf16":
        ui.info("precision: bf16, which a start-up probe found faster here (--precision fp32 for torch's kernels)")
    if json_out:
        ui.emit_json({"checkpoint": lm.path, "prompt": p.text, "prompt_tokens": result.prompt_tokens, "unknown_in_prompt": p.unknown,
                      "seed": result.seed, "decoding": decoding.to_dict(), "length": length, "precision": result.precision,
                      "samples": [s.to_dict(lm.tokenizer) for s in result.samples]})
    else:
        out.finish()


def _unescape(s: str) -> str:
    """'\\n', '\\t' and '\\\\' typed on a command line -> newline, tab, backslash."""
    return s.replace("\\\\", "\0").replace("\\n", "\n").replace("\\t", "\t").replace("\0", "\\")


# Probability bands for --show-probs: likely tokens green, unlikely ones red.
BANDS = ((0.5, "green"), (0.2, "yellow"), (0.05, "dark_orange"), (0.0, "red"))


class TextRenderer:
    """Writes sample 1 to stdout as it is generated; further samples (same batch) follow when done.

    With several samples each gets a header line; ``--show-probs`` colours tokens on a terminal.
    """

    def __init__(self, ui: Ui, n: int, prompt: str, join: str, show_probs: bool):
        self.ui, self.n, self.prompt, self.join = ui, n, prompt, join
        self.colour = show_probs and ui.out.is_terminal
        self.buffers: list[list] = [[] for _ in range(n)]
        self.started = False
        self.last = ""

    def _begin(self, i: int) -> None:
        if self.n > 1:
            self.ui.text(f"--- sample {i + 1} ---")
        if self.prompt:
            self.ui.text(self.prompt + self.join, end="")
            self.last = self.prompt + self.join

    def _write(self, text: str, prob) -> None:
        if self.colour and prob is not None:
            from rich.text import Text

            style = next(s for lo, s in BANDS if prob >= lo)
            self.ui.out.print(Text(text, style=style), end="", soft_wrap=True)
            self.ui.out.file.flush()
        else:
            self.ui.text(text, end="")
        self.last = text or self.last

    def piece(self, i: int, text: str, prob) -> None:
        if i > 0:
            self.buffers[i].append((text, prob))
            return
        if not self.started:
            self.started = True
            self._begin(0)
        self._write(text, prob)

    def finish(self) -> None:
        if not self.started:
            self._begin(0)
        for i in range(self.n):
            if i > 0:
                self._end_line()
                self._begin(i)
                for text, prob in self.buffers[i]:
                    self._write(text, prob)
        self._end_line()
        if self.colour:
            self.ui.info("token probability: green >= 0.5, yellow >= 0.2, orange >= 0.05, red < 0.05")

    def _end_line(self) -> None:
        if self.last and not self.last.endswith("\n"):
            self.ui.text("")
        self.last = ""
