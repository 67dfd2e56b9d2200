"""Character features: forms stored once and capped, the network run once per distinct form and never on
padding, a padded batch equal to each sentence alone, and unseen words tagged by their spelling."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from seqtool.models import ModelConfig
from seqtool.models.charfeat import MAX_CHARS, UNKNOWN, CharEncoder, batch_chars, char_alphabet, form_table
from seqtool.models.heads import SequenceTagger
from seqtool.tasks.batches import EpochBatches, TaskData

torch.set_num_threads(1)
SENTS = [["The", "cat", "sat", "."], ["A", "cat"], ["Dogs", "ran", "far", "away", "quickly", "."]]


def test_forms_are_stored_once_and_long_words_keep_prefix_and_suffix():
    alphabet = char_alphabet([*(w for s in SENTS for w in s), "bx"])
    long = "a" * 10 + "b" * 15 + "ly"  # 27 characters
    forms, form_ids = form_table([*SENTS, [long, "cat", "Ωx"]], alphabet)
    assert len(forms) == len({w for s in SENTS for w in s}) + 2 and forms.shape[1] == MAX_CHARS
    assert form_ids[0][1] == form_ids[1][1] == form_ids[3][1]  # "cat" is one row
    index = {c: i + 2 for i, c in enumerate(alphabet)}
    assert forms[form_ids[3][0]].tolist() == [index["a"]] * 10 + [index["b"]] * 8 + [index["l"], index["y"]]
    assert forms[form_ids[3][2]].tolist()[:3] == [UNKNOWN, index["x"], 0]  # a character training never saw


def test_a_batch_runs_each_distinct_form_once_and_padding_reads_zeros():
    forms, form_ids = form_table(SENTS, char_alphabet(w for s in SENTS for w in s))
    cb = batch_chars(forms, form_ids, np.array([2, 1]))
    assert cb.index.shape == (6, 2) and len(cb.chars) == 8  # 6 + 2 words, all distinct
    assert cb.chars.shape[1] == len("quickly")  # no column of padding only
    assert (cb.index[2:, 1] == len(cb.chars)).all()  # the short sentence's padding points past the forms
    for kind, width in (("lstm", 10), ("cnn", 5)):
        torch.manual_seed(0)
        enc = CharEncoder(kind, 30, 4, 5)
        out = enc(cb)  # (L, B, F)
        assert out.shape == (6, 2, width) and (out[2:, 1] == 0).all() and (out[:2, 1] != 0).all()
        row = int(cb.index[4, 0])  # "quickly", run alone without any padding column
        n = int(cb.lengths[row])
        torch.testing.assert_close(out[4, 0], enc.words(cb.chars[row : row + 1, :n], cb.lengths[row : row + 1])[0])


@pytest.mark.parametrize("kind", ["lstm", "cnn"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_padded_batch_with_char_features_equals_each_sentence_alone(kind, cell):
    sents = [["Oh", "the", "quickly", "walked"], ["x"], ["cat", "cats", "Catted"]]
    forms, form_ids = form_table(sents, char_alphabet(w for s in sents for w in s))
    seqs = [np.arange(1, len(s) + 1) for s in sents]
    data = TaskData(seqs, [np.zeros(len(s), dtype=np.int64) for s in sents], "tag", forms, form_ids)
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=9, cell=cell, hidden=6, layers=1, embed_dim=5, dropout=0.0)
    model = SequenceTagger(cfg, 4, bidirectional=True, chars=CharEncoder(kind, len(char_alphabet(w for s in sents for w in s)), 4, 3)).eval()
    b = data.batch(np.arange(3))
    together = model(b.ids, b.lengths, b.chars)  # (L, B, T)
    for col in range(3):
        alone = data.batch(np.array([col]))
        n = len(sents[col])
        torch.testing.assert_close(together[:n, col], model(alone.ids, alone.lengths, alone.chars)[:, 0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="pass chars"):
        model(b.ids, b.lengths)


# -------------------------------------------------------------------- unseen words by their suffix

SUFFIXES = {"ly": 0, "ed": 1, "ing": 2}  # ADV, VERB, NOUN: the tag is in the spelling only


def _words(rng, n, avoid=()):
    out = []
    while len(out) < 3 * n:
        suf = list(SUFFIXES)[len(out) // n]
        w = "".join(rng.choice("bcdfgkmnprstvz") for _ in range(rng.randint(2, 4))) + suf
        if w not in avoid and (w, SUFFIXES[suf]) not in out:
            out.append((w, SUFFIXES[suf]))
    return out


def _sentences(rng, vocab, n):
    sents = [[rng.choice(vocab) for _ in range(rng.randint(2, 6))] for _ in range(n)]
    return [[w for w, _ in s] for s in sents], [np.array([t for _, t in s]) for s in sents]


def _unseen_accuracy(char_features: bool, seed: int = 0) -> float:
    rng = random.Random(seed)
    seen = _words(rng, 20)
    unseen = _words(rng, 20, avoid={w for w, _ in seen})
    xs, ys = _sentences(rng, seen, 200)
    tx, ty = _sentences(rng, unseen, 60)
    index = {w: i + 2 for i, w in enumerate(sorted({w for w, _ in seen}))}  # 1 is the OOV id, 0 padding
    alphabet = char_alphabet(w for s in xs for w in s) if char_features else ""
    def data(sents, tags):
        seqs = [np.array([index.get(w, 1) for w in s]) for s in sents]
        return TaskData(seqs, tags, "tag", *(form_table(sents, alphabet) if alphabet else (None, None)))
    train, test = data(xs, ys), data(tx, ty)
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=len(index) + 2, cell="lstm", hidden=16, layers=1, embed_dim=16, dropout=0.0)
    model = SequenceTagger(cfg, 3, chars=CharEncoder("cnn", len(alphabet), 8, 16) if alphabet else None)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    batches = EpochBatches(train, 20, seed, word_dropout=0.2, oov_id=1)  # both models meet the OOV id in training
    for _ in range(60):
        b = batches.next()
        opt.zero_grad()
        model.loss(b.ids, b.lengths, b.targets, chars=b.chars).backward()
        opt.step()
    b = test.batch(np.arange(len(test)))
    assert (b.ids == 1).logical_or(b.ids == 0).all()  # every test word is unseen
    pred = model.eval().decode(b.ids, b.lengths, b.chars)
    return float(np.mean(np.concatenate([np.array(p) == t for p, t in zip(pred, ty)])))


@pytest.mark.slow
def test_char_features_tag_unseen_words_by_their_suffix():
    with_chars, words_only = _unseen_accuracy(True), _unseen_accuracy(False)
    assert with_chars >= 0.9 and words_only <= 0.6, (with_chars, words_only)  # three balanced tags: a word-only guess is ~1/3
