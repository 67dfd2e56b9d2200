"""Subword level: a SentencePiece model (BPE or unigram) trained in memory and kept in tokenizer.json."""
from __future__ import annotations

import base64
import io
import re
from typing import Iterable

import numpy as np

from seqtool.errors import TokenizerError
from seqtool.text.tokenizers.base import Tokenizer, surrogate_error
from seqtool.text.options import TokenizerOptions
from seqtool.text.vocab import Vocabulary


class SubwordTokenizer(Tokenizer):
    """SentencePiece (BPE or unigram) trained in memory; its model bytes live in tokenizer.json.

    Normalisation is the identity and whitespace is kept as it is, with byte fallback where the
    vocabulary has room, so ``decode(encode(text)) == text``. Ids are SentencePiece's own: 0 is
    <pad>, 1 <unk>, 2 <eos> (when line ends are kept).
    """

    level = "subword"
    # A piece never spans a space (SentencePiece splits words before each one, as U+2581), so a long
    # line cut just before a space encodes as the whole line does; tabs may sit inside pieces.
    cut_before = b" "

    def __init__(self, options: TokenizerOptions, vocab: Vocabulary | None = None, model: bytes | None = None):
        super().__init__(options, vocab)
        self.model = model
        self._sp = None

    def fit(self, chunks: Iterable[str]) -> "SubwordTokenizer":
        o = self.options
        lines, chars = _training_lines(chunks)
        if not lines:
            raise TokenizerError("the training text has no tokens; give a corpus with some text")
        n_special = 3 if o.eos else 2
        byte_fallback = o.vocab_size >= n_special + 256 + len(chars)
        try:
            self.model = _train(lines, o, o.vocab_size, byte_fallback)
        except RuntimeError as e:
            self.model = self._retry_or_explain(str(e), lines, byte_fallback)
        self._make_vocab()
        return self

    def _retry_or_explain(self, msg: str, lines: list[str], byte_fallback: bool) -> bytes:
        """After SentencePiece refused ``--vocab-size``: train at the largest size it allows
        (with ``--cap-vocab-size``), or raise an error that says which option to change."""
        o = self.options
        m = re.search(r"value <= (\d+)", msg)
        if m and o.cap_vocab_size:
            return _train(lines, o, int(m.group(1)), byte_fallback)
        if m:
            raise TokenizerError(
                f"--vocab-size {o.vocab_size} is too large for this corpus (the largest that works is {m.group(1)})",
                fixes=(f"use --vocab-size {m.group(1)}", "pass --cap-vocab-size to use it automatically"),
            ) from None
        if "all_chars_count" in msg or "!sentences_.empty()" in msg:
            raise TokenizerError(
                "the training text has no character sentencepiece can learn from (only NUL characters, carriage "
                "returns and line ends); give text with letters"
            ) from None
        if "smaller than required_chars" in msg:
            need = re.search(r"vs (\d+)", msg)
            raise TokenizerError(
                f"--vocab-size {o.vocab_size} is too small: the corpus has "
                f"{need.group(1) if need else 'more'} characters to cover",
                fixes=("raise --vocab-size", "lower --character-coverage"),
            ) from None
        if "no pieces are loaded" in msg:  # unigram on a text of one repeated character, e.g. "00000000"
            raise TokenizerError(
                "sentencepiece's unigram model found no subword pieces in this text (too little or too repetitive text)",
                fixes=("use --model-type bpe", "train on more varied text"),
            ) from None
        raise TokenizerError(f"sentencepiece could not train: {msg.strip().splitlines()[-1]}") from None

    def _make_vocab(self) -> None:
        sp = self.sp
        tokens = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
        specials = {"pad": 0, "oov": 1}
        if self.options.eos:
            specials["eos"] = 2
        counts = self.vocab.counts if self.vocab is not None else [0] * len(tokens)
        self.vocab = Vocabulary(tokens, counts, specials)

    @property
    def sp(self):
        if self._sp is None:
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_proto=self.model)
        return self._sp

    def encode_raw(self, text: str) -> np.ndarray:
        if not text.isascii():
            try:
                text.encode("utf-8")  # SentencePiece takes only encodable str (else a TypeError)
            except UnicodeEncodeError as e:
                raise surrogate_error(e) from None
        lines = text.split("\n")
        pieces = self.sp.encode(lines, out_type=int)
        marker = self.line_end_marker
        out: list[int] = []
        for j, ids in enumerate(pieces):
            out.extend(ids)
            if j < len(lines) - 1:
                out.append(marker)
        return np.asarray(out, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        eos = self.vocab.eos_id
        n = len(self.vocab)
        lines: list[list[int]] = [[]]
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise TokenizerError(f"id {i} is outside the vocabulary (0..{n - 1}); use the tokenizer that made these ids")
            if i == eos:
                lines.append([])
            elif i != 0:
                lines[-1].append(i)
        return "\n".join(self.sp.decode(line) for line in lines)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["sentencepiece_model"] = base64.b64encode(self.model).decode("ascii")
        return d


MAX_SENTENCE = 1 << 10
"""Characters in one training sentence (at most 4 bytes each: within SentencePiece's ``max_sentence_length``,
which skips longer ones). A longer line trains as several, cut just before a space: the words
SentencePiece counts are the same, and training is fast (2 MB as 16K-character sentences took
~19 s, as 1K-character ones 1 s)."""


def _training_lines(chunks: Iterable[str]) -> tuple[list[str], set[str]]:
    """The non-empty lines of the training text, and the characters of the first 2M of them.

    A line read in several chunks is joined again, and a line over ``MAX_SENTENCE`` characters is
    cut into sentences the same way whatever the chunks, so the model does not depend on them.
    """
    lines: list[str] = []
    chars: set[str] = set()

    def add(line: str) -> str:
        """Add the sentences of ``line`` but its last ``MAX_SENTENCE`` characters or fewer, and return those."""
        while len(line) > MAX_SENTENCE:
            at = line.rfind(" ", 1, MAX_SENTENCE + 1)
            at = MAX_SENTENCE if at < 1 else at
            add_sentence(line[:at])
            line = line[at:]
        return line

    def add_sentence(s: str) -> None:
        if s:
            lines.append(s)
            if len(lines) <= 2_000_000:
                chars.update(s)

    pending = ""  # the line the next chunk goes on with
    for chunk in chunks:
        *whole, pending = (pending + chunk).split("\n")
        for line in whole:
            add_sentence(add(line))
        pending = add(pending)
    add_sentence(pending)
    return lines, chars


def _train(lines: list[str], o: TokenizerOptions, vocab_size: int, byte_fallback: bool) -> bytes:
    """A SentencePiece model trained in memory on ``lines``, as its serialized bytes."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=buf,
        vocab_size=vocab_size,
        model_type=o.model_type,
        character_coverage=o.character_coverage,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        split_digits=False,
        byte_fallback=byte_fallback,
        pad_id=0,
        unk_id=1,
        eos_id=2 if o.eos else -1,
        bos_id=-1,
        pad_piece="<pad>",
        unk_piece="<unk>",
        eos_piece="<eos>",
        input_sentence_size=2_000_000,
        shuffle_input_sentence=True,
        max_sentence_length=4 * MAX_SENTENCE,
        num_threads=2,
        minloglevel=2,
    )
    return buf.getvalue()
