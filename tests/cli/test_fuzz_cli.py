"""Fuzz the command line: random option values and combinations for every command never give a
traceback or an internal error, exit only 0, 1, 2, 130 or 143, and a failure says so in one line.

The strategies are built from each command's own click parameters (``typer.main.get_command``):
a new option is fuzzed the day it is added. Values: ints with 0, negatives and huge ones, floats
with nan, inf, -0.0 and subnormals, strings from the option's help text (its choices) and hostile
ones, and paths to tiny real assets (a corpus, a tokenize output, a 2-step run) or to nothing.
Work is bounded: small defaults the example does not set itself (``--max-steps 1`` for train),
caps on the options that scale the work, a hard per-example time limit and an address-space cap.

The counts (cases per command and exit code) go to ``fuzz-cli-counts.json`` in pytest's temp
directory and are printed at the end (``pytest -s``). ``SEQTOOL_FUZZ_EXAMPLES=N`` runs N random
(not derandomized) examples per command, to hunt further than CI does.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import resource
import shutil
import signal
import tempfile
from collections import Counter
from pathlib import Path
from unittest import mock

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqtool.cli import app
from tests.cli.helpers import run

pytestmark = pytest.mark.slow

COMMANDS = typer.main.get_command(app).commands
EXAMPLES = int(os.environ.get("SEQTOOL_FUZZ_EXAMPLES", "0"))
HANG_S = 15  # a hard limit per example: a hang is a finding, not a stuck CI job
MEMORY_CAP = 4 << 30  # address space an example may add: a huge allocation fails instead of swapping

TEXT = "the quick brown fox jumps over the lazy dog.\nthe dog sleeps; the fox runs!\n" * 20 + "café ✓ ünïcode, [brackets]\n"

#: Relative paths every path-like parameter draws from (each example runs in a fresh copy of them).
PATHS = ["c.txt", "empty.txt", "bad.txt", "data", "data/train.npy", "data/tokenizer.json", "run", "run/last.pt",
         "run/config.json", "run/metrics.jsonl", "out", "missing.txt", "no/such/dir/f.txt", "-", "", ".", "ü ✓/ñ.txt"]
#: Likely-good paths by parameter name, so examples get past the inputs and into the options.
GOOD_PATHS = {"out": ["out"], "data": ["c.txt", "data"], "files": ["c.txt"], "checkpoint": ["run", "run/last.pt"],
              "checkpoints": ["run"], "tokenizer": ["data", "run"], "resume": ["run"], "corpus": ["c.txt"]}
#: Small values for the options that size the work, used when the example does not set them.
BASELINE = {
    "train": {"--out": "out", "--max-steps": "1", "--hidden": "8", "--layers": "1", "--batch-size": "2", "--bptt": "8", "--vocab-size": "60"},
    "grad-report": {"--hidden": "8", "--layers": "1", "--timesteps": "8", "--windows": "1", "--batch-size": "2", "--vocab-size": "60"},
    "generate": {"--length": "8"},
    "eval": {"--positions": "8"},
    "tokenize": {"--vocab-size": "60"},
    "make-corpus": {"--lines": "20"},
}
#: Options whose value scales the work: a drawn value above the cap is replaced by the cap.
WORK_CAPS = {"--max-steps": 2, "--epochs": 1, "--length": 16, "--num-samples": 2, "--positions": 16, "--free-running": 16,
             "--lines": 40, "--gap": 8, "--timesteps": 16, "--windows": 2, "--threads": 2, "--beam": 4}

INTS = [0, -1, 1, 2, 3, 7, 1 << 20, 1 << 31, 1 << 63, 1 << 64, 10**30, -(10**30)]
FLOATS = [0.0, -0.0, 1e-320, math.nan, math.inf, -math.inf, -1.0, 0.5, 1.0, 1e300, 1e30]
HOSTILE = ["", " ", "-", "--", "ü✓", "0", "-1", "nan", "1e999", "１２", "a,b", "10,5", "[red]x[/red]", "\\n", "x" * 300]

#: Findings the fuzzer still meets, kept as strict xfails in test_fuzz_findings.py (a fix makes
#: them fail as XPASS: remove the entry here then). HUGE: command -> options whose value >= 2**20
#: ends in an internal error, a hang or a minute of work (no size guard covers it yet).
HUGE = {"train": ("--embed-dim",)}  # a huge embedding that fits in memory is legal, just minutes of work
#: command -> options whose value is only checked where it is used (a LookupError at the first bad byte).
UNCHECKED: dict[str, dict[str, tuple[str, ...]]] = {}


def _tokens(text: str) -> list[str]:
    """The words of a help text: an option's choices are among them."""
    return sorted({w.strip(".,:;'()[]") for w in re.findall(r"[\w'][\w.,:'-]*", text or "")} - {""})


