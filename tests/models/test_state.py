"""Carried state: every operation of models/state.py on each shape a cell carries (an LSTM's
(h, c), skip's (L, d, B, H), tdnn's per-layer windows, jordan's empty tuple, and None)."""
import pytest
import torch

from seqtool.models import CELLS, ModelConfig, build_model
from seqtool.models.state import (
    cat_states,
    clone_state,
    detach_state,
    map_state,
    select_state,
    state_batch_dims,
    state_leaves,
    state_to,
)

L, B, H = 2, 3, 4


def lstm_state(requires_grad=False):
    h = torch.randn(L, B, H, requires_grad=requires_grad)
    c = torch.randn(L, B, H, requires_grad=requires_grad)
    return (h * 1, c * 1) if requires_grad else (h, c)  # with a graph behind them when asked


def tdnn_state():
    return (torch.randn(2, B, 5), torch.randn(2, B, H))  # (window - 1, B, D) per layer


def skip_state():
    return torch.randn(L, 3, B, H)  # (L, d, B, H)


def test_map_state_keeps_structure_and_none():
    nested = (torch.ones(2), [torch.zeros(1), (torch.full((3,), 2.0),)])
    doubled = map_state(lambda t: t * 2, nested)
    assert type(doubled) is tuple and type(doubled[1]) is list and type(doubled[1][1]) is tuple
    assert [t.tolist() for t in state_leaves(doubled)] == [[2.0, 2.0], [0.0], [4.0, 4.0, 4.0]]
    assert map_state(lambda t: t * 2, None) is None
    assert map_state(lambda t: t * 2, ()) == ()
    assert state_leaves(None) == [] and state_leaves(()) == []
    pairs = map_state(lambda t, k: t + k, (torch.zeros(1), torch.zeros(1)), (1, 2))  # leaves of a second tree
    assert [float(t) for t in pairs] == [1.0, 2.0]


def test_detach_keeps_values_and_cuts_the_graph():
    state = lstm_state(requires_grad=True)
    out = detach_state(state)
    assert type(out) is tuple and len(out) == 2
    for a, b in zip(state, out):
        assert a.grad_fn is not None and b.grad_fn is None and not b.requires_grad
        torch.testing.assert_close(a.detach(), b)
    assert detach_state(None) is None and detach_state(()) == ()


def test_state_to_moves_every_tensor():
    for state in (lstm_state(), tdnn_state(), skip_state()):
        out = state_to(state, torch.device("meta"))
        assert all(t.device.type == "meta" for t in state_leaves(out))
        assert [t.shape for t in state_leaves(out)] == [t.shape for t in state_leaves(state)]
    assert state_to(None, "cpu") is None and state_to((), "cpu") == ()


def test_clone_is_a_compact_copy():
    big = torch.randn(10, B, H)
    state = (big[7:], torch.randn(2, B, H))  # a tdnn window can be a view into a longer tensor
    out = clone_state(state)
    assert out[0].untyped_storage().nbytes() == out[0].numel() * out[0].element_size()
    for a, b in zip(state, out):
        torch.testing.assert_close(a, b)
        assert a.data_ptr() != b.data_ptr()
    assert clone_state(None) is None and clone_state(()) == ()


def test_select_and_cat_along_each_tensors_batch_dim():
    index = torch.tensor([2, 0])
    for state, dims in ((lstm_state(), (1, 1)), (tdnn_state(), (1, 1)), (skip_state(), 2)):
        picked = select_state(state, index, dims)
        for t, p, d in zip(state_leaves(state), state_leaves(picked), state_leaves(dims)):
            torch.testing.assert_close(p, t.index_select(d, index))
        joined = cat_states([state, picked], dims)
        for t, p, j, d in zip(state_leaves(state), state_leaves(picked), state_leaves(joined), state_leaves(dims)):
            assert j.shape[d] == B + 2
            torch.testing.assert_close(j, torch.cat((t, p), d))
    assert select_state((), index, ()) == () and cat_states([(), ()], ()) == ()


@pytest.mark.parametrize("cell", CELLS)
def test_batch_dims_of_every_cell(cell):
    torch.manual_seed(0)
    m = build_model(ModelConfig(vocab_size=7, cell=cell, hidden=H, layers=L, window=3, delay=3))
    dims = state_batch_dims(m)
    expected = {"lstm": (1, 1), "lnlstm": (1, 1), "skip": 2, "jordan": (), "tdnn": (1, 1)}.get(cell, 1)
    assert dims == expected
    _, state = m(torch.randint(1, 7, (4, B)))
    repeated = select_state(state, torch.zeros(5, dtype=torch.long), dims)  # one sample's state, 5 times
    assert all(t.shape[d] == 5 for t, d in zip(state_leaves(repeated), state_leaves(dims)))
