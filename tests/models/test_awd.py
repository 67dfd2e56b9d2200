"""AWD-LSTM's regularisers (seqtool/models/awd.py) in the language model: the identity in eval, locked
masks constant over time, whole token types dropped, W_hh dropped per forward without touching the
parameter; the default path still torch's plain composition, bit for bit."""
import math

import pytest
import torch
import torch.nn.functional as F

from seqtool.errors import ConfigError, UsageError
from seqtool.models import ModelConfig, build_model
from seqtool.models import cells as cells_module
from seqtool.models import lm as lm_module
from seqtool.models.fused import run_by_layer, torch_layer

torch.set_num_threads(1)

V, T, B = 13, 9, 4
FUSED = ("lstm", "gru", "rnn")


def _model(cell="lstm", *, seed=0, **kw):
    torch.manual_seed(seed)
    return build_model(ModelConfig(**{"vocab_size": V, "cell": cell, "hidden": 8, "layers": 2, "embed_dim": 6, **kw}))


def _ids(seed=1, t=T, b=B):
    return torch.randint(1, V, (t, b), generator=torch.Generator().manual_seed(seed))


def _spy(monkeypatch, module, name):
    """Replace ``module.name`` by a wrapper recording each call's (first argument, result)."""
    real, calls = getattr(module, name), []

    def spy(x, *args, **kw):
        out = real(x, *args, **kw)
        calls.append((x, out))
        return out

    monkeypatch.setattr(module, name, spy)
    return calls


def _assert_locked(x, out):
    """out = x * mask with mask (1, B, D): the zeros sit at the same places at every step, not the same in every column."""
    zeros = (out == 0) & (x != 0)  # (T, B, D)
    assert zeros.any() and not zeros.all()
    assert torch.equal(zeros, zeros[:1].expand_as(zeros)), "the mask changes over time"
    assert any(not torch.equal(zeros[:, 0], zeros[:, b]) for b in range(1, x.shape[1])), "every column has the same mask"


def test_default_training_forward_is_torchs_plain_composition_bit_for_bit():
    model = _model(dropout=0.3).train()
    ids = _ids()
    torch.manual_seed(5)
    logits, _ = model(ids)
    torch.manual_seed(5)
    x = F.dropout(model.encoder(ids), 0.3, True)  # embedding, fused stack with torch's own inter-layer dropout, dropout, decoder
    out, _ = model.rnn(x)
    assert torch.equal(logits, model.decoder(F.dropout(out, 0.3, True)))


@pytest.mark.parametrize("cell", FUSED)
def test_layer_by_layer_run_equals_the_fused_stack(cell):
    torch.manual_seed(0)
    rnn = build_model(ModelConfig(vocab_size=V, cell=cell, hidden=8, layers=3, embed_dim=6)).rnn
    x = torch.randn(T, B, 6)
    state = tuple(s.normal_() for s in rnn(x)[1]) if cell == "lstm" else rnn(x)[1].normal_()
    want, want_state = rnn(x, state)
    got, got_state = run_by_layer(rnn, x, state, torch_layer(cell, True), between=lambda out: out)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(got_state, want_state)


@pytest.mark.parametrize("cell,options", [
    ("lstm", {"locked_dropout": True}), ("gru", {"embed_dropout": 0.4}), ("rnn", {"weight_drop": 0.5}),
    ("lstm", {"locked_dropout": True, "embed_dropout": 0.3, "weight_drop": 0.5}), ("leaky", {"locked_dropout": True, "embed_dropout": 0.3}),
])
def test_each_option_is_the_identity_in_eval(cell, options):
    plain, regular = _model(cell, dropout=0.3), _model(cell, seed=1, dropout=0.3, **options)
    assert plain.state_dict().keys() == regular.state_dict().keys()  # checkpoints are interchangeable
    regular.load_state_dict(plain.state_dict())
    ids = _ids()
    want, want_state = plain.eval()(ids)
    got, got_state = regular.eval()(ids)
    assert torch.equal(got, want) and torch.equal(regular.loss(ids, ids)[0], plain.loss(ids, ids)[0])
    torch.testing.assert_close(got_state, want_state, rtol=0, atol=0)


def test_locked_dropout_masks_embedding_between_layers_and_output_constant_over_time(monkeypatch):
    calls = _spy(monkeypatch, lm_module, "locked_dropout")
    model = _model("lstm", dropout=0.5, locked_dropout=True, hidden=16).train()
    model.loss(_ids(), _ids(2))
    assert [tuple(x.shape) for x, _ in calls] == [(T, B, 6), (T, B, 16), (T, B, 16)]  # embedding, between layers, top output
    for x, out in calls:
        _assert_locked(x, out)
        kept = out != 0
        torch.testing.assert_close(out[kept], x[kept] / 0.5)


