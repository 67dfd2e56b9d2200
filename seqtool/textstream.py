"""One sample's token ids -> its text as it is generated, cut at the first stop string.

This module's job is turning ids into text piece by piece (a character, a word, the bytes of a
subword that make whole characters), holding back text that may be the start of a stop string,
and handing each released piece with its token's probability to a sink.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import deque
from typing import Callable, Sequence

from seqtool.text.tokenizers import Tokenizer
from seqtool.text.vocab import PAD_ID

Sink = Callable[[str, "float | None"], None]
"""``sink(text, prob)``: a released piece of text and its token's probability (or None)."""

class TextStream:
    """One sample's ids -> text as they arrive, cut at the first stop string.

    Each token's text is known at once (a character; a word after a space; subword pieces are
    decoded per line, since bytes may join into one character). Text that could be the start of
    a stop string is held back until it is clearly not; then it is released as (text, prob)
    pieces, one per token, so a caller can colour each token by its probability. Each released
    piece goes to ``sink`` (when given) and is also returned by ``push``/``flush``.
    """

    def __init__(self, tok: Tokenizer, stop: Sequence[str] = (), sink: Sink | None = None):
        self.tok = tok
        self.sink = sink
        self.stop = [s for s in stop if s]
        self.max_stop = max((len(s) for s in self.stop), default=0)
        self.text = ""
        self.starts: list[int] = []  # where each token's text starts in self.text
        self.stopped_at: int | None = None
        self._released = 0
        self._pending: deque = deque()  # (start, end, prob) of tokens not yet released
        tokens, specials = tok.vocab.tokens, tok.vocab.specials
        self._tokens = tokens
        self._eos = tok.vocab.eos_id
        self._skip = {i for r, i in specials.items() if r != "oov"}
        self._sep = tok.decode_sep
        self._line_start = True
        self._line: list[int] = []  # subword: the current line's ids
        self._line_text = ""

    def _piece(self, i: int) -> str:
        level = self.tok.level
        if level == "subword":
            if i == self._eos:
                self._line, self._line_text = [], ""
                return "\n"
            if i == PAD_ID:
                return ""
            self._line.append(i)
            new = self.tok.decode(self._line).rstrip("\ufffd")  # a partial UTF-8 byte sequence waits
            if new.startswith(self._line_text):
                piece = new[len(self._line_text):]
                self._line_text = new
                return piece
            return ""
        if i == self._eos and level != "char":
            self._line_start = True
            return "\n"
        if i in self._skip:
            return ""
        if self._sep and not self._line_start:
            piece = self._sep + self._tokens[i]
        else:
            piece = self._tokens[i]
        self._line_start = False
        return piece

    def push(self, token_id: int, prob: float | None = None) -> list[tuple[str, float | None]]:
        """Add one token; return the pieces of text that are now final (possibly none)."""
        if self.stopped_at is not None:
            return []
        start = len(self.text)
        self.text += self._piece(token_id)
        self.starts.append(start)
        self._pending.append((start, len(self.text), prob))
        if not self.stop:
            return self._release(len(self.text))
        lo = max(0, start - self.max_stop + 1)
        hits = [i for i in (self.text.find(s, lo) for s in self.stop) if i >= 0]
        if hits:
            self.stopped_at = min(hits)
            return self._release(self.stopped_at, partial=True)
        hold = 0
        for s in self.stop:  # the longest tail that may still grow into a stop string
            for k in range(min(len(s) - 1, len(self.text)), hold, -1):
                if self.text.endswith(s[:k]):
                    hold = k
                    break
        return self._release(len(self.text) - hold)

    def flush(self) -> list[tuple[str, float | None]]:
        """Release everything held back (the sample has ended)."""
        return self._release(len(self.text) if self.stopped_at is None else self.stopped_at, partial=True)

    def _release(self, limit: int, partial: bool = False) -> list[tuple[str, float | None]]:
        out = []
        while self._pending:
            start, end, prob = self._pending[0]
            if end <= limit:
                self._pending.popleft()
                piece = self.text[max(start, self._released):end]
                self._released = max(self._released, end)
            elif partial and start < limit:
                piece = self.text[max(start, self._released):limit]
                self._released = limit
                self._pending.clear()
            else:
                break
            if piece:
                out.append((piece, prob))
        if partial and self.stopped_at is not None:
            self._pending.clear()
        if self.sink is not None:
            for piece, prob in out:
                self.sink(piece, prob)
        return out

    @property
    def final_text(self) -> str:
        return self.text if self.stopped_at is None else self.text[: self.stopped_at]

    @property
    def kept_tokens(self) -> int:
        """Tokens whose text starts before the stop string (all of them if none was found)."""
        return len(self.starts) if self.stopped_at is None else bisect_left(self.starts, self.stopped_at)
