"""Document vectors and padding, against values worked out by hand (Keras semantics)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seqtool.errors import UsageError
from seqtool.text.vectorize import document_frequencies, one_hot_sequences, pad_sequences, texts_to_matrix


def test_binary_is_the_lectures_vectorize_sequences():
    x = texts_to_matrix([[3, 5]], 10000, "binary")
    assert x.shape == (1, 10000) and x.sum() == 2 and x[0, 3] == 1 and x[0, 5] == 1


def test_count_and_freq():
    seqs = [[1, 2, 1], [3]]
    np.testing.assert_array_equal(texts_to_matrix(seqs, 4, "count"), [[0, 2, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(texts_to_matrix(seqs, 4, "freq"), [[0, 2 / 3, 1 / 3, 0], [0, 0, 0, 1]])


def test_tfidf_by_hand():
    seqs = [[1, 2, 1], [1, 3]]
    df = document_frequencies(seqs, 4)
    assert df.tolist() == [0, 2, 1, 1]
    x = texts_to_matrix(seqs, 4, "tfidf", df, n_docs=2)
    idf = lambda d: math.log(1 + 2 / (1 + d))  # noqa: E731
    assert x[0, 1] == pytest.approx((1 + math.log(2)) * idf(2))
    assert x[0, 2] == pytest.approx(1 * idf(1))
    assert x[1, 3] == pytest.approx(1 * idf(1))
    assert x[0, 0] == 0 and x[1, 2] == 0


def test_ids_beyond_dim_and_padding_are_ignored():
    x = texts_to_matrix([[0, 2, 9]], 4, "count")
    np.testing.assert_array_equal(x, [[0, 0, 1, 0]])


def test_unknown_mode():
    with pytest.raises(UsageError, match="--matrix"):
        texts_to_matrix([[1]], 3, "bogus")


def test_pad_sequences_pre_and_post():
    seqs = [[1, 2, 3], [4], []]
    np.testing.assert_array_equal(pad_sequences(seqs), [[1, 2, 3], [0, 0, 4], [0, 0, 0]])
    np.testing.assert_array_equal(pad_sequences(seqs, padding="post"), [[1, 2, 3], [4, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2), [[2, 3], [0, 4], [0, 0]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2, truncating="post"), [[1, 2], [0, 4], [0, 0]])
    with pytest.raises(UsageError, match="--padding"):
        pad_sequences(seqs, padding="middle")


def test_one_hot_sequences_padding_stays_zero():
    x = one_hot_sequences(np.array([[0, 2], [1, 1]]), 3)
    assert x.shape == (2, 2, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[0], [[0, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(x[1], [[0, 1, 0], [0, 1, 0]])
