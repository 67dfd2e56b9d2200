"""--help: flags show no value placeholder, value options show their defaults, and shell completion works."""
from __future__ import annotations

import pytest
import typer

from seqtool.cli import app
from tests.cli.helpers import run, runner

GROUP = typer.main.get_command(app)
COMMANDS = sorted(GROUP.commands)


@pytest.mark.parametrize("args", [[], *([c] for c in COMMANDS)])
def test_flags_show_no_bool_placeholder(args):
    r = run(*args, "--help")
    assert r.exit_code == 0, r.output
    assert "--help" in r.stdout and "<bool>" not in r.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_value_option_with_a_default_shows_it(name):
    """Shown by typer ([default: X]) or written in the help: '[char: 384, word: 256]', 'Default char: ...'."""
    for p in GROUP.commands[name].params:
        if p.param_type_name == "option" and not p.is_flag and p.default is not None:
            assert p.show_default is not False or "[" in p.help or "Default" in p.help, f"{name} {p.opts[0]}"


@pytest.mark.parametrize("shell, says", [("bash", "_SEQTOOL_COMPLETE=complete_bash"), ("zsh", "_SEQTOOL_COMPLETE=complete_zsh"),
                                         ("fish", "_SEQTOOL_COMPLETE=complete_fish")])
def test_completion_scripts_for_bash_zsh_and_fish(monkeypatch, shell, says):
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")  # name the shell instead of detecting it
    r = run("--show-completion", shell)
    assert r.exit_code == 0, r.output
    assert says in r.stdout and "seqtool" in r.stdout


def test_completion_completes_commands_and_options():
    r = runner.invoke(app, [], env={"_SEQTOOL_COMPLETE": "complete_bash", "COMP_WORDS": "seqtool pl", "COMP_CWORD": "1"}, prog_name="seqtool")
    assert r.stdout.split() == ["plot"]
    r = runner.invoke(app, [], env={"_SEQTOOL_COMPLETE": "complete_bash", "COMP_WORDS": "seqtool train --tensor", "COMP_CWORD": "2"}, prog_name="seqtool")
    assert r.stdout.split() == ["--tensorboard", "--tensorboard-dir"]
