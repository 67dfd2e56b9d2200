"""Scheduled sampling: probability 0 is teacher forcing, probability 1 feeds the model's own samples, the schedule's values."""
import math

import numpy as np
import pytest
import torch

from seqtool.models import CELLS, ModelConfig, build_model
from seqtool.models.scheduled import sampling_probability
from seqtool.tasks.lm import LMTask
from seqtool.train_config import TrainConfig

V, T, B = 11, 9, 3


def _model(cell="lstm", **kw):
    torch.manual_seed(0)
    return build_model(ModelConfig(**{"vocab_size": V, "cell": cell, "hidden": 8, "layers": 2, "window": 3, "delay": 3, "dropout": 0.0, **kw}))


def _batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (T, B), generator=g), torch.randint(0, V, (T, B), generator=g)


@pytest.mark.parametrize("cell", CELLS)
def test_probability_0_is_the_teacher_forced_loss_and_state(cell):
    model = _model(cell)
    x, y = _batch()
    state = model.init_state(B)
    tf, tf_state = model.loss(x, y, state)
    ss, ss_state = model.loss(x, y, state, sampling=0.0)
    torch.testing.assert_close(ss, tf, rtol=1e-6, atol=1e-6)  # one step at a time vs the whole window: summation order only
    for a, b in zip(torch.utils._pytree.tree_leaves(ss_state), torch.utils._pytree.tree_leaves(tf_state)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    g_tf = torch.autograd.grad(tf, model.decoder.weight)[0]
    g_ss = torch.autograd.grad(model.loss(x, y, state, sampling=0.0)[0], model.decoder.weight)[0]
    torch.testing.assert_close(g_ss, g_tf, rtol=1e-5, atol=1e-6)


def test_probability_1_feeds_the_models_own_samples_after_the_first_input():
    model = _model()
    certain = 4
    with torch.no_grad():  # every step's distribution puts all but e^-40 of its mass on token 4: the sample is certain
        model.decoder.bias.fill_(-20.0)
        model.decoder.bias[certain] = 20.0
    x, y = _batch()
    fed = x.clone()
    fed[1:] = certain  # what the model saw: the true first token, then its own samples
    ss, _ = model.loss(x, y, None, sampling=1.0)
    torch.testing.assert_close(ss, model.loss(fed, y)[0], rtol=1e-6, atol=1e-5)
    assert abs(ss.item() - model.loss(x, y)[0].item()) > 1e-3  # the inputs matter: teacher forcing gives another loss


def test_a_probability_in_between_mixes_per_column_and_step():
    model = _model()
    with torch.no_grad():
        model.decoder.bias.fill_(-20.0)
        model.decoder.bias[4] = 20.0
    x, y = _batch()
    torch.manual_seed(5)
    mixed = model.loss(x, y, None, sampling=0.5)[0].item()
    tf = model.loss(x, y)[0].item()
    fed = x.clone()
    fed[1:] = 4
    own = model.loss(fed, y)[0].item()
    assert min(tf, own) < mixed < max(tf, own) and abs(mixed - tf) > 1e-4 and abs(mixed - own) > 1e-4


def test_the_schedule_is_bengio_et_als_inverse_sigmoid_decay():
    for k in (1.0, 10.0, 500.0):
        for step in (0, 1, 7, 100, 700):  # the formula as written: exp overflows past step 709 k
            assert sampling_probability(step, k) == pytest.approx(1 - k / (k + math.exp(step / k)), rel=1e-12)
    assert sampling_probability(0, 1.0) == 0.5
    assert sampling_probability(0, 999.0) == pytest.approx(1 / 1000)
    values = [sampling_probability(s, 100.0) for s in range(0, 3000, 100)]
    assert values == sorted(values) and values[-1] > 0.999  # grows towards always sampling
    assert sampling_probability(10**9, 2.0) == 1.0  # no overflow far into a run


def test_the_lm_task_uses_the_run_step_and_validation_stays_teacher_forced():
    ids = np.random.default_rng(0).integers(0, V, 400)
    cfg = TrainConfig(batch_size=2, bptt=8, max_steps=10, scheduled_sampling=3.0)
    task = LMTask(cfg, ids, ids[:60], torch.device("cpu"))
    model = _model()
    seen = []
    real = model.loss
    model.loss = lambda *a, **kw: (seen.append(kw.get("sampling")), real(*a, **kw))[1]
    task.loss(model, window=2, epoch=1)
    assert seen[-1] == pytest.approx(sampling_probability(task.per_epoch + 2, 3.0))
    assert task.train_fields(1.0)["sampling_prob"] == pytest.approx(seen[-1], abs=1e-6)
    seen.clear()
    task.validate(model.eval(), {"device_type": "cpu", "enabled": False})
    assert seen and all(s is None for s in seen)
