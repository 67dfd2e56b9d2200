"""Old option spellings that keep working for a while: each is rewritten to its new name before the
command parses its arguments, with one line on stderr per old name, so a script that used it runs
exactly as before and learns the new name.

A command takes this as ``app.command(..., cls=renamed({"--steps": "--timesteps"}))``. The old
names are not options of the command, so ``--help`` and the README check show only the new ones.
"""
from __future__ import annotations

from typer.core import TyperCommand

from seqtool.cli.console import stderr_line


def renamed(options: dict[str, str], json_file: str | None = None) -> type[TyperCommand]:
    """A command class that accepts each old option of ``options`` (old -> new) as its new name.

    ``json_file`` (grad-report): ``--json`` once took a file name (``-`` for stdout) and is now a flag,
    as in every other command; ``--json FILE`` becomes that option with FILE, and ``--json -`` becomes ``--json``.
    """

    class Renamed(TyperCommand):
        def parse_args(self, ctx, args: list[str]) -> list[str]:
            return super().parse_args(ctx, rewrite(args, options, json_file))

    return Renamed


def rewrite(args: list[str], options: dict[str, str], json_file: str | None = None) -> list[str]:
    """``args`` with the old spellings replaced by the new ones (nothing after ``--`` is touched)."""
    out: list[str] = []
    warned: set[str] = set()

    def warn(old: str, new: str) -> None:
        if old not in warned:
            warned.add(old)
            stderr_line(f"seqtool: {old} is now {new}; the old name will go")

    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            out += args[i - 1 :]
            break
        name, eq, value = arg.partition("=")
        if name in options:
            warn(name, options[name])
            out.append(options[name] + eq + value)
            continue
        if name == "--json" and json_file is not None:
            given = value if eq else (args[i] if i < len(args) else None)
            if given is not None and _old_json_value(given):
                i += 0 if eq else 1
                if given == "-":
                    warn("--json -", "--json")
                    out.append("--json")
                else:
                    warn("--json FILE", f"{json_file} FILE")
                    out += [json_file, given]
                continue
        out.append(arg)
    return out


def _old_json_value(arg: str) -> bool:
    """Whether the word after ``--json`` was its file in the old form (``-`` or a .json name) rather
    than the next argument: a run directory or checkpoint after the flag stays an argument."""
    return arg == "-" or (not arg.startswith("-") and arg.lower().endswith(".json"))
