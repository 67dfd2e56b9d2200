"""The cell registry is complete and consistent: every entry's parameter formula counts the module
its build function makes, and its step function reproduces that module's forward pass."""
from __future__ import annotations

import pytest
import torch

from seqtool.errors import UsageError
from seqtool.models import CELLS, ModelConfig
from seqtool.models.registry import REGISTRY, build_cell, cell_spec, cells_help

V = 9


def config(cell, **kw) -> ModelConfig:
    return ModelConfig(vocab_size=V, cell=cell, **{"hidden": 5, "layers": 2, "embed_dim": 4, "delay": 3, "window": 3, **kw}).validate()


def test_cells_is_the_registry():
    assert CELLS == tuple(REGISTRY) and len(set(CELLS)) == len(CELLS)
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.help
        assert f"{name} ({spec.help})" in cells_help()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("sizes", [dict(hidden=5, embed_dim=4, layers=2), dict(hidden=8, embed_dim=0, layers=3, learn_tau=True, window=2)])
def test_parameter_formula_counts_the_built_module(cell, sizes):
    cfg = config(cell, **sizes)
    module = build_cell(cfg)
    spec = cell_spec(cell)
    per_layer = [0] * cfg.layers
    for name, p in module.named_parameters():
        per_layer[int(name.rsplit("_l", 1)[1])] += p.numel()
    for k, n in enumerate(per_layer):
        d = cfg.input_dim if k == 0 else cfg.hidden
        assert spec.params(d, cfg.hidden, vocab_size=V, window=cfg.window, learn_tau=cfg.learn_tau) == n, (cell, k)


@pytest.mark.parametrize("cell", CELLS)
def test_step_function_reproduces_the_built_cells_forward(cell):
    torch.manual_seed(0)
    cfg = config(cell, tau_max=10.0)
    module = build_cell(cfg).eval()
    spec = cell_spec(cell)
    T, B = 6, 3
    ids = torch.randint(1, V, (T, B))
    x = torch.randn(T, B, cfg.input_dim)
    expected, _ = module(x, ids, None) if spec.feedback else module(x, None)  # (T, B, H), top layer
    for k in range(cfg.layers):
        layer = spec.stepper(module, k)
        state = layer.init(B, x.device, x.dtype)
        out = []
        for t in range(T):
            if spec.feedback:
                state = (ids[t],)  # teacher forcing: y(t-1) is the input token t
            h, state = layer.step(x[t], state)
            out.append(h)
        x = torch.stack(out)  # (T, B, H): the next layer's input
    torch.testing.assert_close(x, expected, rtol=1e-5, atol=1e-6)


def test_an_unknown_cell_names_the_option_and_the_registered_cells():
    with pytest.raises(UsageError, match="--cell must be one of " + ", ".join(CELLS)):
        cell_spec("transformer")
