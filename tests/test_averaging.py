"""Weight averaging (--average-weights ema|swa): the average against one computed by hand from the raw weights,
validation and checkpoints of the averaged model, exact resume, and the option checks."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from seqtool import runs
from seqtool.averaging import WeightAverage
from seqtool.callbacks import Callbacks
from seqtool.errors import UsageError
from seqtool.train_config import TrainConfig
from tests.test_training import StopAt, corpus, make_trainer, train_losses  # noqa: F401 (corpus: a fixture)


def raw_after_updates(kind: str, decay: float = 0.9, updates: int = 4):
    """A tiny model changed ``updates`` times, folded into a WeightAverage after each change; (average, raws, model)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    avg, raws = WeightAverage(kind, decay), []
    for _ in range(updates):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        raws.append({k: v.clone() for k, v in model.state_dict().items()})
        avg.update(model)
    return avg, raws, model


def test_swa_is_the_mean_of_the_raw_weights():
    avg, raws, model = raw_after_updates("swa")
    assert avg.count == 4
    for k in raws[0]:
        torch.testing.assert_close(avg.avg[k], torch.stack([r[k] for r in raws]).mean(0))


def test_ema_starts_from_the_first_weights_and_decays_by_d():
    avg, raws, model = raw_after_updates("ema", decay=0.9)
    for k in raws[0]:
        expected = raws[0][k]
        for r in raws[1:]:
            expected = 0.9 * expected + 0.1 * r[k]
        torch.testing.assert_close(avg.avg[k], expected)


def test_swapped_in_gives_the_average_and_puts_the_raw_weights_back_bit_for_bit():
    avg, raws, model = raw_after_updates("swa")
    with avg.swapped_in(model):
        assert torch.equal(model.weight, avg.avg["weight"])
    assert all(torch.equal(v, raws[-1][k]) for k, v in model.state_dict().items())


class RawWeights(Callbacks):
    """The raw weights after every step (log_every=1): what the trainer goes on training."""

    def __init__(self):
        self.trainer, self.raw = None, {}

    def on_log(self, rec):
        self.raw[rec["step"]] = {k: v.clone() for k, v in self.trainer.model.state_dict().items()}

    on_eval = on_log  # called after the validation: the raw weights are back


@pytest.mark.parametrize("kind", ["swa", "ema"])
def test_the_trainer_averages_from_the_start_fraction_and_validates_and_saves_the_average(tmp_path, corpus, kind):
    rec = RawWeights()
    t = make_trainer(tmp_path, corpus, callbacks=rec, max_steps=8, log_every=1, eval_every=8, average_weights=kind,
                     average_start=0.5, ema_decay=0.8)
    rec.trainer = t
    summary = t.fit()
    kept = [rec.raw[s] for s in range(4, 9)]  # from step 0.5 x 8 on
    expected = {}
    for k in kept[0]:
        if kind == "swa":
            expected[k] = torch.stack([w[k] for w in kept]).mean(0)
        else:
            expected[k] = kept[0][k]
            for w in kept[1:]:
                expected[k] = 0.8 * expected[k] + 0.2 * w[k]
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert last["average"] == {"kind": kind, "count": 5}
    for k in expected:
        torch.testing.assert_close(last["model_state"][k], expected[k])
        torch.testing.assert_close(best["model_state"][k], expected[k])
        assert torch.equal(last["train_weights"][k], rec.raw[8][k])  # training goes on from the raw weights
        assert torch.equal(t.model.state_dict()[k], rec.raw[8][k])
    assert not torch.equal(expected["decoder.weight"], rec.raw[8]["decoder.weight"])
    # The validation loss reported is the averaged model's.
    t.model.load_state_dict(expected)
    t.model.eval()
    loss, _, _ = t.task.validate(t.model, {"device_type": "cpu", "enabled": False})
    assert summary["val_loss"] == pytest.approx(loss, rel=1e-6)
    line = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["averaged_steps"] == 5 and line["val_loss"] == summary["val_loss"]


def test_no_average_before_the_start_fraction(tmp_path, corpus):
    t = make_trainer(tmp_path, corpus, max_steps=4, eval_every=2, log_every=2, average_weights="swa", average_start=0.9)
    t.fit()
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("averaged_steps") for r in lines] == [None, 1]  # step 2 < 3.6 <= step 4
    assert torch.load(tmp_path / "last.pt", weights_only=True)["average"]["count"] == 1


