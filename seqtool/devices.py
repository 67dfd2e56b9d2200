"""Where and how a model runs: the device, the precision, and the kernels for one-token steps.

This module's job is the choices that depend on the machine rather than the model: ``auto``
device resolution (cuda, then mps, then cpu), ``auto`` precision (bf16 only where it pays: autocast
on CUDA, the bf16-matmul kernel on CPUs with native bf16) with a check that the model has bf16 kernels on this device, and the per-token kernels
that generation and free-running evaluation switch to for their token-by-token loops, in fp32 or (generation, where a
start-up probe finds it faster) bf16.
"""
from __future__ import annotations

import functools
import time
from contextlib import contextmanager, nullcontext
from typing import Callable

import torch

from seqtool.errors import ConfigError, UsageError
from seqtool.train_config import PRECISIONS  # train's --precision values, generate's too

SHORT_PROMPT = 16  # tokens; a prompt up to this long runs with the per-token kernels
# auto generates in bf16 only where the probe's bf16 step takes under this share of fp32's: a wide margin, so that
# the choice (and with it a seed's text) does not flip between runs. A char 2x384 LSTM's bf16 step took 0.75-0.95
# of fp32's at batch 1 and 0.4-0.55 at batch 16 on this project's AVX512-BF16 CPU (one thread, a busy machine).
BF16_WINS = 2 / 3
# auto trains a language model with the bf16 kernel on a CPU with native bf16 only where each layer's per-step
# recurrent matmul, 2 B H (G H) FLOPs, reaches this: there the bf16 matmuls outweigh the kernel's per-step Python
# and C calls. Measured alone (benchmarks/RESULTS.md, issue 15): the char 10-minute default, LSTM 2x384 at batch 32
# (3.8e7), 1.16x fused fp32; the PTB word default, LSTM 2x256 at batch 20 (1.05e7), 24,427 steps in 30 minutes
# against fp32's 22,000 and test perplexity 103.2 against 104.75. Tiny models (tests, hidden 32) stay fp32.
BF16_KERNEL_MIN_STEP_FLOPS = 1e7
# The cells auto trains with the bf16 kernel, and their gate blocks G: the LSTM, measured above, and the layer-normalised
# LSTM, whose bf16 C steps ran 1.60x its fp32 C steps at 2x384, batch 32 (benchmarks/bench_lnlstm.py, issue 14).
# The GRU's steps are C calls too (seqtool/models/cell_kernels.c) but were not measured against fused fp32 alone; the
# tanh RNN's are torch ops.
AUTO_KERNEL_CELLS = {"lstm": 4, "lnlstm": 4}
# auto probes only a token step of at least this many matmul FLOPs (a 1x300 LSTM at batch 1); below it the
# loop's per-call overhead, not its matmuls, sets the pace, and the probe would time noise.
BF16_MIN_STEP_FLOPS = 1e6


def resolve_device(name: str) -> torch.device:
    """auto -> cuda, then mps, then cpu; an unavailable explicit choice is a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here", fixes=("use --device auto or cpu",))
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ConfigError("--device mps: Apple MPS is not available here", fixes=("use --device auto or cpu",))
    if name not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {name}: choose auto, cpu, cuda or mps")
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX tiles) and torch's oneDNN is there to use it.

    Not ``torch.backends.mkldnn`` alone: it also reports bf16 on AVX512 CPUs that only emulate it, slower than fp32.
    """
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return bool(native) and torch.backends.mkldnn.is_available()