def _name(p) -> str:
    return max(p.opts, key=len)


def _float(x: float) -> str:
    return repr(x) if not math.isnan(x) else "nan"


def _base(p) -> type:
    a = p.type_descriptor.annotation
    return getattr(a, "__args__", (a,))[0] if getattr(a, "__origin__", None) is list else a


def value(p) -> st.SearchStrategy[str]:
    """One value for parameter ``p``, by its type; arguments and paths draw from the asset paths."""
    t = _base(p)
    if t is int:
        edge = st.sampled_from(INTS).map(str)
        return st.one_of(edge, edge, st.integers(-3, 40).map(str), st.integers(1, 40).map(str), st.sampled_from(HOSTILE))
    if t is float:
        edge = st.sampled_from(FLOATS).map(_float)
        return st.one_of(edge, edge, st.floats(-3, 3).map(_float), st.floats(0, 1).map(_float), st.sampled_from(HOSTILE))
    if p.param_type_name == "argument" or t is Path:
        good = GOOD_PATHS.get(p.name, [])
        return st.sampled_from(good * 3 + PATHS) if good else st.sampled_from(PATHS + _tokens(p.help))
    words = st.sampled_from(_tokens(p.help))
    return st.one_of(words, words, st.sampled_from(HOSTILE), st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6))


def argv_piece(p) -> st.SearchStrategy[list[str]]:
    """The argv words for one parameter: a flag, ``--opt VALUE`` (repeated if multiple), or arguments."""
    if getattr(p, "is_flag", False):
        return st.sampled_from([[p.opts[0]]] + [[s] for s in p.secondary_opts])
    if p.param_type_name == "argument":
        n = st.integers(1, 2) if p.nargs == -1 else st.just(1)
        return n.flatmap(lambda k: st.lists(value(p), min_size=k, max_size=k))
    reps = st.integers(1, 2) if p.multiple else st.just(1)
    return reps.flatmap(lambda k: st.lists(value(p).map(lambda v: [_name(p), v]), min_size=k, max_size=k)).map(lambda xs: sum(xs, []))


@st.composite
def command_line(draw, name: str) -> list[str]:
    """A whole ``seqtool NAME ...`` command line: its arguments, a few random options, the baseline."""
    cmd = COMMANDS[name]
    args = [name]
    for p in (q for q in cmd.params if q.param_type_name == "argument"):
        if p.required or draw(st.integers(0, 4)):
            args += draw(argv_piece(p))
    for p in (q for q in cmd.params if q.param_type_name == "option" and q.required):
        args += draw(argv_piece(p))
    optional = [q for q in cmd.params if q.param_type_name == "option" and not q.required and _name(q) not in ("--help",)]
    for p in draw(st.lists(st.sampled_from(optional), max_size=3, unique_by=_name)):
        args += draw(argv_piece(p))
    return bound(args)


def bound(args: list[str]) -> list[str]:
    """``args`` with the work capped (WORK_CAPS) and the command's baseline for what it leaves unset."""
    out = list(args)
    for i, a in enumerate(out[:-1]):
        cap = WORK_CAPS.get(a)
        if cap is not None and re.fullmatch(r"\d+", out[i + 1]) and int(out[i + 1]) > cap:
            out[i + 1] = str(cap)
    for opt, v in BASELINE.get(args[0], {}).items():
        if opt not in args and not (opt == "--out" and "--resume" in args):
            out += [opt, v]
    return out


class Hang(BaseException):
    """Raised in an example that ran past HANG_S (BaseException: the CLI's error translator lets it through)."""


