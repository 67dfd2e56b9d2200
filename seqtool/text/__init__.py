"""Text to ids and back: corpus reading, tokenizers, vocabulary, document vectors.

``make_tokenizer(TokenizerOptions(level=...))`` gives a tokenizer to ``fit`` on text chunks;
``load_tokenizer(path)`` gives one back from ``tokenizer.json``. Both share ``encode``/``decode``.
Names are loaded on first use, so importing ``seqtool.text.constants`` stays free of numpy.
"""
from seqtool.text.constants import KERAS_FILTERS, LEVELS

_LAZY = {
    "Tokenizer": "seqtool.text.tokenizers",
    "TokenizerOptions": "seqtool.text.options",
    "load_tokenizer": "seqtool.text.tokenizers",
    "make_tokenizer": "seqtool.text.tokenizers",
    "tokenizer_from_dict": "seqtool.text.tokenizers",
    "Vocabulary": "seqtool.text.vocab",
}

__all__ = ["KERAS_FILTERS", "LEVELS", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seqtool.text' has no attribute {name!r}")
