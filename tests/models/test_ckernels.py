"""The compiled LSTM and GRU steps (cell_kernels.c through seqtool.models.ckernels) against the torch steps and nn.LSTM,
its fallback when no compiler works, and its build cache."""
import shutil

import pytest
import torch
from torch import nn

from seqtool.models import ckernels
from seqtool.models.bf16_rnn import run_stack
from tests.models.test_bf16_rnn import BF16_TOL, case, outputs_and_grads, scaled_error

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh, empty kernel cache for this test, and the process's loaded libraries forgotten."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SEQTOOL_NO_C_KERNELS", raising=False)
    monkeypatch.setattr(ckernels, "_loaded", {})
    return tmp_path / "seqtool" / "ckernels"


@pytest.fixture
def c_on(monkeypatch):
    """The kernels from the session's cache (built once), switched on."""
    monkeypatch.delenv("SEQTOOL_NO_C_KERNELS", raising=False)
    assert ckernels.kernels() is not None


def torch_steps(monkeypatch, rnn, dtype):
    """run_stack with the C kernels switched off: the eager torch steps."""
    def run(x, s):
        with monkeypatch.context() as m:
            m.setenv("SEQTOOL_NO_C_KERNELS", "1")
            return run_stack(rnn, x, s, dtype=dtype)
    return run


@pytest.mark.parametrize("kind, layers, T", [(k, *lt) for k in ("lstm", "gru") for lt in ((1, 1), (1, 5), (2, 5))])
def test_c_steps_in_fp32_equal_torch_cells_and_the_torch_steps(c_on, monkeypatch, kind, layers, T):
    rnn, x, state, params = case(kind, layers, T, seed=layers * 10 + T)
    got = outputs_and_grads(lambda x, s: run_stack(rnn, x, s, dtype=None), x, state, params)
    run = torch_steps(monkeypatch, rnn, None)
    for ref in (outputs_and_grads(rnn, x, state, params), outputs_and_grads(run, x, state, params)):
        assert len(got) == len(ref) == 1 + len(state) + 1 + len(state) + 4 * layers  # y, (h, c), dx, dh0, dc0, weights
        for g, r in zip(got, ref):
            torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind, layers", [(k, n) for k in ("lstm", "gru") for n in (1, 2)])
def test_c_steps_in_bf16_are_within_bf16_error_of_torch_cells_and_close_to_the_torch_steps(c_on, monkeypatch, kind, layers):
    rnn, x, state, params = case(kind, layers, 5, seed=layers)
    got = outputs_and_grads(lambda x, s: run_stack(rnn, x, s, dtype=torch.bfloat16), x, state, params)
    ref = outputs_and_grads(rnn, x, state, params)
    errors = [scaled_error(g, r) for g, r in zip(got, ref)]
    assert BF16_TOL > max(errors) > 1e-4, errors  # within bf16's error, and the matmuls did round
    eager = outputs_and_grads(torch_steps(monkeypatch, rnn, torch.bfloat16), x, state, params)
    # the same roundings in the same places; only expf/tanhf's last bits differ, which a bf16 rounding can amplify
    assert max(scaled_error(g, r) for g, r in zip(got, eager)) < 1e-2


def test_the_c_path_runs_for_fp32_on_the_cpu_and_not_for_float64(c_on, monkeypatch):
    calls = []
    lib = ckernels.kernels()
    monkeypatch.setattr(ckernels, "kernels", lambda: calls.append(1) or lib)
    rnn, x, state, params = case("lstm", 1, 3)
    run_stack(rnn, x, tuple(state), dtype=torch.bfloat16)[0].sum().backward()
    assert len(calls) == 1  # asked once, in the forward; the backward uses what the forward used
    calls.clear()
    run_stack(rnn.double(), x.double(), None, dtype=None)  # gradcheck's float64 keeps the torch steps
    assert not calls


