"""Hostile inputs through the CLI: prompts too long to read, lone surrogates on the command line,
and corpora of NUL bytes or only whitespace: a one-line error, never a traceback."""
from __future__ import annotations

import pytest
import torch

from seqtool.checkpoint import save_checkpoint
from seqtool.models import ModelConfig, build_model
from seqtool.text import TokenizerOptions, make_tokenizer

from tests.cli.helpers import one_line_error, run

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 20


@pytest.fixture(scope="module", params=["char", "subword"])
def ckpt(request, tmp_path_factory):
    """An untrained checkpoint, saved directly (no training needed to read a prompt)."""
    opts = dict(level="subword", vocab_size=60, cap_vocab_size=True) if request.param == "subword" else dict(level="char")
    tok = make_tokenizer(TokenizerOptions(**opts)).fit([TEXT])
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=len(tok.vocab), cell="gru", hidden=8, layers=1, embed_dim=4)
    p = tmp_path_factory.mktemp(request.param) / "m.pt"
    save_checkpoint(p, {"model_config": cfg.to_dict(), "tokenizer": tok.to_dict(), "model_state": build_model(cfg).state_dict()})
    return p


def test_a_prompt_file_over_the_token_bound_is_refused_with_the_option_to_raise(ckpt, tmp_path):
    (tmp_path / "p.txt").write_text("the lazy dog " * 200)  # no newline; 2600 characters
    r = run("generate", ckpt, "--prompt-file", tmp_path / "p.txt", "--max-prompt-tokens", "100", "--length", "3")
    one_line_error(r, 2, "more than 100 tokens")
    assert "--max-prompt-tokens" in r.stderr and "p.txt" in r.stderr
    ok = run("generate", ckpt, "--prompt-file", tmp_path / "p.txt", "--max-prompt-tokens", "3000", "--length", "3", "--seed", "1")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("the lazy dog " * 200)


def test_a_prompt_over_the_token_bound_is_refused(ckpt):
    one_line_error(run("generate", ckpt, "--prompt", "the lazy dog" * 5, "--max-prompt-tokens", "4"), 2, "--prompt: more than 4 tokens")


def test_a_missing_prompt_file_is_named_before_the_model_is_loaded(tmp_path):
    one_line_error(run("generate", tmp_path / "no.pt", "--prompt-file", tmp_path / "p.txt"), 1, "p.txt: no such file")


def test_a_lone_surrogate_in_the_prompt_is_a_one_line_error(ckpt):
    one_line_error(run("generate", ckpt, "--prompt", "the \udcff dog", "--length", "3"), 1, "lone surrogate (U+DCFF")


@pytest.mark.parametrize("level", ["char", "word", "subword"])
def test_a_corpus_of_nul_bytes_is_refused_at_every_level(tmp_path, level):
    (tmp_path / "nul.txt").write_bytes(b"\x00" * 50)
    r = run("tokenize", tmp_path / "nul.txt", "--out", tmp_path / "o", "--level", level, "--errors", "replace")
    one_line_error(r, 1, "nul.txt: looks like a binary file (NUL byte at offset 0)")
    assert not (tmp_path / "o").exists()


def test_a_corpus_of_only_whitespace_has_no_words(tmp_path):
    (tmp_path / "ws.txt").write_text("   \n\t\n \u3000 \n")
    one_line_error(run("tokenize", tmp_path / "ws.txt", "--out", tmp_path / "o", "--level", "word"), 1, "has no tokens")