def test_locked_dropout_between_layers_of_a_seqtool_cell(monkeypatch):
    calls = _spy(monkeypatch, cells_module, "locked_dropout")
    _model("skip", dropout=0.5, locked_dropout=True, hidden=16, delay=2).train()(_ids())
    assert len(calls) == 1  # between the two layers
    _assert_locked(*calls[0])


@pytest.mark.parametrize("embed_dim", [6, 0])
def test_embedding_dropout_zeroes_whole_token_types_and_scales_the_rest(embed_dim):
    p = 0.5
    model = _model(embed_dim=embed_dim, embed_dropout=p).train()
    ids = _ids(t=30)
    torch.manual_seed(3)
    x = model.inputs(ids)  # (T, B, D)
    plain = model.encoder(ids) if embed_dim else F.one_hot(ids, V).float()
    dropped = set()
    for token in ids.unique().tolist():
        rows, full = x[ids == token], plain[ids == token]  # every occurrence of the type in the batch
        if (rows == 0).all():
            dropped.add(token)
        else:
            torch.testing.assert_close(rows, full / (1 - p))
    assert 0 < len(dropped) < len(ids.unique())
    torch.manual_seed(4)
    assert not torch.equal(model.inputs(ids), x)  # a new draw per batch


@pytest.mark.parametrize("cell", FUSED)
def test_weight_drop_changes_training_outputs_per_forward_and_leaves_the_parameters(cell):
    model = _model(cell, weight_drop=0.5).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids = _ids()
    first, second = model(ids)[0], model(ids)[0]
    assert not torch.equal(first, second)  # a new mask each forward
    assert not torch.equal(first, model.eval()(ids)[0])
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("bf16", [False, True])
def test_weight_drop_gradient_reaches_w_hh_only_through_kept_entries(monkeypatch, bf16):
    p, real, calls = 0.5, lm_module.drop_weight, []

    def spy(w, *args):  # the dropped matrix each layer used, keeping its gradient to compare with the parameter's
        dropped = real(w, *args)
        dropped.retain_grad()
        calls.append((w, dropped))
        return dropped

    monkeypatch.setattr(lm_module, "drop_weight", spy)
    model = _model("lstm", weight_drop=p).train()
    model.use_bf16_matmuls(bf16)
    model.loss(_ids(), _ids(2))[0].backward()
    assert len(calls) == 2
    for k, (w, dropped) in enumerate(calls):
        assert w is getattr(model.rnn, f"weight_hh_l{k}")
        kept = dropped != 0
        assert 0.3 < kept.float().mean() < 0.7
        torch.testing.assert_close(dropped[kept], w[kept] / (1 - p))
        assert (w.grad[~kept] == 0).all() and (w.grad[kept] != 0).float().mean() > 0.9
        torch.testing.assert_close(w.grad, dropped.grad * kept / (1 - p))


@pytest.mark.parametrize("field,option", [("embed_dropout", "--embed-dropout"), ("weight_drop", "--weight-drop")])
@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, math.nan, math.inf])
def test_bad_probabilities_name_the_option(field, option, value):
    with pytest.raises(UsageError, match=option):
        ModelConfig(vocab_size=V, **{field: value}).validate()


def test_weight_drop_needs_a_torch_cell_and_locked_dropout_a_bool():
    with pytest.raises(UsageError, match="--weight-drop applies to --cell lstm, gru, rnn"):
        ModelConfig(vocab_size=V, cell="leaky", weight_drop=0.2).validate()
    with pytest.raises(UsageError, match="--locked-dropout"):
        ModelConfig(vocab_size=V, locked_dropout="yes").validate()


def test_config_round_trip_and_an_older_config_without_the_fields():
    cfg = ModelConfig(vocab_size=V, locked_dropout=True, embed_dropout=0.1, weight_drop=0.5).validate()
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    older = {k: v for k, v in cfg.to_dict().items() if k not in ("locked_dropout", "embed_dropout", "weight_drop")}
    back = ModelConfig.from_dict(older)
    assert (back.locked_dropout, back.embed_dropout, back.weight_drop) == (False, 0.0, 0.0)
    with pytest.raises(ConfigError, match="--weight-drop"):
        ModelConfig.from_dict({**cfg.to_dict(), "weight_drop": 1.0})