@pytest.mark.parametrize("cc", ["false", "no-such-compiler-xyz"])
def test_a_failing_or_missing_compiler_falls_back_to_the_torch_steps(cache, monkeypatch, cc):
    monkeypatch.setenv("CC", cc)
    assert ckernels.kernels() is None
    assert not any(cache.glob("*.so")) and not any(cache.glob(".*tmp-*"))  # nothing half-built left behind
    rnn, x, state, params = case("lstm", 2, 4)
    got = outputs_and_grads(lambda x, s: run_stack(rnn, x, s, dtype=None), x, state, params)
    for g, r in zip(got, outputs_and_grads(rnn, x, state, params)):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


def test_training_steps_without_c_kernels_equal_those_with_them(c_on, monkeypatch):
    def train(off: bool) -> list[torch.Tensor]:
        monkeypatch.setenv("SEQTOOL_NO_C_KERNELS", "1" if off else "0")
        torch.manual_seed(0)
        rnn = nn.LSTM(5, 6, 2)
        opt = torch.optim.SGD(rnn.parameters(), lr=0.5)
        x = torch.randn(6, 3, 5)
        for _ in range(2):
            opt.zero_grad()
            run_stack(rnn, x, None, dtype=None)[0].pow(2).mean().backward()
            opt.step()
        return [p.detach().clone() for p in rnn.parameters()]

    for a, b in zip(train(False), train(True)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_second_load_reuses_the_build(cache, monkeypatch):
    assert ckernels.kernels() is not None
    (so,) = cache.glob("cell_kernels-*.so")
    built = so.stat().st_mtime_ns
    monkeypatch.setattr(ckernels, "_loaded", {})  # as a new process would
    assert ckernels.kernels() is not None
    assert so.stat().st_mtime_ns == built


def test_a_corrupt_cached_library_is_rebuilt(cache):
    so = ckernels._library_path("cc", ckernels.FLAG_SETS[0])  # where the build would go (not loaded yet here)
    so.parent.mkdir(parents=True)
    so.write_bytes(b"not an ELF file")
    assert ckernels.kernels() is not None
    assert so.read_bytes()[:4] == b"\x7fELF"
    assert not any(cache.glob(".*tmp-*"))


def test_the_library_name_depends_on_the_cpu_and_the_flags(monkeypatch):
    flags = ckernels.FLAG_SETS[0]
    here = ckernels._library_path("cc", flags)
    assert here != ckernels._library_path("cc", ckernels.FLAG_SETS[1])
    monkeypatch.setattr(ckernels, "_cpu_flags", lambda: "flags : fpu sse2")
    assert ckernels._library_path("cc", flags) != here


def test_the_switch_turns_the_kernels_off(cache, monkeypatch):
    monkeypatch.setenv("SEQTOOL_NO_C_KERNELS", "1")
    assert ckernels.kernels() is None
    assert not cache.exists()  # not even built


def test_without_libmvec_the_second_flag_set_builds(cache, monkeypatch):
    compile_flags, _ = ckernels.FLAG_SETS[0]
    monkeypatch.setattr(ckernels, "FLAG_SETS", ((compile_flags, ("-lno_such_library_xyz",)), ckernels.FLAG_SETS[1]))
    assert ckernels.kernels() is not None
    (so,) = cache.glob("cell_kernels-*.so")
    assert so == ckernels._library_path("cc", ckernels.FLAG_SETS[1])


def test_two_builds_at_once_both_leave_a_whole_library(cache):
    from concurrent.futures import ThreadPoolExecutor

    path = ckernels._library_path("cc", ckernels.FLAG_SETS[0])
    with ThreadPoolExecutor(2) as pool:  # as two torchrun ranks would: each writes its own temporary file
        assert all(pool.map(lambda _: ckernels._build("cc", ckernels.FLAG_SETS[0], path), range(2)))
    assert ckernels._open(path) is not None
    assert list(cache.iterdir()) == [path]


def test_loading_the_kernels_keeps_subnormal_floats_for_the_rest_of_the_process(tmp_path):
    """-ffast-math at link time adds crtfastmath.o, which sets flush-to-zero for the whole process on load."""
    import os
    import subprocess
    import sys

    code = ("import sys; from seqtool.models.ckernels import kernels; assert kernels() is not None; "
            "tiny = sys.float_info.min; print(tiny / 4 > 0)")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "SEQTOOL_NO_C_KERNELS": "0"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip() == "True", done.stderr
