"""Tokenizers: text to ids and back, at the character, word, n-gram and subword level.

One code path for every command: ``tokenize`` fits and saves a tokenizer, ``train``, ``generate``
and ``eval`` load it and call the same ``encode``/``decode``. Fitting streams over line-aligned
text chunks (see ``seqtool.text.corpus``), so memory grows with the vocabulary, not the corpus.

One module per kind: ``base`` (the contract: options, markers, encode/decode, persistence),
``char``, ``word`` (words and n-grams: the Keras rules) and ``subword`` (SentencePiece). This
module picks the class for a level and reads ``tokenizer.json`` back.
"""
from __future__ import annotations

import base64
import json
from dataclasses import fields
from pathlib import Path

from seqtool.errors import TokenizerError
from seqtool.text.options import TokenizerOptions
from seqtool.text.tokenizers.base import DROPPED, FORMAT, FORMAT_VERSION, LINE_END, Tokenizer
from seqtool.text.tokenizers.char import CharTokenizer
from seqtool.text.tokenizers.subword import SubwordTokenizer
from seqtool.text.tokenizers.word import CharNgramTokenizer, NgramTokenizer, UnitTokenizer, WordTokenizer
from seqtool.text.vocab import Vocabulary

__all__ = [
    "DROPPED",
    "LINE_END",
    "CharNgramTokenizer",
    "CharTokenizer",
    "NgramTokenizer",
    "SubwordTokenizer",
    "Tokenizer",
    "TokenizerOptions",
    "UnitTokenizer",
    "WordTokenizer",
    "load_tokenizer",
    "make_tokenizer",
    "tokenizer_from_dict",
]

_CLASSES = {c.level: c for c in (CharTokenizer, WordTokenizer, NgramTokenizer, CharNgramTokenizer, SubwordTokenizer)}


def make_tokenizer(options: TokenizerOptions) -> Tokenizer:
    """An unfitted tokenizer for ``options`` (validated and with level defaults filled in)."""
    o = options.resolved()
    return _CLASSES[o.level](o)


def tokenizer_from_dict(d: dict, source: str = "tokenizer") -> Tokenizer:
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise TokenizerError(f"{source}: not a seqtool tokenizer; give the tokenizer.json written by seqtool tokenize")
    if d.get("version") != FORMAT_VERSION:
        raise TokenizerError(f"{source}: tokenizer format version {d.get('version')} is not supported by this seqtool (reads {FORMAT_VERSION}); upgrade seqtool or re-run tokenize")
    try:
        known = {f.name for f in fields(TokenizerOptions)}
        opts = TokenizerOptions(**{k: v for k, v in d["options"].items() if k in known})
        try:
            vocab = Vocabulary.from_dict(d["vocab"])
        except TokenizerError as e:  # the vocabulary does not know its file
            raise TokenizerError(f"{source}: {e.message}", fixes=e.fixes) from None
        cls = _CLASSES[d["level"]]
        if cls is SubwordTokenizer:
            tok = SubwordTokenizer(opts, vocab, base64.b64decode(d["sentencepiece_model"]))
            tok.sp  # fail now, not at first use, if the model bytes are damaged
            return tok
        return cls(opts, vocab)
    except TokenizerError:
        raise
    except Exception as e:  # noqa: BLE001 - any damage in the file is the same error for the user
        raise TokenizerError(f"{source}: tokenizer file is corrupt ({type(e).__name__}: {e}); re-run seqtool tokenize") from None


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load ``tokenizer.json`` (or a directory holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise TokenizerError(f"{p}: no tokenizer here; give a seqtool tokenize output directory or its tokenizer.json")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenizerError(f"{p}: tokenizer file is corrupt ({e}); re-run seqtool tokenize") from None
    return tokenizer_from_dict(d, str(p))