def resolve_precision(precision: str, device: torch.device, cell: str | None = None, step_flops: float = 0.0) -> str:
    """``auto``: bf16 where it pays, else fp32. The rule:

    - CUDA with bf16 support: bf16 autocast (cuDNN's bf16 cells);
    - a CPU with native bf16 (cpu_has_bf16), an LSTM or LN-LSTM whose C steps build here (seqtool/models/ckernels.py)
      and a per-step recurrent matmul of at least BF16_KERNEL_MIN_STEP_FLOPS (``step_flops``, 2 B H G H; the caller
      gives it for the models the rule was measured on, language models): seqtool's bf16 kernel
      (seqtool/models/bf16_rnn.py, lnlstm_steps.py), for the LSTM 1.16-1.3x fused fp32 at equal or better loss
      at equal time (issue 15), for the LN-LSTM 1.6x its fp32 C steps (issue 14);
    - anything else fp32: smaller steps, the GRU and tanh RNN (not measured alone), the torch steps (0.92-1.03x),
      emulated bf16, and CPU autocast, which made the output layer 10x slower (issue 6).
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and cell in AUTO_KERNEL_CELLS and step_flops >= BF16_KERNEL_MIN_STEP_FLOPS and cpu_has_bf16():
        from seqtool.models.ckernels import kernels

        return "bf16" if kernels() is not None else "fp32"
    return "fp32"


def recurrent_step_flops(model, batch: int) -> float:
    """2 B H (G H), one layer's per-step recurrent matmul, for an LSTM language model; 0 otherwise
    (classifiers and taggers: the auto rule was not measured on them)."""
    from seqtool.models.lm import LanguageModel

    cfg = getattr(model, "cfg", None)
    if not isinstance(model, LanguageModel) or cfg is None or cfg.cell not in AUTO_KERNEL_CELLS:
        return 0.0
    return 2.0 * batch * cfg.hidden * AUTO_KERNEL_CELLS[cfg.cell] * cfg.hidden


def uses_bf16_kernel(device: torch.device, cell: str | None) -> bool:
    """Whether bf16 on ``device`` means seqtool's bf16-matmul kernel (a CPU and a cell it runs) rather than autocast."""
    from seqtool.models.bf16_rnn import TRAIN_KERNEL_CELLS

    return device.type == "cpu" and cell in TRAIN_KERNEL_CELLS


def autocast_failure(model, forward, autocast: dict) -> str | None:
    """Run ``forward()`` (a small forward pass of ``model``, returning a tensor) and a backward under
    ``autocast``; None if it works, else the first line of the error (e.g. oneDNN's LSTM has no bf16
    kernel on some CPUs)."""
    try:
        with torch.autocast(**autocast):
            out = forward()
        out.float().sum().backward()
    except RuntimeError as e:
        return str(e).strip().splitlines()[0][:100]
    finally:
        model.zero_grad(set_to_none=True)
    return None


@contextmanager
def step_kernels(model):
    """Run one-token steps with the faster kernels for them.

    oneDNN's fused LSTM prepares its weights on every call, which dominates a call of one token
    on CPU: 22 ms vs 5 ms per step for a char LSTM 2x512 with ATen's kernels (torch 2.13, 1
    thread; GRU is not affected). So the token-by-token loop turns oneDNN off while it runs and
    restores the setting after; long calls (a long prompt, eval windows) keep it.
    """
    if next(model.parameters()).device.type != "cpu" or model.cfg.cell != "lstm" or not torch.backends.mkldnn.is_available():
        yield
        return
    previous = torch.backends.mkldnn.set_flags(False, None, None, None)[0]
    try:
        yield
    finally:
        torch.backends.mkldnn.set_flags(previous, None, None, None)


def prompt_kernels(model, tokens: int):
    """The kernels for a call on a prompt of ``tokens`` tokens: a short one takes the token loop's
    too, since oneDNN's LSTM costs ~20 ms per call to prepare its weights, more than a dozen
    single steps (see step_kernels)."""
    return step_kernels(model) if tokens <= SHORT_PROMPT else nullcontext()


