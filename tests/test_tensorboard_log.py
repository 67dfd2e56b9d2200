"""TensorBoard events from a training run, read back with tensorboard's own event reader."""
from __future__ import annotations

import json

import pytest
import torch

from seqtool.callbacks import AllOf, Callbacks, layer_grad_norms
from seqtool.tensorboard_log import TensorBoardLog, tag
from tests.test_training import corpus, make_trainer  # noqa: F401 - the fixture and the tiny trainer


def test_layer_grad_norms_group_parameters_by_module_and_rnn_layer():
    lstm = torch.nn.LSTM(3, 4, num_layers=2)
    model = torch.nn.ModuleDict({"rnn": lstm, "head": torch.nn.Linear(4, 2)})
    out, _ = lstm(torch.randn(5, 1, 3))
    model["head"](out).sum().backward()
    norms = layer_grad_norms(model)
    assert sorted(norms) == ["head", "rnn.l0", "rnn.l1"]
    l1 = [p.grad for n, p in lstm.named_parameters() if n.endswith("_l1")]
    assert norms["rnn.l1"] == pytest.approx(float(torch.cat([g.flatten() for g in l1]).norm()), rel=1e-5)
    model["head"].weight.grad = None
    model["head"].bias.grad = None
    assert "head" not in layer_grad_norms(model)


def test_all_of_calls_each_and_asks_for_layer_norms_if_any_does():
    seen = []

    class Note(Callbacks):
        def __init__(self, name):
            self.name = name

        def on_log(self, record):
            seen.append((self.name, record["step"]))

    both = AllOf(Note("a"), Note("b"))
    both.on_log({"step": 3})
    assert seen == [("a", 3), ("b", 3)] and not both.wants_layer_grad_norms
    assert AllOf(Note("a"), TensorBoardLog()).wants_layer_grad_norms


def test_tags():
    assert [tag(f) for f in ("train_loss", "val_ppl", "val_macro_f1", "lr", "grad_norm")] == ["train/loss", "val/ppl", "val/macro_f1", "lr", "grad_norm"]


@pytest.mark.slow
def test_events_hold_every_metrics_line_and_each_layers_gradient_norm(tmp_path, corpus):  # noqa: F811
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    make_trainer(run_dir, corpus, callbacks=TensorBoardLog(), max_steps=20, log_every=5, eval_every=10).fit()
    events = EventAccumulator(str(run_dir))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/ppl", "val/loss", "val/ppl", "lr", "grad_norm", "tokens_per_sec"} <= scalars
    assert {"grad_norm_by_layer/rnn.l0", "grad_norm_by_layer/decoder"} <= scalars
    recs = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(r["step"], pytest.approx(r["train_loss"])) for r in recs]
    assert [(e.step, e.value) for e in events.Scalars("val/loss")] == [(r["step"], pytest.approx(r["val_loss"])) for r in recs if "val_loss" in r]
    assert all(e.value > 0 for e in events.Scalars("grad_norm_by_layer/rnn.l0"))
