"""What the CLI fuzzer (test_fuzz_cli.py) found, each shrunk to one plain command line: a clean
one-line error instead of an internal error. Findings in modules other sessions are changing are
strict xfails carrying the reproducing command; a fix there makes them pass, and then they fail
as XPASS until the marker (and the fuzzer's KNOWN entry) is removed.
"""
from __future__ import annotations

import pytest

from tests.cli.helpers import one_line_error, run

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 30
SMALL = ["--max-steps", "1", "--hidden", "8", "--layers", "1", "--batch-size", "2", "--bptt", "8"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A corpus and a 1-step char run."""
    d = tmp_path_factory.mktemp("findings")
    (d / "c.txt").write_text(TEXT)
    r = run("train", d / "c.txt", "--out", d / "run", *SMALL, "--quiet")
    assert r.exit_code == 0, r.output
    return d


def test_top_p_below_float32_resolution_keeps_the_most_likely_token(inputs):
    # seqtool generate RUN --top-p 1e-320: the nucleus dropped every token (p is 0 in float32), NaN probabilities
    r = run("generate", inputs / "run", "--top-p", "1e-320", "--length", 5, "--seed", 1)
    assert r.exit_code == 0, r.output
    greedy = run("generate", inputs / "run", "--greedy", "--length", 5)
    assert r.stdout == greedy.stdout  # a nucleus of one token is greedy decoding


@pytest.mark.parametrize("pad_to", [2**31, 2**64])
def test_pad_to_beyond_max_memory_is_refused(inputs, tmp_path, pad_to):
    # seqtool tokenize c.txt --out OUT --pad-to 2147483648: MemoryError (2**64: numpy's "Maximum allowed dimension")
    r = run("tokenize", inputs / "c.txt", "--out", tmp_path / "out", "--pad-to", pad_to, "--quiet")
    one_line_error(r, 1, "--pad-to")
    assert "--max-memory" in r.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("option", ["--lr", "--weight-decay", "--forget-bias"])
def test_float_options_beyond_float32_are_usage_errors(inputs, tmp_path, option):
    # seqtool train c.txt --out OUT --lr 1e300: "value cannot be converted to type float without overflow"
    r = run("train", inputs / "c.txt", "--out", tmp_path / "out", *SMALL, option, "1e300")
    one_line_error(r, 2, option)
    assert not (tmp_path / "out").exists()


def test_max_memory_beyond_float_range_is_a_usage_error(inputs, tmp_path):
    # seqtool tokenize c.txt --out OUT --max-memory 1e999: OverflowError (float infinity to integer)
    r = run("tokenize", inputs / "c.txt", "--out", tmp_path / "out", "--max-memory", "1e999")
    one_line_error(r, 2, "--max-memory")


def test_decode_of_an_empty_npy_file_is_a_corpus_error_not_an_interrupt(inputs, tmp_path):
    # seqtool decode RUN --npy empty.txt: np.load's EOFError became click's Abort, "seqtool: interrupted", exit 130
    (tmp_path / "empty.npy").write_bytes(b"")
    r = run("decode", inputs / "run", "--npy", tmp_path / "empty.npy")
    one_line_error(r, 1, "--npy")


@pytest.mark.parametrize("value", ["\r", "0\x1e0", "a\u2028b", "\x1b[31mred"])
def test_control_characters_in_an_echoed_value_are_escaped_in_the_one_error_line(inputs, value):
    # seqtool generate RUN --device $'\r' wrote the carriage return itself: the terminal overwrote the line
    r = run("generate", inputs / "run", "--device", value)
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, repr(r.stderr)
    assert repr(value)[1:-1] in r.stderr


# Model sizes: refused by the size guard (seqtool/memory.py) since the merge of main, except that an
# embedding-driven size is blamed on --hidden/--layers, a fresh grad-report model and the clip
# batch have no guard, and --layers 1048576 hangs building the layers (not kept as a test: it would
# hang; the fuzzer skips it as KNOWN).
def test_train_refuses_a_hidden_size_too_large_to_allocate(inputs, tmp_path):
    r = run("train", inputs / "c.txt", "--out", tmp_path / "out", *SMALL, "--hidden", 2**31, "--quiet")
    one_line_error(r, 1, "--hidden")


def test_train_refusal_of_a_huge_embedding_names_embed_dim(inputs, tmp_path):
    # seqtool train c.txt --out OUT --max-steps 1 --layers 1 --batch-size 2 --bptt 8 --hidden 8 --embed-dim 2147483648
    r = run("train", inputs / "c.txt", "--out", tmp_path / "out", *SMALL, "--embed-dim", 2**31, "--quiet")
    one_line_error(r, 1, "--embed-dim")


def test_grad_report_refuses_a_fresh_model_too_large_to_allocate(inputs):
    # seqtool grad-report --data c.txt --layers 1 --timesteps 8 --windows 1 --hidden 2147483648
    r = run("grad-report", "--data", inputs / "c.txt", "--layers", 1, "--timesteps", 8, "--windows", 1, "--hidden", 2**31)
    assert r.exit_code in (1, 2) and "internal error" not in r.stderr, r.stderr
    one_line_error(r, r.exit_code, "--hidden")


def test_grad_report_refuses_a_clip_batch_too_large_to_allocate(inputs):
    # seqtool grad-report RUN --batch-size 9223372036854775808 (2147483648 allocates 16 GiB and is OOM-killed)
    r = run("grad-report", inputs / "run", "--timesteps", 8, "--windows", 1, "--batch-size", 2**63)
    assert r.exit_code in (1, 2) and "internal error" not in r.stderr, r.stderr
    one_line_error(r, r.exit_code, "--batch-size")


def test_eval_checks_errors_before_reading(inputs):
    # seqtool eval RUN bad.txt --errors FFFD: "LookupError: unknown error handler name 'FFFD'" at the first bad byte
    (inputs / "bad.txt").write_bytes(b"caf\xe9\n")
    one_line_error(run("eval", inputs / "run", inputs / "bad.txt", "--errors", "FFFD"), 2, "--errors FFFD")


def test_grad_report_checks_errors_before_reading(inputs):
    # seqtool grad-report RUN --data bad.txt --errors FFFD
    (inputs / "bad.txt").write_bytes(b"caf\xe9\n")
    one_line_error(run("grad-report", inputs / "run", "--data", inputs / "bad.txt", "--errors", "FFFD"), 2, "--errors FFFD")


def test_a_million_layers_is_refused_at_once(inputs, tmp_path):
    # seqtool train c.txt --layers 1048576 ... built layers for minutes before any size check could run
    r = run("train", inputs / "c.txt", "--out", tmp_path / "out", "--max-steps", 1, "--hidden", 8, "--layers", 2**20)
    one_line_error(r, 2, "--layers must be at most 256")
    r = run("grad-report", "--data", inputs / "c.txt", "--timesteps", 8, "--windows", 1, "--layers", 2**20)
    one_line_error(r, 2, "--layers must be at most 256")


def test_grad_report_applies_batch_size_to_a_checkpoint_too(inputs):
    # --batch-size and --bptt were silently ignored for checkpoints (the run's own shape was used)
    import json

    a = run("grad-report", inputs / "run", "--timesteps", 8, "--windows", 1, "--batch-size", 1, "--bptt", 4, "--json")
    b = run("grad-report", inputs / "run", "--timesteps", 8, "--windows", 1, "--batch-size", 3, "--bptt", 4, "--json")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    ra, rb = json.loads(a.stdout)["models"][0], json.loads(b.stdout)["models"][0]
    assert ra["total_grad_norm"] != rb["total_grad_norm"]
