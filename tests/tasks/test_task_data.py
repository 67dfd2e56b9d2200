"""Vocabularies, the stratified split, class weights and length-bucketed batches."""
from __future__ import annotations

import numpy as np
import pytest

from seqtool.errors import CorpusError
from seqtool.tasks.data import (bucket_batches, check_classes, class_weights, encode_tokens, label_set, pad_batch,
                                stratified_split, token_vocab)


def test_label_set_orders_numbers_numerically():
    assert label_set(["10", "2", "2", "0"]) == ["0", "2", "10"]
    assert label_set(["pos", "neg"]) == ["neg", "pos"]


def test_one_class_is_refused():
    with pytest.raises(CorpusError, match="t.tsv: every example has the label 'pos'"):
        check_classes(["pos", "pos"], "t.tsv")


def test_token_vocab_and_unseen_words():
    v = token_vocab([["The", "cat"], ["the", "dog"]], lower=True)
    ids = encode_tokens(v, ["THE", "zebra"], lower=True)
    assert v.tokens[ids[0]] == "the" and ids[1] == v.oov_id


def test_stratified_split_keeps_every_class_in_both_parts():
    labels = ["a"] * 90 + ["b"] * 9 + ["c"] * 2 + ["d"]
    train, val = stratified_split(labels, 0.1, seed=3)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))
    held = [labels[i] for i in val]
    assert held.count("a") == 9 and held.count("b") == 1 and held.count("c") == 1 and held.count("d") == 0  # a lone example trains
    assert {labels[i] for i in train} == {"a", "b", "c", "d"}


def test_class_weights_balance_the_classes():
    w = class_weights(np.array([0, 0, 0, 1]), 3)
    assert w[0] * 3 == pytest.approx(w[1] * 1) and w[2] == 0.0


def test_bucket_batches_cover_every_index_once_with_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=1000)
    batches = bucket_batches(lengths, 20, np.random.default_rng(1), pool=10)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000)) and max(len(b) for b in batches) == 20
    waste = sum(lengths[b].max() * len(b) - lengths[b].sum() for b in batches)
    plain = sum(lengths[b].max() * len(b) - lengths[b].sum() for b in np.array_split(rng.permutation(1000), 50))
    assert waste < plain / 4  # padding shrinks several-fold against random batches
    again = bucket_batches(lengths, 20, np.random.default_rng(1), pool=10)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))  # seeded: the same epoch twice
    assert [b.tolist() for b in bucket_batches([3, 1, 2], 2)] == [[1, 2], [0]]  # no rng: sorted, in order


def test_pad_batch():
    ids, lens = pad_batch([np.array([5, 6, 7]), np.array([8])], np.array([1, 0]))
    assert ids.T.tolist() == [[8, 0, 0], [5, 6, 7]] and lens.tolist() == [1, 3]