@contextlib.contextmanager
def hard_limits():
    """A per-example alarm (HANG_S) and an address-space cap for the whole fuzz."""
    def on_alarm(signum, frame):
        raise Hang()

    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (used + MEMORY_CAP, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, old_handler)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A tiny corpus, undecodable and empty files, a char tokenize output and a 2-step char run."""
    d = tmp_path_factory.mktemp("fuzz-assets")
    (d / "c.txt").write_text(TEXT, encoding="utf-8")
    (d / "empty.txt").write_text("")
    (d / "bad.txt").write_bytes(b"caf\xe9 \xff\xfe\n")
    r = run("tokenize", d / "c.txt", "--out", d / "data", "--level", "char", "--val-fraction", "0.1", "--quiet")
    assert r.exit_code == 0, r.output
    r = run("train", d / "c.txt", "--out", d / "run", "--max-steps", 2, "--hidden", 8, "--layers", 1, "--batch-size", 2, "--bptt", 8, "--quiet")
    assert r.exit_code == 0, r.output
    return d


@pytest.fixture(scope="module")
def tally(tmp_path_factory):
    """Exit codes per command, written to JSON and printed when the module's fuzzing is done."""
    counts: dict[str, Counter] = {}
    yield counts
    summary = {"cases": sum(sum(c.values()) for c in counts.values()),
               "by_command": {k: dict(sorted((str(c), n) for c, n in v.items())) for k, v in counts.items()}}
    path = tmp_path_factory.getbasetemp() / "fuzz-cli-counts.json"
    path.write_text(json.dumps(summary, indent=1))
    print(f"\nCLI fuzz: {json.dumps(summary)} (written to {path})")


def run_example(assets: Path, args: list[str]):
    """``seqtool ARGS`` in a fresh copy of the assets (the current directory), under the alarm."""
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        shutil.copytree(assets, work)
        os.chdir(work)
        signal.alarm(HANG_S)
        try:
            return run(*args, input="the cat sat on the mat\n")
        finally:
            signal.alarm(0)
            os.chdir(here)


def check(args: list[str], r) -> str:
    """Why result ``r`` of ``seqtool ARGS`` breaks the CLI's promises ('' when it keeps them)."""
    err = r.stderr
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        return f"raised {type(r.exception).__name__}: {r.exception}"
    if "Traceback" in r.output or "internal error" in err:
        return "traceback or internal error: " + err.strip()[-500:]
    if r.exit_code not in (0, 1, 2, 130, 143):
        return f"exit {r.exit_code}"
    if r.exit_code != 0:
        lines = err.strip().splitlines()
        errors = [ln for ln in lines if "error:" in ln]
        if len(errors) != 1 or not lines or lines[-1] != errors[0]:
            return "a failure must end stderr with exactly one error line: " + err.strip()[-500:]
        if "--quiet" in args or "-q" in args:
            if len([ln for ln in lines if not ln.startswith("warning:")]) != 1:
                return "with --quiet a failure prints its one error line only: " + err.strip()[-500:]
    return ""


def known(args: list[str]) -> bool:
    """``args`` set an option of HUGE to a huge value, or one of UNCHECKED to a value not allowed."""
    huge, unchecked = HUGE.get(args[0], ()), UNCHECKED.get(args[0], {})
    return any((a in huge and re.fullmatch(r"\d+", v) and int(v) >= 1 << 20) or v not in unchecked.get(a, (v,))
               for a, v in zip(args, args[1:]))


def fuzz_settings():
    n = EXAMPLES or 60
    return settings(max_examples=n, deadline=None, derandomize=not EXAMPLES, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])


@pytest.mark.parametrize("name", [n for n in COMMANDS if n != "demo"])
def test_fuzzed_command_lines_keep_the_cli_promises(name, assets, tally):
    counts = tally.setdefault(name, Counter())

    @fuzz_settings()
    @given(command_line(name))
    def example(args):
        if known(args):
            counts["known (skipped)"] += 1
            return
        try:
            r = run_example(assets, args)
        except Hang:
            counts["hang"] += 1
            raise AssertionError(f"seqtool {' '.join(args)}: still running after {HANG_S} s") from None
        counts[r.exit_code] += 1
        problem = check(args, r)
        assert not problem, f"seqtool {' '.join(map(repr, args))}: {problem}"

    with hard_limits():
        example()


def test_fuzzed_demo_options_are_validated_before_the_tour(assets, tally):
    """demo trains for a minute: only its option handling is fuzzed, up to where the tour would start."""
    counts = tally.setdefault("demo", Counter())

    def tour_started(*a, **k):
        raise SystemExit(0)

    @fuzz_settings()
    @given(command_line("demo"))
    def example(args):
        with mock.patch("seqtool.demo.run_demo", tour_started):
            r = run_example(assets, args)
        counts[r.exit_code] += 1
        problem = check(args, r)
        assert not problem, f"seqtool {' '.join(map(repr, args))}: {problem}"

    with hard_limits():
        example()
