"""What the CLI tests share: invoking ``seqtool`` in-process and checking a one-line error.

Imported as ``from tests.cli.helpers import ...`` (pyproject's pytest ``pythonpath`` puts the
repository root on the path).
"""
from __future__ import annotations

from typer.testing import CliRunner

from seqtool.cli import app

runner = CliRunner()


def run(*args, input=None):
    """``seqtool ARGS...`` in this process (arguments may be paths or numbers); stdout and stderr apart."""
    return runner.invoke(app, [str(a) for a in args], input=input)


def one_line_error(r, code, message):
    """The command failed with ``code`` and said ``message`` on stderr in exactly one line."""
    assert r.exit_code == code, r.output
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
