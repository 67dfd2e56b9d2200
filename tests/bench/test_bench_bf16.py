"""bench_bf16's profile shares: which kind of work an op is, and each kind's per cent of the step, from given events."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from benchmarks.bench_bf16 import op_kind, profile_shares


@dataclass
class Event:
    """What profile_shares reads of a torch.profiler FunctionEvent."""
    name: str
    input_shapes: list
    cpu_time_total: float
    cpu_parent: "Event | None" = None


@pytest.mark.parametrize("name, shapes, kind", [
    ("aten::mm", [[32, 384], [384, 1536]], "matmul per step"),
    ("aten::mm", [[4096, 384], [384, 1536]], "matmul whole window"),
    ("aten::mul", [[32, 1, 384], [32, 3, 384], [32, 3, 384]], "elementwise per step"),  # a broadcast over the gates
    ("aten::sigmoid", [[32, 1536], [32, 1536]], "elementwise per step"),
    ("aten::mul", [[128, 32, 1536], [128, 32, 1536]], "elementwise whole window and other ops"),
    ("aten::to", [[32, 384], [], []], "casts and copies"),
    ("aten::_foreach_add_", [[], []], "optimizer"),
])
def test_op_kind_tells_per_step_from_whole_window_work(name, shapes, kind):
    assert op_kind(name, shapes, batch=32) == kind


def test_profile_shares_count_outermost_aten_ops_once_and_the_rest_as_what_no_op_covers():
    layer = Event("LSTMLayer", [], 900.0)
    add = Event("aten::add_", [[32, 1536], [32, 1536]], 30.0, layer)
    inner_copy = Event("aten::copy_", [[32, 1536], [32, 1536]], 20.0, add)  # inside add_: counted with it
    mm = Event("aten::mm", [[32, 384], [384, 1536]], 50.0, layer)
    shares = profile_shares([layer, add, inner_copy, mm], wall_us=200.0, batch=32)
    assert shares == {"rest: python, autograd, profiler": 60.0, "matmul per step": 25.0, "elementwise per step": 15.0}
