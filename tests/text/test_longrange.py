"""seqtool.text.longrange: exact gaps, determinism, filler disjoint from answers, find_probes round trips."""
from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from seqtool.errors import UsageError
from seqtool.text import longrange as lr
from seqtool.text.constants import KERAS_FILTERS

SOURCE = lr.__file__


@pytest.mark.parametrize("task", lr.TASKS)
@pytest.mark.parametrize("gap", [0, 1, 7, 50, 120])
def test_gap_is_the_exact_number_of_filler_words(task, gap):
    for ex in lr.generate(task, gap, 20, seed=3):
        words = ex.text.split()
        assert sum(w in lr.FILLER for w in words) == gap  # counted from the words, not the generator's arithmetic
        assert ex.distance == gap + lr.OFFSET[task] == lr.distance(task, gap)
        assert len(words) == {"france": 9, "agreement": 4, "copy": 8}[task] + gap
        cue = words[ex.cue]
        i, answer = ex.probes[0]
        assert words[i] == answer
        if task == "france":
            assert (cue, answer) in lr.COUNTRIES and all(w in lr.FILLER for w in words[5:5 + gap])
        elif task == "agreement":
            plural = cue not in {singular for singular, _ in lr.NOUNS}
            assert lr.VERBS[plural] == answer and all(w in lr.FILLER for w in words[2:2 + gap])
        else:
            assert [w for _, w in ex.probes] == words[1:4] and [j - (ex.cue + c) for c, (j, _) in enumerate(ex.probes)] == [ex.distance] * 3


@pytest.mark.parametrize("task", lr.TASKS)
def test_lines_are_plain_lowercase_words(task):
    for ex in lr.generate(task, 5, 50, seed=1):
        assert ex.text == ex.text.lower() and ex.text.split(" ") == ex.text.split()
        assert not set(ex.text) & set(KERAS_FILTERS)
        assert "\n" not in ex.text


@pytest.mark.parametrize("task", lr.TASKS)
def test_same_seed_same_lines_other_seed_other_lines(task):
    a, b, c = (lr.generate(task, 10, 30, seed=s) for s in (7, 7, 8))
    assert a == b
    assert a != c


def test_output_does_not_depend_on_the_hash_seed():
    code = ("import sys; from seqtool.text.longrange import generate, TASKS; "
            "sys.stdout.write('|'.join(e.text for t in TASKS for e in generate(t, 4, 5, seed=2)))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": h}).stdout for h in ("1", "999")}
    assert len(outs) == 1


def test_filler_shares_no_word_with_cues_answers_or_templates():
    reserved = ({c for c, _ in lr.COUNTRIES} | set(lr.LANGUAGES) | {w for pair in lr.NOUNS for w in pair}
                | set(lr.VERBS) | set(lr.ENDINGS) | set(lr.SYMBOLS)
                | set(lr.FRANCE_HEAD) | set(lr.FRANCE_TAIL) | {"the", "remember", "recall"})
    assert not set(lr.FILLER) & reserved
    assert len(set(lr.FILLER)) == len(lr.FILLER) >= 100
    assert len(set(lr.LANGUAGES)) == len(lr.COUNTRIES) >= 10


@pytest.mark.parametrize("task", lr.TASKS)
@pytest.mark.parametrize("gap", [0, 3, 50])
def test_find_probes_recovers_every_generated_example(task, gap):
    for ex in lr.generate(task, gap, 40, seed=gap):
        assert lr.find_probes(task, ex.text) == ex
        assert lr.find_probes(task, "  " + ex.text.replace(" ", "  ") + "\n") == ex  # any whitespace


def test_find_probes_rejects_lines_that_are_not_examples():
    assert lr.find_probes("france", "i grew up in france apple i speak fluent german") is None  # wrong answer
    assert lr.find_probes("france", "the quick brown fox") is None
    assert lr.find_probes("france", "") is None
    assert lr.find_probes("agreement", "the dogs apple is here") is None
    assert lr.find_probes("agreement", "the dogs apple are here") is not None
    assert lr.find_probes("copy", "remember alpha beta gamma recall alpha beta delta") is None
    assert lr.find_probes("copy", "remember alpha beta gamma recall alpha beta gamma").distance == 4
    france = lr.generate("france", 2, 1)[0].text
    assert lr.find_probes("copy", france) is None and lr.find_probes("agreement", france) is None


@pytest.mark.parametrize("task, k", [("france", 12), ("agreement", 2), ("copy", 8)])
def test_chance_is_one_over_equally_likely_answers(task, k):
    assert lr.chance(task) == pytest.approx(1 / k)
    exs = lr.generate(task, 0, 2400, seed=5)
    assert all(ex.choices == lr.choices(task) and len(ex.choices) == k for ex in exs)
    counts = Counter(w for ex in exs for _, w in ex.probes)
    assert set(counts) == set(lr.choices(task))
    expected = sum(counts.values()) / k
    assert all(abs(c - expected) < 0.25 * expected for c in counts.values())  # drawn uniformly


@pytest.mark.parametrize("args, message", [
    (("nope", 5, 10), "unknown long-range task 'nope'"),
    (("france", -1, 10), "--gap -1"),
    (("france", 2.5, 10), "--gap 2.5"),
    (("france", True, 10), "--gap True"),
    (("copy", 5, 0), "--lines 0"),
])
def test_bad_values_are_usage_errors(args, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        lr.generate(*args)
    with pytest.raises(UsageError):
        lr.chance("nope")
    with pytest.raises(UsageError):
        lr.find_probes("nope", "x")


def test_loads_by_file_path_with_the_standard_library_only():
    code = ("import importlib.util, sys\n"
            "sys.modules['seqtool'] = None  # as if seqtool were not installed: importing it fails\n"
            f"spec = importlib.util.spec_from_file_location('lr_by_path', {SOURCE!r})\n"
            "m = importlib.util.module_from_spec(spec); sys.modules['lr_by_path'] = m; spec.loader.exec_module(m)\n"
            "assert not any(k.split('.')[0] in ('numpy', 'torch') for k in sys.modules)\n"
            "try:\n    m.generate('france', -1, 1)\nexcept ValueError:\n    pass\nelse:\n    raise SystemExit(1)\n"
            "print(m.generate('copy', 0, 1, seed=1)[0].text)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == lr.generate("copy", 0, 1, seed=1)[0].text