def test_resume_with_averaging_continues_exactly(tmp_path, corpus):
    tok, train, val = corpus
    kw = dict(batch_size=8, bptt=16, lr=1e-2, seed=3, max_steps=24, log_every=1, eval_every=10, average_weights="ema",
              average_start=0.25, ema_decay=0.9)
    tcfg = TrainConfig(**kw).validate()
    mcfg = runs.model_config(len(tok.vocab), "char", dict(cell="lstm", hidden=16, layers=1, embed_dim=8, dropout=0.3))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tok.save(data_dir / "tokenizer.json")
    np.save(data_dir / "train.npy", train.astype(np.uint16))
    np.save(data_dir / "val.npy", val.astype(np.uint16))

    def fresh(d, cb=None):
        d.mkdir()
        spec = runs.DataSpec(d)
        runs.write_run_files(d, mcfg, tcfg, tok, spec)
        return runs.build_trainer(d, mcfg, tcfg, tok, train, val, spec, torch.device("cpu"), cb)

    fresh(tmp_path / "whole").fit()
    stop = StopAt(15)  # averaging started at step 6: the checkpoint holds an average under way
    first = fresh(tmp_path / "split", stop)
    stop.trainer = first
    assert first.fit()["steps"] == 15
    ck = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    assert ck["average"]["count"] == 10
    ck["data"] = {"dir": str(data_dir)}
    torch.save(ck, tmp_path / "split" / "last.pt")
    resumed, _ = runs.resume(tmp_path / "split", {})
    resumed.fit()
    a, b = train_losses(tmp_path / "whole"), train_losses(tmp_path / "split")
    assert [a[s] for s in range(1, 25)] == [b[s] for s in range(1, 25)]  # bit for bit: the raw weights were restored
    wa, wb = (torch.load(tmp_path / d / "last.pt", weights_only=True) for d in ("whole", "split"))
    assert wa["average"] == wb["average"] == {"kind": "ema", "count": 19}
    for k, v in wa["model_state"].items():
        assert torch.equal(v, wb["model_state"][k]), k


def test_a_time_budget_fraction_agreed_by_any_process_starts_averaging_on_all(tmp_path, corpus):
    from tests.test_training import PeerFlags

    t = make_trainer(tmp_path, corpus, max_steps=None, time_budget=3600.0, average_weights="swa")
    t.dist = PeerFlags([0.0, 0.0, 0.0, 0.0])
    t._agree(False)
    assert not t._average_due()
    t.dist = PeerFlags([0.0, 0.0, 0.0, 1.0])  # the other process's clock passed --average-start
    t._agree(False)
    assert t._average_due()
    (tmp_path / "again").mkdir()
    again = make_trainer(tmp_path / "again", corpus, max_steps=None, time_budget=3600.0, average_weights="swa")
    again.restore(t.state())  # saved before the next step's update: a resumed run starts averaging where this one would
    assert again._average_due()


@pytest.mark.parametrize("field, value, option", [
    ("average_weights", "polyak", "--average-weights polyak"),
    ("average_start", math.nan, "--average-start nan"), ("average_start", -0.1, "--average-start -0.1"), ("average_start", 1.0, "--average-start 1.0"),
    ("ema_decay", math.nan, "--ema-decay nan"), ("ema_decay", 1.0, "--ema-decay 1.0"), ("ema_decay", 0.0, "--ema-decay 0.0"), ("ema_decay", -0.5, "--ema-decay -0.5"),
    ("scheduled_sampling", math.nan, "--scheduled-sampling nan"), ("scheduled_sampling", -3.0, "--scheduled-sampling -3.0"),
    ("scheduled_sampling", 0.5, "--scheduled-sampling 0.5"), ("scheduled_sampling", math.inf, "--scheduled-sampling inf"),
])
def test_bad_values_are_refused_naming_the_option(field, value, option):
    with pytest.raises(UsageError) as e:
        TrainConfig(max_steps=1, **{field: value}).validate()
    assert str(e.value).startswith(option + ":") and "\n" not in str(e.value)
