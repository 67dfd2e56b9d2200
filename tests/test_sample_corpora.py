"""The bundled sample corpora: reproducible by sample_corpora/generate.py and shaped as stated."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

CORPORA = Path(__file__).parent.parent / "sample_corpora"
NAMES = ("fables.txt", "words.txt", "longrange_france_gap50.txt")


def load_generator():
    spec = importlib.util.spec_from_file_location("generate", CORPORA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """The corpora written by the script as a user runs it, under an unusual hash seed."""
    out = tmp_path_factory.mktemp("corpora")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    result = subprocess.run([sys.executable, str(CORPORA / "generate.py"), "--out", str(out)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("name", NAMES)
def test_generator_reproduces_committed_file(regenerated, name):
    assert (regenerated / name).read_bytes() == (CORPORA / name).read_bytes(), (
        f"{name} is stale: run python sample_corpora/generate.py")


def test_check_flag_fails_on_a_stale_file(regenerated, capsys):
    (regenerated / "words.txt").write_text("stale\n")
    assert load_generator().main(["--check", "--out", str(regenerated)]) == 1
    assert "words.txt" in capsys.readouterr().err


@pytest.mark.parametrize("name, low, high", [("fables.txt", 350_000, 450_000),
                                             ("words.txt", 600_000, 900_000),
                                             ("longrange_france_gap50.txt", 400_000, 600_000)])
def test_size_and_plain_ascii(name, low, high):
    data = (CORPORA / name).read_bytes()
    assert low <= len(data) <= high
    assert data.isascii()
    assert b"\r" not in data and b"\t" not in data


def test_fables_read_like_a_book():
    text = (CORPORA / "fables.txt").read_text(encoding="ascii")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    text_lines = [line for line in lines if line]
    assert sum(len(line) > 60 for line in text_lines) > len(text_lines) // 3  # wrapped paragraphs
    titles = [line for line in lines if re.fullmatch(r"[A-Z][-A-Z ,]+\.", line)]
    assert len(titles) >= 100  # one title line per story
    assert "\n\n" in text and text.count('"') % 2 == 0
    assert re.search(r'," said [A-Z]?[a-z]', text) and "?" in text and "!" in text


def test_words_one_tokenised_lowercase_sentence_per_line():
    text = (CORPORA / "words.txt").read_text(encoding="ascii")
    assert text.endswith("\n")
    lines = text.splitlines()
    assert all(line and line == line.lower() for line in lines)
    assert all(line.split(" ") == line.split() for line in lines)  # single spaces only
    assert all(line.split()[-1] in {".", "?"} for line in lines)
    counts = Counter(text.split())
    assert 2_000 <= len(counts) <= 5_000
    ranked = sorted(counts.values(), reverse=True)
    assert ranked[0] > 20 * ranked[len(ranked) // 2]  # Zipf-like: a few words dominate
    assert sum(c <= 3 for c in ranked) > len(ranked) // 10  # ... above a long tail of rare ones


def test_longrange_lines_are_france_examples_with_a_gap_of_50():
    from seqtool.text.longrange import LANGUAGES, find_probes

    lines = (CORPORA / "longrange_france_gap50.txt").read_text(encoding="ascii").splitlines()
    examples = [find_probes("france", line) for line in lines]
    assert len(lines) == 1500 and all(ex is not None and ex.text == line for ex, line in zip(examples, lines))
    assert {ex.distance for ex in examples} == {54}  # 50 filler words + 4
    answers = Counter(ex.probes[0][1] for ex in examples)
    assert set(answers) == set(LANGUAGES) and max(answers.values()) < 2 * min(answers.values())  # near uniform: chance 1/12
