"""Every option a message or help text suggests exists on the command that shows it.

A core module's error reaches several commands (``text/corpus.py``'s UTF-8 error reaches tokenize,
train, demo and generate), so a fix naming an option goes in the error's ``fixes=`` and the CLI shows
only the fixes its command offers. This test reads the source: the "what to do" part of a core
message (after its "; ") may name an option only inside ``fixes=`` or after ``seqtool CMD``; a string
in ``cli/CMD.py`` and every command's help name only that command's options.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import typer

from seqtool.cli import app, command_options
from seqtool.errors import options_named
from tests.cli.helpers import one_line_error, run

PACKAGE = Path(__file__).resolve().parents[2] / "seqtool"
ROOT = typer.main.get_command(app)
OPTIONS = {name: command_options(cmd) | {"--help", "-h", "--version"} for name, cmd in ROOT.commands.items()}
ANY_OPTION = set().union(*OPTIONS.values())
SEQTOOL_CMD = re.compile(r"seqtool ([a-z-]+)")
#: For each cli module that defines commands: its commands, and which function is whose callback.
CALLBACKS = {name: cmd.callback for name, cmd in ROOT.commands.items()}


def _owned(text: str, owner: str | None) -> list[tuple[str | None, str]]:
    """(command, option) for each option ``text`` names: from ``seqtool CMD`` to the next ';', ')' or
    ``seqtool`` it is CMD's, else ``owner``'s."""
    out, at = [], 0
    for m in SEQTOOL_CMD.finditer(text):
        out += [(owner, o) for o in options_named(text[at:m.start()])]
        end = min([i for i in (text.find(";", m.end()), text.find(")", m.end())) if i >= 0], default=len(text))
        end = min(end, text.find("seqtool", m.end()) if "seqtool" in text[m.end():] else len(text))
        out += [(m.group(1), o) for o in options_named(text[m.start():end])]
        at = end
    return out + [(owner, o) for o in options_named(text[at:])]


def _strings(tree: ast.AST):
    """(text, node, in_fixes) for each string or f-string that is not a docstring; f-string holes read '{}'."""
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    in_fixes = {id(s) for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg == "fixes" for s in ast.walk(k.value)}
    parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    # renamed({"--steps": "--timesteps"}): old spellings a command still accepts, not options it shows
    parts |= {id(s) for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "renamed" for s in ast.walk(c)}
    for n in ast.walk(tree):
        if isinstance(n, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in n.values)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings | parts:
            text = n.value
        else:
            continue
        yield text, n, id(n) in in_fixes


def _owners(path: Path, tree: ast.AST) -> dict[int, str]:
    """line -> the command whose callback (defined in this cli module) holds that line."""
    module = "seqtool.cli." + path.stem
    lines = {}
    for f in tree.body:
        for name, cb in CALLBACKS.items():
            if isinstance(f, ast.FunctionDef) and cb.__module__ == module and cb.__name__ == f.name:
                lines.update(dict.fromkeys(range(f.lineno, f.end_lineno + 1), name))
    return lines


def _source_problems() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE.parent)
        in_cli = path.parent.name == "cli"
        tree = ast.parse(path.read_text())
        owners = _owners(path, tree) if in_cli else {}
        for text, node, in_fixes in _strings(tree):
            owner = owners.get(node.lineno)
            if not in_cli and not in_fixes and ";" in text:  # the "what to do" half of a core message
                loose = [o for who, o in _owned(text.split(";", 1)[1], None) if who is None]
                problems += [f"{where}:{node.lineno}: suggests {o} outside fixes= ({text!r})" for o in loose]
            for who, option in _owned(text, owner):
                allowed = OPTIONS.get(who, set()) if who else ANY_OPTION
                if who not in (None, *OPTIONS):
                    continue  # 'seqtool tokenize' names a command; 'seqtool foo' is prose
                if option not in allowed:
                    problems.append(f"{where}:{node.lineno}: {option} is not an option of {who or 'any command'} ({text!r})")
    return problems


def _help_problems() -> list[str]:
    problems = []
    for name, cmd in ROOT.commands.items():
        texts = [cmd.help or "", cmd.epilog or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
        for text in texts:
            problems += [f"seqtool {name} --help: {o} is not an option of {who}" for who, o in _owned(text, name)
                         if who in OPTIONS and o not in OPTIONS[who]]
    return problems


def test_every_suggested_option_exists_on_the_command_that_suggests_it():
    problems = _source_problems() + _help_problems()
    assert not problems, "\n".join(problems)


# The three messages that suggested options their command lacks (issue 16), as the user sees them.

def test_generate_does_not_suggest_errors_replace_it_lacks(tmp_path):
    bad = tmp_path / "prompt.txt"
    bad.write_bytes(b"The fox \xff\n")
    (tmp_path / "c.txt").write_text("the quick brown fox jumps over the lazy dog.\n" * 40)
    assert run("train", tmp_path / "c.txt", "--out", tmp_path / "run", "--hidden", "8", "--layers", "1", "--batch-size", "2",
               "--bptt", "8", "--max-steps", "1", "--quiet").exit_code == 0
    r = run("generate", tmp_path / "run", "--prompt-file", bad)
    one_line_error(r, 1, "invalid UTF-8 at line 1, byte offset 8; convert the file to UTF-8")
    assert "--errors" not in r.stderr


def test_demo_does_not_suggest_force_it_lacks(tmp_path):
    (tmp_path / "tour").mkdir()
    (tmp_path / "tour" / "keep.txt").write_text("mine")
    r = run("demo", "--quick", "--out", tmp_path / "tour")
    one_line_error(r, 1, "directory exists and is not empty; choose another path")
    assert "--force" not in r.stderr


def test_demo_does_not_suggest_val_fraction_it_lacks(tmp_path):
    one_line = tmp_path / "one.txt"
    one_line.write_text("a single line of text\n")
    r = run("demo", "--quick", "--quiet", "--corpus", one_line, "--out", tmp_path / "tour")
    one_line_error(r, 1, "the validation text has no tokens; give more text")
    assert "--val-fraction" not in r.stderr


def test_a_command_with_the_option_still_suggests_it(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"abc \xff\n")
    r = run("tokenize", bad, "--out", tmp_path / "o")
    one_line_error(r, 1, "convert the file to UTF-8 or pass --errors replace")


def test_fixes_survive_a_worker_process_pipe():
    import pickle

    from seqtool.errors import CorpusError

    e = pickle.loads(pickle.dumps(CorpusError("bad.txt: invalid UTF-8", fixes=("convert it", "pass --errors replace"))))
    assert e.for_options({"--out"}) == "bad.txt: invalid UTF-8; convert it"
    assert str(e) == "bad.txt: invalid UTF-8; convert it or pass --errors replace"
