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

MAX_TOKENIZER_BYTES = 1 << 30
"""The largest tokenizer file read (1 GB): a 10M-word vocabulary takes ~200 MB, so anything larger
is damage or hostile, and parsing it would take many times its size in memory. The vocabulary and a
SentencePiece model inside it are held to the same bound (a dict from a checkpoint is not a file)."""

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
        _check_sizes(d, source)
        try:
            vocab = Vocabulary.from_dict(d["vocab"])
        except TokenizerError as e:  # the vocabulary does not know its file
            raise TokenizerError(f"{source}: {e.message}", fixes=e.fixes) from None
        cls = _CLASSES[d["level"]]
        if cls is SubwordTokenizer:
            tok = SubwordTokenizer(opts, vocab, base64.b64decode(d["sentencepiece_model"]))
            if tok.sp.get_piece_size() != len(vocab):  # (also fails now, not at first use, if the model bytes are damaged)
                raise TokenizerError(
                    f"{source}: the sentencepiece model has {tok.sp.get_piece_size()} pieces but the vocabulary {len(vocab)}; "
                    "the file was edited or damaged: re-run seqtool tokenize"
                )
            return tok
        return cls(opts, vocab)
    except TokenizerError:
        raise
    except Exception as e:  # noqa: BLE001 - any damage in the file is the same error for the user
        raise TokenizerError(f"{source}: tokenizer file is corrupt ({type(e).__name__}: {e}); re-run seqtool tokenize") from None


def _check_sizes(d: dict, source: str) -> None:
    """Refuse a vocabulary or SentencePiece model beyond any real tokenizer before building from it."""
    tokens = d["vocab"]["tokens"]
    if len(tokens) > MAX_TOKENIZER_BYTES // 4:  # each entry takes at least 4 bytes of JSON ("", and a count)
        raise TokenizerError(f"{source}: the vocabulary has {len(tokens)} tokens, above the {MAX_TOKENIZER_BYTES // 4} a tokenizer can have; the file is damaged")
    blob = d.get("sentencepiece_model")
    if isinstance(blob, str) and len(blob) > MAX_TOKENIZER_BYTES:
        raise TokenizerError(f"{source}: the sentencepiece model is {len(blob)} bytes, above the {_mb(MAX_TOKENIZER_BYTES)} a tokenizer file may have; the file is damaged")


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.0f} MB"


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load ``tokenizer.json`` (or a directory holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise TokenizerError(f"{p}: no tokenizer here; give a seqtool tokenize output directory or its tokenizer.json")
    size = p.stat().st_size
    if size > MAX_TOKENIZER_BYTES:
        raise TokenizerError(
            f"{p}: {_mb(size)}, above the {_mb(MAX_TOKENIZER_BYTES)} a tokenizer file may have; "
            "give the tokenizer.json written by seqtool tokenize"
        )
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenizerError(f"{p}: tokenizer file is corrupt ({e}); re-run seqtool tokenize") from None
    return tokenizer_from_dict(d, str(p))