def set_up_precision(model, precision: str, device: torch.device, probe, batch: int = 0) -> tuple[bool, dict, str | None]:
    """How ``model`` trains at ``precision`` (--precision) on ``device`` with ``batch`` sequences a step: (the
    bf16-matmul kernel is used, the autocast arguments, a note for the user or None). bf16 on a CPU with a cell the
    kernel runs: the model switches to it (seqtool/models/bf16_rnn.py), no autocast; bf16 elsewhere: autocast,
    checked on ``probe`` (a forward) to work, fp32 with a note where it fails (e.g. oneDNN's LSTM on some CPUs);
    fp32: torch's kernels."""
    cell = getattr(getattr(model, "cfg", None), "cell", None)
    bf16 = resolve_precision(precision, device, cell, recurrent_step_flops(model, batch)) == "bf16"
    kernel = bf16 and uses_bf16_kernel(device, cell) and hasattr(model, "use_bf16_matmuls")
    if hasattr(model, "use_bf16_matmuls"):
        model.use_bf16_matmuls(kernel)  # also back to fp32 for a model trained before in bf16
    autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=bf16 and not kernel)
    note = None
    if autocast["enabled"]:
        first = autocast_failure(model, probe, autocast)
        if first is not None:
            autocast["enabled"] = False
            asked = "bf16" if precision == "bf16" else "auto (bf16)"
            note = f"--precision {asked} is not supported for this model on {device.type} ({first}); training in fp32"
    elif kernel and not cpu_has_bf16():
        note = "--precision bf16: this CPU has no native bf16 (AVX512-BF16 or AMX), so its bf16 matmuls are emulated and likely slower than fp32"
    return kernel, autocast, note


def generation_precision(precision: str, device: torch.device, cell: str, step_flops: float,
                         probe: Callable[[], tuple[float, float]]) -> str:
    """generate's ``--precision`` for a model of ``cell`` on ``device``: fp32 or bf16 (seqtool/models/bf16_step.py).

    ``auto`` is bf16 only on a CPU with native bf16 (cpu_has_bf16), for a cell the bf16 kernel runs, with a
    token step of at least BF16_MIN_STEP_FLOPS matmul FLOPs (``step_flops``), where ``probe()`` (seconds per
    token step in fp32 and in bf16, measured on the model and batch about to generate) finds bf16 under
    BF16_WINS of fp32's time; fp32 everywhere else, including CUDA and MPS, where nobody has measured it.
    The probe times, so two runs near the threshold may choose differently (and a seed then gives slightly
    different text); ``fp32`` or ``bf16`` fix the choice.
    """
    check_precision(precision)
    from seqtool.models.bf16_rnn import KERNEL_CELLS

    if precision == "bf16" and cell not in KERNEL_CELLS:
        raise UsageError(f"--precision bf16: generation in bf16 runs the cells {', '.join(KERNEL_CELLS)}, not {cell}",
                         fixes=("use --precision fp32 or auto",))
    if precision != "auto":
        return precision
    if device.type != "cpu" or cell not in KERNEL_CELLS or step_flops < BF16_MIN_STEP_FLOPS or not cpu_has_bf16():
        return "fp32"
    fp32_s, bf16_s = probe()
    return "bf16" if bf16_s < BF16_WINS * fp32_s else "fp32"


def check_precision(precision: str) -> None:
    """A UsageError naming --precision unless it is one of PRECISIONS."""
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")


def seconds_per_call(call: Callable[[], object], calls: int = 8, warmup: int = 2) -> float:
    """The median wall time of ``call()`` over ``calls`` calls after ``warmup`` (a short start-up probe)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def generation_runner(model, precision: str, batch: int):
    """(fp32 or bf16, what runs the token loop): ``model`` itself in fp32, else a Bf16Runner on its weights
    cast once (seqtool/models/bf16_step.py). ``batch``: the rows each step runs (samples, or beams), the probe's too."""
    device = next(model.parameters()).device
    from seqtool.models.bf16_step import Bf16Runner

    runner = functools.cache(lambda: Bf16Runner(model))  # the weights cast once, for the probe and the generation

    def probe() -> tuple[float, float]:
        ids = torch.zeros(1, batch, dtype=torch.long, device=device)  # (1, B): one token step
        with torch.inference_mode():
            with step_kernels(model):
                fp32_s = seconds_per_call(lambda: model(ids))
            return fp32_s, seconds_per_call(lambda: runner()(ids))

    weights = [p for name, p in model.rnn.named_parameters() if name.startswith("weight")] + [getattr(model.decoder, "weight", None)]
    step_flops = 2 * batch * sum(w.numel() for w in weights if w is not None)  # every weight multiplies each row once
    chosen = generation_precision(precision, device, model.cfg.cell, step_flops, probe)
    return chosen, (runner() if chosen == "bf16" else model)
