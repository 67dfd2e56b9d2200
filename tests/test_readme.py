"""The README stays true: CI runs its test command, and its example commands name real options."""
from __future__ import annotations

import re
import shlex

import pytest
import typer

from seqtool.cli import app

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    quick = README.split("## Quickstart", 1)[1].split("##", 1)[0]
    test_cmd = [ln for ln in quick.splitlines() if "pytest" in ln]
    assert len(test_cmd) == 1
    assert test_cmd[0].strip() in (ROOT / ".ci" / "run").read_text()


def readme_seqtool_commands():
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("seqtool ") or part.startswith("| seqtool"):
                    cmds.append(part.lstrip("| "))
    return cmds


@pytest.mark.parametrize("cmd", readme_seqtool_commands())
def test_readme_commands_use_existing_options(cmd):
    """Every option a README command uses is a whole option name of that command (from its click parameters)."""
    args = shlex.split(cmd)[1:]
    sub = args[0]
    command = typer.main.get_command(app).commands[sub]
    names = {n for p in command.params for n in (*p.opts, *p.secondary_opts)}
    for a in args[1:]:
        if a.startswith("--"):
            name = a.split("=")[0]
            assert name in names, f"{cmd}: {name} is not an option of seqtool {sub}"


def test_the_readme_pictures_exist_and_are_pngs():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert pictures
    for p in pictures:
        assert (ROOT / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", p
