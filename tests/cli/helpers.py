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


def assert_same_run(a, b) -> dict:
    """Runs ``a`` and ``b`` ended with identical last.pt weights and metrics.jsonl (wall-clock fields aside); a's weights."""
    import json

    import torch

    wa = torch.load(a / "last.pt", weights_only=True)["model_state"]
    wb = torch.load(b / "last.pt", weights_only=True)["model_state"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    strip = lambda p: [{k: v for k, v in json.loads(x).items() if k not in ("tokens_per_sec", "elapsed")} for x in p.read_text().splitlines()]
    assert strip(a / "metrics.jsonl") == strip(b / "metrics.jsonl")
    return wa


def resumed_elsewhere(tmp_path, data, args: list, steps: int):
    """(a, moved): ``train DATA ARGS`` for ``steps`` steps into a; and for half of them into b, moved away with DATA
    deleted (the run holds its own encoded data), then resumed to ``steps``."""
    a, b, moved = tmp_path / "a", tmp_path / "b", tmp_path / "moved"
    assert run("train", data, *args, "--max-steps", steps, "--out", a).exit_code == 0
    assert run("train", data, *args, "--max-steps", steps // 2, "--out", b).exit_code == 0
    b.rename(moved)
    data.unlink()
    r = run("train", "--resume", moved, "--max-steps", steps, "--quiet", "--json")
    assert r.exit_code == 0, r.output
    return a, moved
