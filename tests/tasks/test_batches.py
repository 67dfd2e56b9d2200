"""Epochs of bucketed batches: every example once per epoch, seeded orders, exact positions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seqtool.tasks.batches import EpochBatches, TaskData


def _data(kind="classify", n=37, seed=0):
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(1, 9, size=int(k)) for k in rng.integers(1, 12, size=n)]
    targets = [int(t) for t in rng.integers(0, 3, size=n)] if kind == "classify" else [rng.integers(0, 4, size=len(s)) for s in seqs]
    return TaskData(seqs, targets, kind)


def _seen(batches, n):
    out = []
    for _ in range(n):
        ids, lengths, targets, _ = batches.next()
        out.append((ids.clone(), lengths.clone(), targets.clone()))
    return out


def test_an_epoch_covers_every_example_once_and_the_next_epoch_reshuffles():
    data = _data()
    b = EpochBatches(data, 8, seed=1)
    k = b.per_epoch
    first = _seen(b, k)
    assert (b.epoch, b.index) == (1, 0)
    assert sorted(x for _, lens, _ in first for x in lens.tolist()) == sorted(data.lengths.tolist())
    assert sum(len(lens) for _, lens, _ in first) == len(data)
    second = _seen(b, k)
    assert any(not np.array_equal(a[1], c[1]) for a, c in zip(first, second))


def test_resuming_at_a_saved_position_replays_the_same_batches():
    data = _data()
    a = EpochBatches(data, 8, seed=3)
    _seen(a, 7)  # into the second epoch
    state = a.state_dict()
    rest = _seen(a, 6)
    b = EpochBatches(data, 8, seed=3)
    b.load_state_dict(state)
    for (i1, l1, t1), (i2, l2, t2) in zip(rest, _seen(b, 6)):
        assert np.array_equal(i1, i2) and np.array_equal(l1, l2) and np.array_equal(t1, t2)


def test_tag_batches_pad_tags_like_ids():
    data = _data("tag")
    ids, lengths, tags, _ = data.batch(np.array([0, 1, 2]))
    assert tags.shape == ids.shape
    for col, i in enumerate([0, 1, 2]):
        n = int(lengths[col])
        assert tags[:n, col].tolist() == data.targets[i].tolist() and (ids[n:, col] == 0).all()


def test_examples_without_tokens_are_refused():
    with pytest.raises(ValueError, match="at least one token"):
        TaskData([np.array([1]), np.array([], dtype=np.int64)], [0, 1], "classify")


def test_word_dropout_hides_about_p_of_the_tokens_by_batch_position_and_never_padding():
    data = _data("tag", n=300)
    drop = EpochBatches(data, 16, seed=2, word_dropout=0.25, oov_id=99)
    plain = EpochBatches(data, 16, seed=2)
    seen = [(drop.next(), plain.next()) for _ in range(drop.per_epoch)]
    hidden = valid = 0
    for d, p in seen:
        inside = torch.arange(d.ids.shape[0]).unsqueeze(1) < d.lengths.unsqueeze(0)
        assert torch.equal(d.ids[d.ids != 99], p.ids[d.ids != 99]) and not (d.ids[~inside] == 99).any()
        hidden, valid = hidden + int((d.ids == 99).sum()), valid + int(inside.sum())
    assert 0.2 < hidden / valid < 0.3
    again = EpochBatches(data, 16, seed=2, word_dropout=0.25, oov_id=99)
    again.load_state_dict({"epoch": 0, "index": 5})  # a resumed run hides the same words
    assert torch.equal(again.next().ids, seen[5][0].ids)
    assert not (data.batch(np.arange(len(data))).ids == 99).any()  # evaluation batches never drop
    with pytest.raises(ValueError, match="OOV id"):
        EpochBatches(data, 16, seed=2, word_dropout=0.1)
