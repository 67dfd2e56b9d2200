"""seqtool: model text as sequences with recurrent networks.

The package is split by job: ``seqtool.text`` turns text into ids and back, ``seqtool.models``
holds the recurrent cells and the language model around them, and ``seqtool.cli`` is the only
place that talks to a terminal. Importing ``seqtool`` is cheap: torch is imported only by the
modules that need it.

Docstrings that cite "the lecture" or "the RNN lecture" with a slide title in quotes mean the
lecture "Recurrent Neural Networks" of the SDU Summer School in Deep Learning (summer 2022), the
course seqtool's features follow (see the README).
"""
__version__ = "0.1.0"

from seqtool.errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    CorpusError,
    OutputError,
    SeqtoolError,
    TokenizerError,
    UsageError,
)

__all__ = [
    "__version__",
    "SeqtoolError",
    "CorpusError",
    "TokenizerError",
    "CheckpointError",
    "ConfigError",
    "UsageError",
    "OutputError",
]
