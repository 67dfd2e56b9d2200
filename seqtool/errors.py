"""Typed errors: what the library raises, and what the CLI turns into one line and an exit code.

Every error carries a message meant for a person: it names the file or option at fault and says
what to do. ``exit_code`` is 1 for bad data or environment and 2 for bad usage of the command line.
The rule: an error about an option's value alone (out of range, an unknown choice, malformed, not
finite) or about options that cannot go together is a UsageError (2); one that depends on the data
or the machine (a batch too large for this corpus, cutoffs past this vocabulary, no GPU for
``--device cuda``, vectors of another dimension) keeps its own kind (1).
"""
from __future__ import annotations


class SeqtoolError(Exception):
    """Base of every error seqtool raises on purpose.

    ``fixes`` are the ways out a message suggests, joined with " or " after a "; ". A fix that names an
    option (``"pass --errors replace"``) belongs there rather than in the message, because the same
    error reaches commands that lack that option (``generate`` has no ``--errors``): the CLI shows only
    the fixes its command offers (``for_options``). ``str(e)`` shows them all.
    """

    exit_code = 1
    same_on_every_process = False  # under torchrun every process meets it alike: process 0 alone says it

    def __init__(self, message: str = "", *, fixes: tuple[str, ...] | list[str] = ()):
        self.message = message
        self.fixes = tuple(fixes)
        super().__init__(self.for_options(None))

    def for_options(self, offered: set[str] | frozenset[str] | None) -> str:
        """The message with the fixes whose options are all in ``offered`` (None: every fix)."""
        keep = [f for f in self.fixes if offered is None or set(options_named(f)) <= set(offered)]
        return f"{self.message}; {' or '.join(keep)}" if keep else self.message

    def __reduce__(self):  # raised in a tokenize worker process: the fixes cross the pipe apart
        return (_rebuild, (type(self), self.message, self.fixes))


def _rebuild(cls, message, fixes):
    return cls(message, fixes=fixes)


def options_named(text: str) -> list[str]:
    """The command-line options (``--name``) a piece of text names, in order."""
    import re

    return re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text)


class CorpusError(SeqtoolError):
    """A corpus file is missing, unreadable, empty, binary or not valid UTF-8."""


class TokenizerError(SeqtoolError):
    """A tokenizer cannot be fitted, saved or loaded (e.g. a vocabulary size the corpus cannot give)."""


class CheckpointError(SeqtoolError):
    """A checkpoint or run directory is missing, foreign, corrupt or does not match its tokenizer."""


class ConfigError(SeqtoolError):
    """A configuration that is valid on its own does not fit the data, model or machine at hand."""


class UsageError(SeqtoolError):
    """Options that cannot be used together, or a value outside its allowed range."""

    exit_code = 2
    same_on_every_process = True  # the same command line on every process


class OutputError(SeqtoolError):
    """An output location exists and may not be replaced, or cannot be written."""


class Terminated(BaseException):
    """SIGTERM arrived (a scheduler, container or torchrun stopping the job).

    The CLI raises it from its signal handler so the program unwinds as it does for Ctrl-C: temporary
    files and directories are removed on the way out, and the exit code is 143 (128 + SIGTERM). It is a
    BaseException so that no ``except Exception`` in between can swallow it.
    """
