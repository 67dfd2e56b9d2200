"""Scoring a model over a dataset: predictions back in dataset order, losses as defined, the right metric."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seqtool.models import ModelConfig
from seqtool.models.heads import SequenceClassifier, SequenceTagger
from seqtool.tasks.batches import TaskData
from seqtool.distributed import Dist
from seqtool.tasks.scoring import score, sharded_score

torch.set_num_threads(1)


def _data(kind, n=23):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 9, size=int(k)) for k in rng.integers(1, 9, size=n)]
    targets = [int(t) for t in rng.integers(0, 3, size=n)] if kind == "classify" else [rng.integers(0, 3, size=len(s)) for s in seqs]
    return TaskData(seqs, targets, kind)


def _cfg():
    return ModelConfig(vocab_size=9, hidden=6, layers=1, embed_dim=4, dropout=0.0)


def test_classifier_scores_match_one_example_at_a_time():
    torch.manual_seed(0)
    m = SequenceClassifier(_cfg(), 3, "mean")
    data = _data("classify")
    s = score(m, data, ["a", "b", "c"], torch.device("cpu"), batch_size=5)
    assert m.training  # left as it was found
    m.eval()
    with torch.no_grad():
        logits = torch.cat([m(torch.tensor(q).view(-1, 1), torch.tensor([len(q)])) for q in data.seqs])
    assert s.predictions == logits.argmax(-1).tolist()
    np.testing.assert_allclose(s.probabilities, torch.softmax(logits, -1).numpy(), rtol=1e-5, atol=1e-6)
    nll = torch.nn.functional.cross_entropy(logits, torch.tensor(data.targets))
    assert s.loss == pytest.approx(float(nll), rel=1e-5)
    assert s.metric == ("accuracy", pytest.approx(float((logits.argmax(-1) == torch.tensor(data.targets)).float().mean())))


@pytest.mark.parametrize("crf", [False, True])
def test_tagger_predictions_in_order_and_metric(crf):
    torch.manual_seed(0)
    m = SequenceTagger(_cfg(), 3, bidirectional=True, crf=crf).eval()
    data = _data("tag")
    s = score(m, data, ["NOUN", "VERB", "DET"], torch.device("cpu"), batch_size=4)
    for q, p in zip(data.seqs, s.predictions):
        assert p == m.decode(torch.tensor(q).view(-1, 1), torch.tensor([len(q)]))[0]
    assert s.metric[0] == "token_accuracy"  # POS-like tags: no entity scheme
    ent = score(m, data, ["O", "B-PER", "I-PER"], torch.device("cpu"))
    assert ent.metric[0] == "f1"


class Ranks:
    """Stands in for a process group: each rank's ``sum`` is recorded on a first pass, and on a second pass gives the
    total over all ranks (what all_reduce would)."""

    def __init__(self, world: int):
        self.world, self.sent, self.totals = world, [], None

    def rank(self, r: int):
        group = self

        class One(Dist):
            def sum(self, values, device="cpu"):
                if group.totals is None:
                    group.sent.append(list(values))
                    return list(values)
                return list(group.totals)

        return One(r, self.world, r)

    def run(self, f):
        for r in range(self.world):
            f(self.rank(r))
        self.totals = np.sum(self.sent, axis=0).tolist()
        return [f(self.rank(r)) for r in range(self.world)]


@pytest.mark.parametrize("kind, names, crf", [("classify", ["a", "b", "c"], False), ("tag", ["O", "B-PER", "I-PER"], False),
                                              ("tag", ["O", "B-PER", "I-PER"], True), ("tag", ["NOUN", "VERB", "DET"], False)])
def test_shards_of_the_validation_batches_added_up_score_as_the_whole(kind, names, crf):
    """23 examples in batches of 4: 6 batches over 4 ranks, shares of 1 and 2 batches (and of sizes 4 and 3): means of
    the shares, or counts not added up, would differ from the whole's."""
    torch.manual_seed(0)
    m = SequenceClassifier(_cfg(), 3, "mean") if kind == "classify" else SequenceTagger(_cfg(), 3, bidirectional=True, crf=crf)
    data = _data(kind)
    whole = score(m, data, names, torch.device("cpu"), batch_size=4)
    scheme = None if kind == "classify" else whole.report.scheme
    assert sharded_score(m, data, names, torch.device("cpu"), 4, scheme) == (pytest.approx(whole.loss, rel=1e-12), whole.report)
    for loss, report in Ranks(4).run(lambda d: sharded_score(m, data, names, torch.device("cpu"), 4, scheme, d)):
        assert loss == pytest.approx(whole.loss, rel=1e-12)
        assert report == whole.report
