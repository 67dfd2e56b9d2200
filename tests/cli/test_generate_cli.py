"""``seqtool generate`` and ``seqtool eval`` through the CLI: streaming text, --json, stop strings,
unseen prompt input, the free-running chart, and one-line errors for bad options and checkpoints."""
from __future__ import annotations

import json
import math
import io
import os
import re
import subprocess
import sys

import pytest
import torch

from seqtool.checkpoint import save_checkpoint
from seqtool.models import ModelConfig, build_model
from seqtool.text import TokenizerOptions, make_tokenizer

from tests.cli.helpers import one_line_error, run

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 80
SMALL = ["--hidden", "24", "--layers", "1", "--batch-size", "8", "--bptt", "16", "--dropout", "0", "--log-every", "5"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A char LSTM run trained by ``seqtool train`` (a few seconds)."""
    d = tmp_path_factory.mktemp("gen")
    (d / "c.txt").write_text(TEXT)
    r = run("train", d / "c.txt", "--out", d / "run", *SMALL, "--max-steps", "60", "--eval-every", "60", "--lr", "0.03", "--quiet", "--seed", "0")
    assert r.exit_code == 0, r.output
    return d / "run"


@pytest.fixture(scope="module")
def word_ckpt(tmp_path_factory):
    """An untrained word-level GRU checkpoint with an OOV token, saved directly."""
    tok = make_tokenizer(TokenizerOptions(level="word", oov_token="<unk>")).fit([TEXT])
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=len(tok.vocab), cell="gru", hidden=16, layers=1, embed_dim=8)
    p = tmp_path_factory.mktemp("word") / "w.pt"
    save_checkpoint(p, {"model_config": cfg.to_dict(), "tokenizer": tok.to_dict(), "model_state": build_model(cfg).state_dict()})
    return p


# ------------------------------------------------------------------------------ generate


def test_generate_prints_the_prompt_and_its_continuation(run_dir):
    r = run("generate", run_dir, "--prompt", "the quick", "--length", "40", "--greedy")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("the quick") and r.stdout.endswith("\n")
    assert "brown" in r.stdout  # the model has learnt the one sentence it saw
    r2 = run("generate", run_dir / "best.pt", "--prompt", "the quick", "--length", "40", "--greedy", "--no-echo")
    assert r2.exit_code == 0 and "the quick" + r2.stdout == r.stdout


def test_same_seed_same_text_and_json_has_probabilities(run_dir):
    args = ("generate", run_dir, "--length", "30", "--num-samples", "2", "--seed", "5", "--temperature", "1.3", "--json")
    a, b = run(*args), run(*args)
    assert a.exit_code == 0, a.output
    assert a.stdout == b.stdout
    doc = json.loads(a.stdout)
    assert doc["seed"] == 5 and doc["decoding"]["strategy"] == "sampling" and len(doc["samples"]) == 2
    for s in doc["samples"]:
        assert s["num_tokens"] == len(s["tokens"]) == 30 and s["stopped_by"] == "length"
        assert "".join(t["token"] for t in s["tokens"]) == s["text"]
        assert all(0 < t["prob"] <= 1 and 0 <= t["entropy"] <= math.log(40) for t in s["tokens"])
    c = json.loads(run(*args[:-2], "8", "--json").stdout)
    assert [s["text"] for s in c["samples"]] != [s["text"] for s in doc["samples"]]


def test_several_samples_each_get_a_header(run_dir):
    r = run("generate", run_dir, "--prompt", "the", "--length", "20", "--num-samples", "3", "--seed", "1")
    assert r.exit_code == 0, r.output
    assert [line for line in r.stdout.splitlines() if line.startswith("--- sample")] == ["--- sample 1 ---", "--- sample 2 ---", "--- sample 3 ---"]


def test_stop_string_with_escapes(run_dir):
    r = run("generate", run_dir, "--prompt", "the quick", "--greedy", "--length", "300", "--stop", "\\n", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)["samples"][0]
    assert s["stopped_by"] == "stop" and "\n" not in s["text"] and len(s["text"]) < 300


def test_beam_search_returns_the_n_best(run_dir):
    r = run("generate", run_dir, "--prompt", "the lazy", "--length", "12", "--beam", "4", "--num-samples", "2", "--json")
    assert r.exit_code == 0, r.output
    samples = json.loads(r.stdout)["samples"]
    assert samples[0]["logprob"] >= samples[1]["logprob"]
    greedy = json.loads(run("generate", run_dir, "--prompt", "the lazy", "--length", "12", "--beam", "1", "--json").stdout)["samples"][0]
    assert samples[0]["logprob"] >= greedy["logprob"] - 1e-6


def test_unseen_prompt_characters_and_words_warn_but_generate(run_dir, word_ckpt):
    r = run("generate", run_dir, "--prompt", "the QUICK ✓", "--length", "10", "--seed", "0")
    assert r.exit_code == 0, r.output
    assert "never saw dropped" in r.stderr and "'Q'" in r.stderr and "'✓'" in r.stderr
    r = run("generate", word_ckpt, "--prompt", "The zebra jumps", "--length", "5", "--seed", "0")
    assert r.exit_code == 0, r.output
    assert "1 word the model never saw mapped to <unk>: 'zebra'" in r.stderr
    assert r.stdout.startswith("The zebra jumps ")


def test_prompt_file_and_show_probs_in_a_pipe(run_dir, tmp_path):
    (tmp_path / "p.txt").write_text("the lazy")
    a = run("generate", run_dir, "--prompt-file", tmp_path / "p.txt", "--length", "20", "--seed", "3")
    b = run("generate", run_dir, "--prompt", "the lazy", "--length", "20", "--seed", "3", "--show-probs")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert a.stdout == b.stdout  # not a terminal: no colour codes


def test_show_probs_colours_tokens_on_a_terminal():
    from rich.console import Console

    from seqtool.cli.console import Ui
    from seqtool.cli.generate import TextRenderer

    ui = Ui()
    buf = io.StringIO()
    ui.out = Console(file=buf, force_terminal=True, color_system="standard", highlight=False, soft_wrap=True)
    r = TextRenderer(ui, 1, "the", " ", show_probs=True)
    for text, p in (("cat", 0.9), (" sat", 0.01)):
        r.piece(0, text, p)
    r.finish()
    out = buf.getvalue()
    assert "\x1b[32mcat" in out and "\x1b[31m sat" in out  # green for likely, red for unlikely
    assert re.sub(r"\x1b\[[0-9;]*m", "", out) == "the cat sat\n"


@pytest.mark.parametrize("args, message", [
    (["--temperature", "0"], "--temperature 0"),
    (["--temperature", "-0.5"], "--temperature -0.5"),
    (["--top-p", "0"], "--top-p 0"),
    (["--top-p", "1.5"], "--top-p 1.5"),
    (["--top-k", "0"], "--top-k 0"),
    (["--beam", "0"], "--beam 0"),
    (["--greedy", "--beam", "3"], "--greedy and --beam"),
    (["--greedy", "--top-k", "3"], "--greedy is deterministic"),
    (["--beam", "2", "--num-samples", "3"], "--num-samples 3 with --beam 2"),
    (["--greedy", "--num-samples", "2"], "same text every time"),
    (["--num-samples", "0"], "--num-samples 0"),
    (["--length", "0"], "--length 0"),
    (["--stop", ""], "--stop ''"),
    (["--prompt", "a", "--prompt-file", "x.txt"], "--prompt and --prompt-file"),
])
def test_invalid_options_are_one_line_usage_errors(run_dir, args, message):
    one_line_error(run("generate", run_dir, *args), 2, message)


def test_missing_and_corrupt_checkpoints_are_one_line_errors(tmp_path, run_dir):
    one_line_error(run("generate", tmp_path / "nowhere"), 1, "no such checkpoint")
    (tmp_path / "empty").mkdir()
    one_line_error(run("generate", tmp_path / "empty"), 1, "no checkpoint in this directory")
    (tmp_path / "bad.pt").write_bytes(b"garbage" * 100)
    one_line_error(run("generate", tmp_path / "bad.pt"), 1, "not a readable seqtool checkpoint")
    one_line_error(run("eval", tmp_path / "bad.pt", run_dir / "data" / "tokenizer.json"), 1, "not a readable seqtool checkpoint")
    torch.save({"format": "something-else"}, tmp_path / "foreign.pt")
    one_line_error(run("generate", tmp_path / "foreign.pt"), 1, "not a seqtool checkpoint")


def test_help_ends_with_examples_and_the_cli_does_not_import_torch():
    for cmd in ("generate", "eval"):
        r = run(cmd, "--help")
        assert r.exit_code == 0
        tail = r.stdout.rstrip().splitlines()
        assert any(f"seqtool {cmd}" in line for line in tail[-4:]), r.stdout
    code = "import sys, seqtool.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.slow
def test_a_pipe_into_head_stops_generation_quietly(run_dir):
    p = subprocess.Popen([sys.executable, "-m", "seqtool", "generate", str(run_dir), "--length", "1000000", "--seed", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    first = p.stdout.read(50)  # what `head -c 50` reads, then it goes away
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=60) == 0, err
    assert len(first) == 50 and err == b""


# ------------------------------------------------------------------------------ eval


def test_eval_reports_loss_perplexity_bits_and_oov(run_dir, tmp_path):
    f = tmp_path / "new.txt"
    f.write_text("the lazy dog jumps over the quick brown fox.\nZZZ\n")
    r = run("eval", run_dir, f, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    t = doc["total"]
    assert doc["level"] == "char" and t["tokens"] == len(f.read_text()) - 3  # the three unseen Z are dropped
    assert t["perplexity"] == pytest.approx(math.exp(t["loss"]))
    assert t["bits_per_char"] == pytest.approx(t["loss"] / math.log(2))
    assert t["oov_tokens"] == 3 and t["oov_rate"] == pytest.approx(3 / len(f.read_text()))
    table = run("eval", run_dir, f, f)
    assert table.exit_code == 0, table.output
    assert "bits/char" in table.stdout and "total" in table.stdout and "perplexity" in table.stdout


def test_eval_free_running_table_and_chart(run_dir, tmp_path):
    f = tmp_path / "new.txt"
    f.write_text(TEXT[:400])
    r = run("eval", run_dir, f, "--free-running", "6", "--positions", "30")
    assert r.exit_code == 0, r.output
    assert "teacher-forced next-token accuracy" in r.stdout and "steps ahead" in r.stdout
    bars = [line for line in r.stdout.splitlines() if re.fullmatch(r"\s+\d+ [█|┃ ]{40}\s+\d+\.\d%", line)]
    assert len(bars) == 6, r.stdout
    doc = json.loads(run("eval", run_dir, f, "--free-running", "6", "--positions", "30", "--json").stdout)["free_running"]
    assert doc["k"] == 6 and doc["positions"] == 30 and [s["step"] for s in doc["steps"]] == [1, 2, 3, 4, 5, 6]
    allc = [s["all_correct"] for s in doc["steps"]]
    assert all(b <= a for a, b in zip(allc, allc[1:]))


@pytest.mark.parametrize("args, code, message", [
    (["--free-running", "0"], 2, "--free-running 0"),
    (["--positions", "0"], 2, "--positions 0"),
    (["--bptt", "0"], 2, "--bptt 0"),
])
def test_eval_bad_options(run_dir, tmp_path, args, code, message):
    f = tmp_path / "t.txt"
    f.write_text("the dog\n")
    one_line_error(run("eval", run_dir, f, *args), code, message)


def test_eval_bad_files(run_dir, tmp_path):
    one_line_error(run("eval", run_dir, tmp_path / "missing.txt"), 1, "no such file")
    (tmp_path / "unseen.txt").write_text("ZZZZ")
    one_line_error(run("eval", run_dir, tmp_path / "unseen.txt"), 1, "no tokens this model can score")
