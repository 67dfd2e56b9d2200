"""Training on several processes with torch.distributed: the process group torchrun describes, and
the few collectives the trainer and its tasks need.

A plain ``seqtool train`` has no ``Dist`` (None everywhere) and nothing here runs. Under torchrun
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/MASTER_PORT in the environment) ``from_env`` joins the
process group: gloo for CPU tensors, NCCL for CUDA tensors with one GPU per local rank. The model
is wrapped in DistributedDataParallel, which averages the gradients of the ranks during backward;
everything else (the loss to report, validation sums, stop flags, a language model's carried
state for a checkpoint) goes through ``sum`` and ``gather`` below, plain ``all_reduce`` and
``all_gather``. A collective that fails (a rank died, the timeout passed) becomes ``DistributedError``.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as td

from seqtool.errors import SeqtoolError

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


class DistributedError(SeqtoolError):
    """Another process of a distributed run failed or stopped answering."""


# How long the other processes wait for process 0 to prepare the run (tokenizing a large corpus takes a while);
# a process 0 that dies meanwhile closes its connections, and they fail at once.
SETUP_TIMEOUT = datetime.timedelta(days=1)


@dataclass
class Dist:
    rank: int
    world: int
    local_rank: int
    setup_group: object = None  # a gloo group for rank0_first, with SETUP_TIMEOUT instead of --dist-timeout

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, n: int) -> tuple[int, int]:
        """This rank's contiguous part [lo, hi) of ``n`` items (the first ranks get one more when n does not divide)."""
        return n * self.rank // self.world, n * (self.rank + 1) // self.world

    def device(self, device: torch.device) -> torch.device:
        """The training device of this rank: its own GPU (LOCAL_RANK) on CUDA."""
        if device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def sum(self, values: list[float], device: torch.device | str = "cpu") -> list[float]:
        """Each value summed over all ranks (one all_reduce)."""
        t = torch.tensor(values, dtype=torch.float64, device=device)
        with _translated():
            td.all_reduce(t)
        return t.tolist()

    def step_totals(self, loss: torch.Tensor, tokens: int) -> tuple[torch.Tensor, int]:
        """A training step's loss as the mean over all ranks, and its tokens summed over them (one all_reduce).

        Each rank's loss is a mean over its share; a task whose shares differ in size weights its loss
        so that this mean is the mean over the whole batch (as DDP's gradient average is).
        """
        both = torch.stack([loss.detach().float(), torch.tensor(float(tokens), device=loss.device)])
        with _translated():
            td.all_reduce(both)
        return both[0] / self.world, int(both[1])

    def gather(self, t: torch.Tensor, dim: int) -> torch.Tensor:
        """The ranks' ``t`` (the same shape on each) joined along ``dim`` in rank order."""
        parts = [torch.empty_like(t) for _ in range(self.world)]
        with _translated():
            td.all_gather(parts, t.contiguous())
        return torch.cat(parts, dim=dim)

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank (a small picklable value: a setup's outcome), waiting up to SETUP_TIMEOUT."""
        box = [obj]
        with _translated():
            td.broadcast_object_list(box, src=0, group=self.setup_group)
        return box[0]

    def wrap(self, model: torch.nn.Module, device: torch.device) -> "DistributedModel":
        """``model`` under DistributedDataParallel, called through its ``loss`` method."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        # An adaptive softmax's tail clusters see no target in some windows: DDP must look for unused parameters.
        unused = any(isinstance(m, torch.nn.AdaptiveLogSoftmaxWithLoss) for m in model.modules())
        with _translated():
            ddp = DDP(LossCall(model), device_ids=ids, find_unused_parameters=unused)
        return DistributedModel(model, ddp)


class LossCall(torch.nn.Module):
    """``model.loss`` as a forward: DDP synchronises gradients only for what runs through its forward."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return self.model.loss(*args, **kwargs)


class DistributedModel:
    """What a task's ``loss`` sees on a distributed run: ``loss`` goes through DDP, the rest is the model's."""

    def __init__(self, model: torch.nn.Module, ddp):
        self.model, self.ddp = model, ddp

    def loss(self, *args, **kwargs):
        return self.ddp(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.model, name)


def in_env() -> bool:
    """Launched by torchrun (or anything that sets its environment) with more than one process."""
    return all(k in os.environ for k in ENV) and int(os.environ["WORLD_SIZE"]) > 1


def from_env(timeout_s: float) -> Dist | None:
    """Join the process group torchrun describes (None for a plain run, or a world of one process).

    ``timeout_s`` bounds how long a collective waits for the other ranks: a rank that died or hangs
    makes the others fail with a one-line error instead of waiting forever.
    """
    if not in_env():
        return None
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    try:
        td.init_process_group(backend, init_method="env://", timeout=datetime.timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError) as e:
        raise DistributedError(f"cannot join the process group at {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} "
                               f"({_first_line(e)}); check the torchrun rendezvous options") from None
    return Dist(td.get_rank(), td.get_world_size(), int(os.environ["LOCAL_RANK"]), td.new_group(backend="gloo", timeout=SETUP_TIMEOUT))


def launch(nproc: int, argv: list[str]) -> int:
    """``seqtool ARGV`` in ``nproc`` processes on this machine, started and watched by torchrun's elastic agent
    (``torchrun --standalone --nproc-per-node NPROC -m seqtool ARGV``); the exit code of the first that failed, else 0."""
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    # The processes say what failed (or that they saved), in one line: torchrun's agent says nothing (no "Received 15
    # death signal" warning). Each of its modules' loggers has a level of its own, so setting their parent's is not enough.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("torch.distributed.elastic", "torch.distributed.launcher", "torch.distributed.run")):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        args = get_args_parser().parse_args(["-m", "seqtool", *argv])
        args.standalone, args.nproc_per_node = True, str(nproc)  # a rendezvous on a free local port; nproc workers
        run(args)
    except ChildFailedError as e:  # the agent stops the others (SIGTERM) once one fails: prefer an exit code a process chose
        codes = [f.exitcode for _, f in sorted(e.failures.items())]
        return next((c for c in codes if c > 0), 128 - min(codes))  # else killed by a signal: 128 + its number, as a shell says
    except SignalException as e:  # SIGTERM/Ctrl-C to this process: the agent passed it on, the processes saved and stopped
        return 128 + int(e.sigval)
    return 0


def without_option(argv: list[str], name: str) -> list[str]:
    """``argv`` without ``name VALUE`` or ``name=VALUE``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == name:
            skip = True
        elif not a.startswith(name + "="):
            out.append(a)
    return out


def shutdown(dist: Dist | None) -> None:
    if dist is not None and td.is_initialized():
        td.destroy_process_group()


@contextlib.contextmanager
def _translated():
    try:
        yield
    except RuntimeError as e:
        if not is_comm_error(e):
            raise
        raise lost_peer(e) from None


def is_comm_error(e: RuntimeError) -> bool:
    """A collective failed (DistBackendError, DistNetworkError, gloo's "Connection reset by peer", a timeout)."""
    return isinstance(e, td.DistError) or any(w in str(e) for w in ("gloo", "NCCL", "Connection", "Timed out", "timed out"))


def lost_peer(e: BaseException, kept: str = "the run's last.pt", run_dir=None) -> DistributedError:
    """The one line for a failed collective; ``e``: the backend's error, or a lost_peer error to say again with what the trainer knows."""
    rank = td.get_rank() if td.is_initialized() else os.environ.get("RANK", "?")
    cause = getattr(e, "cause", None) or re.sub(r"^\[[^\]]*\]\s*", "", _first_line(e))  # without gloo's "[.../pair.cc:537]"
    err = DistributedError(f"rank {rank}: another process of the run failed or stopped answering ({cause}); "
                           f"{kept} is kept: resume with seqtool train --resume {run_dir or 'RUN_DIR'}")
    err.cause = cause
    return err


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return (s.splitlines()[0] if s else type(e).__name__)[:160]


def rank0_first(dist: Dist | None, setup_main, setup_others):
    """Run ``setup_main`` on process 0 (it writes the run directory), then ``setup_others`` on the
    other processes (they read what process 0 wrote); a failure on process 0 stops them all."""
    if dist is None:
        return setup_main()
    if dist.is_main:
        try:
            result = setup_main()
        except BaseException as e:
            dist.broadcast((_first_line(e), getattr(e, "exit_code", 1)))
            raise
        dist.broadcast(None)
        dist.broadcast(None)  # the others are ready
        return result
    failed = dist.broadcast(None)
    if failed is not None:
        err = DistributedError(f"rank {dist.rank}: process 0 could not start the run ({failed[0]})")
        err.exit_code, err.same_on_every_process = failed[1], True  # process 0 says why, and the exit code is its
        raise err
    result = setup_others()
    dist.broadcast(None)  # process 0 waits here (not in training's first collective, under --dist-timeout) for the others to be ready
    return result
