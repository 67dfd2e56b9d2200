"""summary_rows: per-layer counts read off the tensors equal the closed-form formulas."""
import pytest
import torch

from seqtool.models import CELLS, ModelConfig, build_model, layer_param_formula, summary_rows

torch.set_num_threads(1)


@pytest.mark.parametrize(
    "extra",
    [{"embed_dim": 0}, {"embed_dim": 7}, {"embed_dim": 12, "tie_weights": True}, {"embed_dim": 7, "learn_tau": True}],
)
@pytest.mark.parametrize("cell", CELLS)
def test_rows_match_numel_and_formulas(cell, extra):
    cfg = ModelConfig(vocab_size=13, cell=cell, hidden=12, layers=3, window=4, delay=3, **extra)
    model = build_model(cfg)
    rows = summary_rows(model)
    assert sum(n for _, _, n in rows) == sum(p.numel() for p in model.parameters())
    assert [name for name, _, _ in rows] == [
        "embedding" if cfg.embed_dim else "one-hot", f"{cell}[0]", f"{cell}[1]", f"{cell}[2]", "decoder"
    ]
    assert [shape for _, shape, _ in rows] == [f"(T, B, {cfg.embed_dim or 13})"] + ["(T, B, 12)"] * 3 + ["(T, B, 13)"]
    assert rows[0][2] == 13 * cfg.embed_dim
    for k in range(3):
        d = (cfg.embed_dim or 13) if k == 0 else 12
        expected = layer_param_formula(cell, d, 12, vocab_size=13, window=4, learn_tau=cfg.learn_tau)
        assert rows[1 + k][2] == expected, (cell, k)
    assert rows[-1][2] == (13 if cfg.tie_weights else 12 * 13 + 13)


def test_formulas_written_out():
    # Independent of layer_param_formula: the textbook counts, with numbers.
    H, D, V = 10, 4, 6
    rows = lambda cell, **kw: summary_rows(build_model(ModelConfig(vocab_size=V, cell=cell, hidden=H, layers=1, embed_dim=D, **kw)))  # noqa: E731
    assert rows("lstm")[1][2] == 4 * (H * (D + H) + 2 * H) == 640  # torch keeps b_ih and b_hh
    assert rows("gru")[1][2] == 3 * (H * (D + H) + 2 * H) == 480
    assert rows("rnn")[1][2] == H * (D + H) + 2 * H == 160
    assert rows("leaky")[1][2] == H * (D + H) + H == 150
    assert rows("skip")[1][2] == H * (D + 2 * H) + H == 250
    assert rows("jordan")[1][2] == H * D + H * V + H == 110
    assert rows("tdnn", window=3)[1][2] == H * D * 3 + H == 130
    assert rows("lstm")[0] == ("embedding", "(T, B, 4)", V * D)
    assert rows("lstm")[-1] == ("decoder", "(T, B, 6)", H * V + V)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("extra", [{"embed_dim": 0}, {"embed_dim": 12, "tie_weights": True}, {"embed_dim": 5, "learn_tau": True}])
def test_param_count_is_the_built_models(cell, extra):
    """ModelConfig.param_count (what train checks against the memory before building) counts what build_model makes."""
    cfg = ModelConfig(vocab_size=13, cell=cell, hidden=12, layers=2, window=4, delay=3, **extra)
    assert cfg.param_count() == sum(p.numel() for p in build_model(cfg).parameters())
