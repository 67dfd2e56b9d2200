"""The ``seqtool`` command line: a typer app, one module per command, one error translator.

``main`` is the console script. Errors raised by the library (``SeqtoolError``) and usage errors
from the parser become one line on stderr and an exit code (1 bad data/config, 2 bad usage,
130 interrupted, 143 terminated by SIGTERM); a traceback only with ``SEQTOOL_DEBUG=1``. Importing this package does not
import torch, so ``seqtool --help`` is fast.
"""
from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from seqtool import __version__
from seqtool.cli.console import is_debug, stderr_line
from seqtool.errors import SeqtoolError, Terminated


class SeqtoolGroup(TyperGroup):
    """Runs a command and translates every failure into one line and an exit code."""

    def list_commands(self, ctx):  # keep the order commands were registered in
        return list(self.commands)

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            no_flag_metavars(command, ctx)
        return command

    def format_help(self, ctx, formatter):
        no_flag_metavars(self, ctx)
        return super().format_help(ctx, formatter)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SeqtoolError as e:  # its fixes may name options: keep those this command has
            e.offered = command_options(self.commands.get(ctx.invoked_subcommand or ""))
            raise
        except KeyboardInterrupt:  # caught here: typer would turn it into a silent exit 130
            stderr_line("seqtool: interrupted")
            return 130
        except Terminated:
            stderr_line("seqtool: terminated")
            return 143
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly with success. Caught here, inside
            # typer's own handler, which would otherwise exit 1.
            with_devnull_stdout()
            return 0

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from typer.exceptions import Abort, Exit, TyperException

        self.argv = [str(a) for a in (sys.argv[1:] if args is None else args)]  # as given: train --nproc relaunches it under torchrun
        previous = _on_sigterm(_raise_terminated)
        try:
            rv = super().main(args=args, prog_name=prog_name or "seqtool", complete_var=complete_var, standalone_mode=False, **extra)
        except Exit as e:
            code = e.exit_code
        except (Abort, KeyboardInterrupt):
            stderr_line("seqtool: interrupted")
            code = 130
        except SeqtoolError as e:
            if is_debug():
                raise
            if not _said_by_process_0(e):
                stderr_line(f"seqtool: error: {e.for_options(getattr(e, 'offered', None))}")
            code = e.exit_code
        except TyperException as e:  # the parser's usage errors
            if is_debug():
                raise
            fmt = getattr(e, "format_message", None)
            msg = fmt() if fmt else str(e)
            cmd = getattr(getattr(e, "ctx", None), "command_path", "seqtool")
            if msg:
                stderr_line(f"{cmd}: error: {msg} (see {cmd} --help)")
                code = getattr(e, "exit_code", 2)
            else:  # no command given: the help was shown, as asked
                code = 0
        except OSError as e:  # the machine said no (disk full, device gone): not a bug in seqtool
            if is_debug():
                raise
            stderr_line(f"seqtool: error: {_os_error_message(e)}")
            with_devnull_stdout()  # stdout may be what failed: don't fail again at exit
            code = 1
        except Exception as e:  # noqa: BLE001 - a bug: say so in one line unless debugging
            if is_debug():
                raise
            stderr_line(f"seqtool: internal error: {type(e).__name__}: {e} (run with SEQTOOL_DEBUG=1 for a traceback)")
            code = 1
        else:
            code = rv if isinstance(rv, int) else 0
        finally:
            _on_sigterm(previous)
        if standalone_mode:
            sys.exit(code)
        return code


def no_flag_metavars(command, ctx) -> None:
    """A flag takes no value, so its --help line shows none (typer would print ``<bool>``)."""
    for p in (*command.params, command.get_help_option(ctx)):
        if p is not None and getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = ""


def _said_by_process_0(e: SeqtoolError) -> bool:
    """Under torchrun, an error every process meets alike (a usage error, a NaN loss, process 0's failure to start
    the run) is said by process 0 alone: one line, not one per process."""
    return os.environ.get("RANK", "0") != "0" and e.same_on_every_process


def command_options(command) -> frozenset[str]:
    """Every option name ``command`` accepts (``--eos`` and ``--no-eos`` both); none for no command."""
    if command is None:
        return frozenset()
    return frozenset(o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--"))


def _os_error_message(e: OSError) -> str:
    where = e.filename if e.filename is not None else "the output (stdout or a file)"
    return f"cannot read or write {where}: {e.strerror or e}; free some space or check the path and device"


def _raise_terminated(signum, frame):
    raise Terminated()


def _on_sigterm(handler):
    """Install ``handler`` for SIGTERM and return the one it replaces (a no-op off the main thread)."""
    import signal
    import threading

    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


def with_devnull_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


app = typer.Typer(
    cls=SeqtoolGroup,
    name="seqtool",
    help="Model text as sequences with recurrent networks: tokenize corpora, train language models.",
    no_args_is_help=True,
    add_completion=True,  # seqtool --install-completion (bash, zsh, fish, powershell)
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"seqtool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
) -> None:
    """Model text as sequences with recurrent networks."""


from seqtool.cli import demo as _demo  # noqa: E402
from seqtool.cli import tokenize as _tokenize  # noqa: E402
from seqtool.cli import train as _train  # noqa: E402
from seqtool.cli import generate as _generate  # noqa: E402
from seqtool.cli import eval as _eval  # noqa: E402
from seqtool.cli import grad_report as _grad_report  # noqa: E402
from seqtool.cli import make_corpus as _make_corpus  # noqa: E402
from seqtool.cli import predict as _predict  # noqa: E402
from seqtool.cli import runs as _runs  # noqa: E402
from seqtool.cli import plot as _plot  # noqa: E402

_demo.register(app)
_tokenize.register(app)
_train.register(app)
_generate.register(app)
_eval.register(app)
_predict.register(app)
_grad_report.register(app)
_make_corpus.register(app)
_runs.register(app)
_plot.register(app)


def main() -> None:
    """Console-script entry point."""
    typer.main.get_command(app).main(prog_name="seqtool")
