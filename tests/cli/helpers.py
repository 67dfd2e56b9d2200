"""What the CLI tests share: invoking ``seqtool`` in-process and checking a one-line error.

Imported as ``from tests.cli.helpers import ...`` (pyproject's pytest ``pythonpath`` puts the
repository root on the path).
"""
from __future__ import annotations

from typer.testing import CliRunner

from seqtool.cli import app

runner = CliRunner()


def run(*args, input=None):
    """``seqtool ARGS...`` in this process (arguments may be paths or numbers); stdout and stderr apart."""
    return runner.invoke(app, [str(a) for a in args], input=input)


def one_line_error(r, code, message):
    """The command failed with ``code`` and said ``message`` on stderr in exactly one line."""
    assert r.exit_code == code, r.output
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def untrained_checkpoint(directory, text: str, cell: str) -> None:
    """``directory``/c.txt holding ``text`` and ``directory``/m.pt, an untrained char-level ``cell`` (1x8) fitted on it."""
    import torch

    from seqtool.checkpoint import save_checkpoint
    from seqtool.models import ModelConfig, build_model
    from seqtool.text import TokenizerOptions, make_tokenizer

    (directory / "c.txt").write_text(text)
    tok = make_tokenizer(TokenizerOptions(level="char")).fit([text])
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=len(tok.vocab), cell=cell, hidden=8, layers=1)
    save_checkpoint(directory / "m.pt", {"model_config": cfg.to_dict(), "tokenizer": tok.to_dict(), "model_state": build_model(cfg).state_dict()})
