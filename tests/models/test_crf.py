"""The CRF against brute force: log Z and the Viterbi path by enumerating every tag sequence."""
from __future__ import annotations

import itertools

import pytest
import torch

from seqtool.models.crf import LinearChainCRF

torch.set_num_threads(1)


def _crf(T, seed):
    torch.manual_seed(seed)
    crf = LinearChainCRF(T).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def _brute(crf, em, length):
    """Every tag sequence of one column's real length: its score, by the formula in the module docstring."""
    scores = {}
    for ys in itertools.product(range(crf.num_tags), repeat=length):
        s = crf.start[ys[0]] + crf.end[ys[-1]] + sum(em[t, ys[t]] for t in range(length))
        s = s + sum(crf.transitions[ys[t - 1], ys[t]] for t in range(1, length))
        scores[ys] = s
    return scores


@pytest.mark.parametrize("seed", range(3))
def test_log_partition_score_and_viterbi_equal_brute_force(seed):
    T, L, lengths = 3, 4, [4, 2, 1]
    crf = _crf(T, seed)
    em = torch.randn(L, len(lengths), T, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    mask = torch.tensor([[t < n for n in lengths] for t in range(L)])
    tags = torch.randint(0, T, (L, len(lengths)), generator=torch.Generator().manual_seed(seed + 10))
    logz = crf.log_partition(em, mask)
    score = crf.score(em, tags, mask)
    paths = crf.viterbi(em, mask)
    for b, n in enumerate(lengths):
        brute = _brute(crf, em[:, b], n)
        torch.testing.assert_close(logz[b], torch.logsumexp(torch.stack(list(brute.values())), 0))
        torch.testing.assert_close(score[b], brute[tuple(tags[:n, b].tolist())])
        assert tuple(paths[b]) == max(brute, key=lambda ys: float(brute[ys].detach()))


def test_nll_is_a_proper_negative_log_probability_and_trains():
    T, L = 3, 3
    crf = _crf(T, 0)
    em = torch.randn(L, 1, T, dtype=torch.float64)
    total = sum(torch.exp(-crf.nll(em, torch.tensor(ys).view(L, 1))) for ys in itertools.product(range(T), repeat=L))
    torch.testing.assert_close(total, torch.ones(1, dtype=torch.float64))  # probabilities of all sequences sum to 1
    target = torch.tensor([[0], [2], [1]])
    opt = torch.optim.SGD(crf.parameters(), lr=0.5)
    for _ in range(50):
        opt.zero_grad()
        crf.nll(em, target).sum().backward()
        opt.step()
    assert crf.viterbi(em) == [[0, 2, 1]]


def test_shapes_and_masks_are_checked():
    crf = LinearChainCRF(4)
    with pytest.raises(ValueError, match=r"\(L, B, 4\)"):
        crf.log_partition(torch.zeros(3, 2, 5))
    with pytest.raises(ValueError, match="at least one token"):
        crf.viterbi(torch.zeros(3, 2, 4), torch.tensor([[True, False]] * 3))
