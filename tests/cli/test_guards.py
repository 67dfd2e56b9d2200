"""Refusals that come before the work: output paths checked before measuring, and sizes that would not
fit in memory refused before anything is allocated (each a one-line usage or config error)."""
from __future__ import annotations

import json
import os

import pytest

from seqtool.memory import available_bytes
from tests.cli.helpers import one_line_error, run
from tests.cli.test_grad_report_cli import TEXT, TINY, corpus  # noqa: F401 - corpus is a fixture


# grad-report's outputs: checked before the measurement, an existing file kept unless --force.

@pytest.mark.parametrize("option", ["--json-out", "--plot"])
def test_grad_report_refuses_a_directory_output_before_measuring(tmp_path, option):
    (tmp_path / "d.png").mkdir()
    # --data is missing: had the measurement started first, that would be the error
    r = run("grad-report", "--data", tmp_path / "missing.txt", *TINY, option, tmp_path / "d.png")
    one_line_error(r, 1, f"{option} {tmp_path / 'd.png'}: is a directory; give a file name")


@pytest.mark.parametrize("option", ["--json-out", "--plot"])
def test_grad_report_keeps_an_existing_output_file_without_force(tmp_path, corpus, option):
    old = tmp_path / "old.png"
    old.write_text("keep me")
    r = run("grad-report", "--data", tmp_path / "missing.txt", *TINY, option, old)
    one_line_error(r, 1, f"{option} {old}: file exists; choose another path or pass --force to replace it")
    assert old.read_text() == "keep me"


@pytest.mark.slow  # a whole (tiny) measurement: about 2 s
def test_grad_report_force_replaces_the_json_file(tmp_path, corpus):
    old = tmp_path / "r.json"
    old.write_text("keep me")
    r = run("grad-report", "--data", corpus, *TINY, "--json-out", old, "--force", "--quiet")
    assert r.exit_code == 0, r.output
    assert json.loads(old.read_text())["models"][0]["name"]


# Sizes refused before anything is allocated.

def test_threads_beyond_four_per_cpu_are_refused(tmp_path):
    too_many = 4 * (os.cpu_count() or 1) + 1
    r = run("grad-report", "--data", tmp_path / "missing.txt", "--threads", too_many)
    one_line_error(r, 2, f"--threads {too_many}: more than 4 per CPU")


@pytest.mark.parametrize("nproc", [4 * (os.cpu_count() or 1) + 1, 2**31])
def test_nproc_beyond_four_per_cpu_is_refused_before_launching(tmp_path, nproc):
    # Found by the CLI fuzz test: --nproc 2147483648 went on to torchrun, which tried to start them (a hang).
    r = run("train", tmp_path / "missing.txt", "--nproc", nproc, "--out", tmp_path / "r")
    one_line_error(r, 2, f"--nproc {nproc}: more than 4 processes per CPU")


def test_make_corpus_refuses_a_gap_that_would_not_fit_before_building_it(tmp_path):
    r = run("make-corpus", "france", "--gap", 10**8, "--lines", 10, "--out", tmp_path / "c.txt")
    one_line_error(r, 2, "--gap 100,000,000 with --lines 10 would need")
    assert "above make-corpus's bound of 2.0 GiB; lower --gap or --lines" in r.stderr
    assert not (tmp_path / "c.txt").exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("guards")
    (d / "c.txt").write_text(TEXT)
    r = run("train", d / "c.txt", "--out", d / "run", "--hidden", "8", "--layers", "1", "--batch-size", "4", "--bptt", "8",
            "--max-steps", "1", "--quiet")
    assert r.exit_code == 0, r.output
    return d / "run"


def test_generate_refuses_a_million_samples_before_allocating(tiny_run):
    r = run("generate", tiny_run, "--num-samples", 10**6, "--length", 1000)
    one_line_error(r, 2, "--num-samples 1,000,000 would need")
    assert "above generate's bound of 2.0 GiB; lower --num-samples or --length" in r.stderr


def test_a_beam_too_wide_names_the_beam(tiny_run):
    r = run("generate", tiny_run, "--beam", 10**6, "--length", 1000)
    one_line_error(r, 2, "--beam 1000000 would need")


def test_train_refuses_a_model_larger_than_the_memory_before_tokenizing(corpus, tmp_path):
    if available_bytes() is None:
        pytest.skip("this platform does not say how much memory is available")
    r = run("train", corpus, "--hidden", 1_000_000, "--out", tmp_path / "run")
    one_line_error(r, 1, "a lstm model of 2 x 1,000,000 units would need")
    assert "above the available memory of" in r.stderr and "lower --hidden, --layers or --embed-dim" in r.stderr
    assert not (tmp_path / "run").exists()


def test_the_model_is_checked_again_with_the_real_vocabulary(corpus, tmp_path, monkeypatch):
    import seqtool.memory

    # 64 tanh units on one-hot inputs: with the stand-in vocabulary of 2, 4,482 parameters x 16 bytes fit
    # in 100 KiB; with the corpus's 29 tokens, 8,094 do not
    monkeypatch.setattr(seqtool.memory, "available_bytes", lambda: 100 << 10)
    r = run("train", corpus, "--cell", "rnn", "--hidden", "64", "--layers", "1", "--embed-dim", "0", "--batch-size", "4",
            "--bptt", "8", "--out", tmp_path / "run")
    one_line_error(r, 1, "a rnn model of 1 x 64 units would need")
    assert not (tmp_path / "run").exists()


def test_refuse_if_over_says_what_how_and_the_limit():
    from seqtool.errors import ConfigError
    from seqtool.memory import refuse_if_over

    refuse_if_over(10, None, "x", "y", "z")  # unknown limit: allowed
    refuse_if_over(10, 10, "x", "y", "z")
    with pytest.raises(ConfigError) as e:
        refuse_if_over(3 << 30, 2 << 30, "--matrix count", "1 x 2", "--max-memory", fixes=("raise it",))
    assert str(e.value) == "--matrix count would need 3.0 GiB (1 x 2), above --max-memory of 2.0 GiB; raise it"
