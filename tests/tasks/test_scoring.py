"""Scoring a model over a dataset: predictions back in dataset order, losses as defined, the right metric."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seqtool.models import ModelConfig
from seqtool.models.heads import SequenceClassifier, SequenceTagger
from seqtool.tasks.batches import TaskData
from seqtool.tasks.scoring import score

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
