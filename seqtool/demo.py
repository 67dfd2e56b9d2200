"""The guided tour behind ``seqtool demo``: the whole tool once, on the bundled corpus, in minutes.

Its job: tokenize the sample corpus at char level, train an LSTM and a tanh RNN of the same size
for the same time, sample from both, and measure their gradient flow side by side (trained and at
initialisation) - the lecture's argument for gated cells, run end to end. Every step uses the
same library calls as the individual commands and leaves their usual outputs under one directory
(``data/``, ``lstm/``, ``rnn/``), so each can be picked up with ``seqtool generate``,
``seqtool eval`` or ``seqtool grad-report`` afterwards. Nothing here prints: progress and results
go through the callbacks the CLI passes in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from seqtool.errors import CorpusError

#: The two models compared: the lecture's gated cell and its Design 1 tanh RNN.
CELLS = ("lstm", "rnn")


@dataclass(frozen=True)
class DemoPlan:
    """Sizes and budgets of one demo run; both cells get exactly these."""

    hidden: int
    batch_size: int
    bptt: int
    seconds: float  # training time per model
    lr: float
    steps: int  # grad-report window
    windows: int  # grad-report windows (and clip batches)
    length: int  # characters generated per model


# full: about two minutes on 2 CPU cores; quick: well under one (used by the tests).
PLANS = {
    "full": DemoPlan(hidden=128, batch_size=32, bptt=64, seconds=45.0, lr=3e-3, steps=100, windows=8, length=300),
    "quick": DemoPlan(hidden=32, batch_size=16, bptt=32, seconds=4.0, lr=5e-3, steps=40, windows=2, length=80),
}


def sample_corpus() -> Path:
    """The bundled ``sample_corpora/fables.txt`` next to the package (a source checkout or editable install)."""
    p = Path(__file__).resolve().parent.parent / "sample_corpora" / "fables.txt"
    if not p.is_file():
        raise CorpusError("the bundled sample corpus (sample_corpora/fables.txt) is not next to this seqtool installation",
                          fixes=("give --corpus FILE",))
    return p


@dataclass
class DemoResult:
    out: Path
    vocab_size: int
    train_tokens: int
    val_tokens: int
    trained: dict[str, dict] = field(default_factory=dict)  # cell -> the trainer's summary
    samples: dict[str, str] = field(default_factory=dict)  # cell -> generated text
    reports: list = field(default_factory=list)  # GradReport, trained and at initialisation


def run_demo(
    out: Path,
    corpus: Path,
    plan: DemoPlan,
    prompt: str,
    seed: int,
    device,
    stage: Callable[[str], None],
    train_callbacks: Callable[[str], Any],
    on_sample: Callable[[str, str], None] | None = None,
) -> DemoResult:
    """Run the tour into ``out`` (an empty or new directory); ``stage`` hears each step as it starts,
    ``train_callbacks(cell)`` gives the Trainer callbacks for one model, ``on_sample(cell, text)``
    hears each generated text."""
    from seqtool import grad_subjects, gradients, runs
    from seqtool.checkpoint import load_model
    from seqtool.decoding import DecodingOptions
    from seqtool.sampling import encode_prompt, generate
    from seqtool.text.pipeline import TokenizeJob, run_tokenize
    from seqtool.text.options import TokenizerOptions
    from seqtool.text.corpus import open_sources

    open_sources([str(corpus)])  # a missing or empty corpus fails here, before anything is written
    stage(f"tokenizing {corpus} at char level (10% held out for validation)")
    runs.make_run_dir(out, force=False)
    run_tokenize(TokenizeJob(inputs=[str(corpus)], out=out / "data", options=TokenizerOptions(level="char"), val=None,
                             val_fraction=0.1, errors="strict"))
    spec = runs.DataSpec((out / "data").resolve())
    tok, train_ids, val_ids = spec.load()
    result = DemoResult(out, len(tok.vocab), len(train_ids), len(val_ids))

    for cell in CELLS:
        stage(f"training {'an LSTM' if cell == 'lstm' else 'a tanh RNN'} ({plan.hidden} units) for {plan.seconds:g} s")
        result.trained[cell] = _train(out / cell, cell, plan, seed, device, tok, spec, train_ids, val_ids, train_callbacks(cell))

    stage(f"generating {plan.length} characters from each, after the prompt {prompt!r}")
    for cell in CELLS:
        lm = load_model(out / cell, device)
        gen = generate(lm.model, lm.tokenizer, encode_prompt(lm.tokenizer, prompt).ids, length=plan.length,
                       decoding=DecodingOptions(temperature=0.8), seed=seed)
        result.samples[cell] = prompt + gen.samples[0].text
        if on_sample:
            on_sample(cell, result.samples[cell])

    stage(f"measuring gradient flow over {plan.steps} steps, trained and at initialisation")
    opts = gradients.GradOptions(steps=plan.steps, windows=plan.windows, seed=seed)
    subjects = [s for cell in CELLS for s in grad_subjects.checkpoint_subjects(out / cell, None, device, with_init=True, seed=seed)]
    result.reports = [grad_subjects.report_subject(s, opts) for s in subjects]  # named lstm, lstm (init), rnn, rnn (init)
    return result


def _train(run_dir: Path, cell: str, plan: DemoPlan, seed: int, device, tok, spec, train_ids, val_ids, callbacks) -> dict:
    """Train one of the two models into ``run_dir`` as ``seqtool train`` would; return the trainer's summary."""
    from seqtool import runs
    from seqtool.train_config import TrainConfig

    mcfg = runs.model_config(len(tok.vocab), "char", {"cell": cell, "hidden": plan.hidden, "layers": 1, "embed_dim": 0, "dropout": 0.0})
    tcfg = TrainConfig(batch_size=plan.batch_size, bptt=plan.bptt, time_budget=plan.seconds, lr=plan.lr, seed=seed,
                       device=str(device), log_every=25).validate()
    runs.make_run_dir(run_dir, force=False)
    runs.write_run_files(run_dir, mcfg, tcfg, tok, spec)
    return runs.build_trainer(run_dir, mcfg, tcfg, tok, train_ids, val_ids, spec, device, callbacks).fit()
