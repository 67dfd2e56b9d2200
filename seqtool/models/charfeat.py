"""Character features of words, so a tagger or classifier has something to say about words training never saw.

A word-level model maps every unseen word to the OOV id; its spelling (a suffix "-ly", a capital,
a digit) is lost. Here each word form is read character by character and summarised in a vector
that is concatenated to the word embedding: [word embedding ; char features].

- ``lstm``: a bidirectional LSTM over the characters, final forward and backward states
  concatenated (Lample et al. 2016, "Neural Architectures for Named Entity Recognition").
- ``cnn``: a width-3 convolution over the character embeddings, max over the characters
  (Ma & Hovy 2016, "End-to-end Sequence Labeling via Bi-directional LSTM-CNNs-CRF").

Characters come from an alphabet fixed at training (``char_alphabet``): id 0 pads, 1 is any
character the alphabet lacks, the alphabet's i-th character is i + 2. A word keeps at most
``MAX_CHARS`` characters: a longer one keeps its first and last MAX_CHARS / 2 (prefix and suffix
are what tell a word's class). A dataset stores each distinct form once (``form_table``); a
batch runs the network once per distinct form in it, never on padding (``batch_chars``).
"""
from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

CHAR_FEATURES = ("none", "lstm", "cnn")
MAX_CHARS = 20  # a longer word keeps its first 10 and last 10 characters
PAD, UNKNOWN = 0, 1


def char_alphabet(words: Iterable[str]) -> str:
    """Every character of ``words``, sorted: the alphabet a run records."""
    seen: set[str] = set()
    for w in words:
        seen.update(w)
    return "".join(sorted(seen))


def _capped(word: str) -> str:
    half = MAX_CHARS // 2
    return word if len(word) <= MAX_CHARS else word[:half] + word[-half:]


def form_table(sentences: Sequence[Sequence[str]], alphabet: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """(forms (F, MAX_CHARS) char ids padded with 0, one distinct form per row; per sentence, its
    tokens' rows). A tagger's forms are the file's raw tokens (case and digits kept even when words are
    lowercased); a classifier's are its words as the tokenizer cuts them (seqtool.task_runs.word_forms)."""
    index = {c: i + 2 for i, c in enumerate(alphabet)}
    rows: dict[str, int] = {}
    form_ids = [np.array([rows.setdefault(t, len(rows)) for t in sent], dtype=np.int64) for sent in sentences]
    forms = np.zeros((len(rows), MAX_CHARS), dtype=np.int32)
    for word, r in rows.items():
        ids = [index.get(c, UNKNOWN) for c in _capped(word)] or [UNKNOWN]  # an empty token still reads one symbol
        forms[r, : len(ids)] = ids
    return forms, form_ids


class CharBatch(NamedTuple):
    """A batch's distinct word forms and where each token finds its own."""

    chars: torch.Tensor  # (U, C) char ids of the U distinct forms, padded with 0
    lengths: torch.Tensor  # (U,) characters per form, on the CPU (packing wants them there)
    index: torch.Tensor  # (L, B) row of each token's form; U at padding (a zero vector)

    def to(self, device) -> "CharBatch":
        return CharBatch(self.chars.to(device), self.lengths, self.index.to(device))


def batch_chars(forms: np.ndarray, form_ids: Sequence[np.ndarray], idx: np.ndarray) -> CharBatch:
    """The CharBatch of examples ``idx``, padded at the end like their ids (L, B)."""
    lens = np.array([len(form_ids[i]) for i in idx], dtype=np.int64)
    padded = np.full((int(lens.max()), len(idx)), -1, dtype=np.int64)
    for col, i in enumerate(idx):
        padded[: lens[col], col] = form_ids[i]
    valid = padded >= 0
    uniq, inverse = np.unique(padded[valid], return_inverse=True)  # each distinct form once
    index = np.full(padded.shape, len(uniq), dtype=np.int64)
    index[valid] = inverse.reshape(-1)
    chars = forms[uniq]
    counts = (chars != PAD).sum(1)
    chars = chars[:, : int(counts.max())]  # (U, C): no column of padding only
    return CharBatch(torch.from_numpy(chars.astype(np.int64)), torch.from_numpy(counts), torch.from_numpy(index))


class CharEncoder(nn.Module):
    """CharBatch -> (L, B, out_features): each token's character features, zeros at padding."""

    def __init__(self, kind: str, alphabet_size: int, char_dim: int, hidden: int):
        super().__init__()
        if kind not in CHAR_FEATURES[1:]:
            raise ValueError(f"char features must be one of {', '.join(CHAR_FEATURES[1:])} (got {kind!r})")
        self.kind = kind
        self.embed = nn.Embedding(alphabet_size + 2, char_dim, padding_idx=PAD)
        if kind == "lstm":
            self.rnn = nn.LSTM(char_dim, hidden, batch_first=True, bidirectional=True)
            self.out_features = 2 * hidden
        else:
            self.conv = nn.Conv1d(char_dim, hidden, kernel_size=3, padding=1)
            self.out_features = hidden

    def words(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """chars (U, C) and lengths (U,) -> one vector per form (U, F)."""
        x = self.embed(chars)  # (U, C, E)
        if self.kind == "lstm":
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, (h, _) = self.rnn(packed)  # h (2, U, H): the forward state after the last char, the backward after the first
            return torch.cat([h[0], h[1]], dim=-1)  # (U, 2H)
        y = self.conv(x.transpose(1, 2))  # (U, F, C); the pad embedding is 0, so edges read zeros
        inside = torch.arange(chars.shape[1], device=y.device) < lengths.to(y.device).unsqueeze(1)  # (U, C)
        return y.masked_fill(~inside.unsqueeze(1), float("-inf")).amax(-1)  # (U, F): max over the word's own chars

    def forward(self, batch: CharBatch) -> torch.Tensor:
        feats = self.words(batch.chars, batch.lengths)  # (U, F)
        feats = torch.cat([feats, feats.new_zeros(1, feats.shape[1])])  # row U: padding
        return feats[batch.index]  # (L, B, F)
