"""The vocabulary: token <-> id, with training counts and the special tokens.

Ids follow the Keras ``Tokenizer`` convention the lecture uses: 0 is reserved for padding, then the
specials (an OOV token, an end-of-line token) if there are any, then the tokens by descending
training frequency, ties broken by first occurrence.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from seqtool.errors import TokenizerError

PAD = "<pad>"
PAD_ID = 0  # padding's id in every vocabulary; it never occurs in text, so it is never generated


@dataclass
class Vocabulary:
    tokens: list[str]
    counts: list[int]
    specials: dict[str, int] = field(default_factory=dict)  # role ("pad", "oov", "eos") -> id

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise TokenizerError("vocabulary has duplicate tokens; the tokenizer file is corrupt")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def oov_id(self) -> int | None:
        return self.specials.get("oov")

    @property
    def eos_id(self) -> int | None:
        return self.specials.get("eos")

    @classmethod
    def build(
        cls,
        counts: Mapping[str, int],
        specials: list[tuple[str, str]] = (),
        num_words: int | None = None,
        min_freq: int = 1,
        special_counts: Mapping[str, int] | None = None,
    ) -> "Vocabulary":
        """Keep tokens seen at least ``min_freq`` times, at most ``num_words`` of them.

        ``counts`` must iterate in first-occurrence order (a dict or Counter filled in corpus order
        does); the sort is stable, so equal counts keep that order. ``specials`` are (role, token)
        pairs placed after the padding id 0 and not counted in ``num_words``.
        """
        special_counts = special_counts or {}
        tokens = [PAD]
        ids = {"pad": 0}
        for role, tok in specials:
            if tok in ids.values() or tok in tokens:
                raise TokenizerError(f"special token {tok!r} is used twice; give distinct special tokens")
            ids[role] = len(tokens)
            tokens.append(tok)
        reserved = set(tokens)
        ranked = sorted(
            ((t, c) for t, c in counts.items() if c >= min_freq and t not in reserved),
            key=lambda tc: tc[1],
            reverse=True,
        )
        if num_words is not None:
            ranked = ranked[:num_words]
        out_counts = [0] + [special_counts.get(role, 0) for role, _ in specials]
        return cls(tokens + [t for t, _ in ranked], out_counts + [c for _, c in ranked], ids)

    def to_dict(self) -> dict:
        return {"tokens": self.tokens, "counts": self.counts, "specials": self.specials}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        try:
            tokens, counts, specials = list(d["tokens"]), [int(c) for c in d["counts"]], dict(d["specials"])
        except (KeyError, TypeError, ValueError) as e:
            raise TokenizerError(f"vocabulary is malformed ({e}); re-run seqtool tokenize") from None
        if len(tokens) != len(counts):
            raise TokenizerError("vocabulary tokens and counts differ in length; re-run seqtool tokenize")
        specials = {k: int(v) for k, v in specials.items()}
        for role, i in specials.items():
            if not 0 <= i < len(tokens):
                raise TokenizerError(f"special token id {i} ({role}) is outside the vocabulary (0..{len(tokens) - 1}); re-run seqtool tokenize")
        return cls(tokens, counts, specials)
