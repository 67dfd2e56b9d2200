"""Run directories: turn the train command's inputs into a ready Trainer, fresh or resumed.

A run directory holds ``config.json`` (model, training and data, resolved), ``tokenizer.json``,
``metrics.jsonl``, ``best.pt`` and ``last.pt``; when training starts from text files it also holds
``data/``, the tokenize output made with the same tokenizer code, so a run is self-contained.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from seqtool import __version__
from seqtool.errors import CheckpointError, ConfigError, CorpusError, OutputError, UsageError
from seqtool.fsio import DirLock, atomic_dir, atomic_write_bytes, check_output_dir, is_within, remove_stale_stages, remove_write_debris
from seqtool.models.config import ModelConfig, level_defaults


@dataclass
class DataSpec:
    """Where a run's ids come from: a tokenize output directory.

    ``rel`` is its path relative to the run directory when the data lives inside the run (text files
    tokenized by ``train``); it is what the run records, so a moved run directory still finds its data.
    """

    dir: Path
    rel: str | None = None

    def record(self) -> dict:
        return {"dir": self.rel or str(self.dir)}

    @classmethod
    def from_record(cls, run_dir: Path, record: dict) -> "DataSpec":
        recorded = Path(record["dir"])
        if not recorded.is_absolute():
            return cls((run_dir / recorded).resolve(), str(recorded))
        inside = run_dir / "data"
        if not recorded.exists() and recorded.name == "data" and is_tokenized_dir(inside):
            return cls(inside.resolve(), "data")  # a run from before relative records, moved since
        return cls(recorded)

    def load(self):
        from seqtool.data import load_ids
        from seqtool.text import load_tokenizer

        tok = load_tokenizer(self.dir)
        train = load_ids(self.dir / "train.npy")
        val_path = self.dir / "val.npy"
        if not val_path.exists():
            raise CorpusError(
                f"{self.dir}: has no validation ids (val.npy); re-run seqtool tokenize with --val-fraction 0.1 or --val FILE"
            )
        return tok, train, load_ids(val_path)  # the ids are checked against the vocabulary by the columns each process reads


def is_tokenized_dir(p: Path) -> bool:
    return p.is_dir() and (p / "tokenizer.json").is_file() and (p / "train.npy").is_file()


def prepare_data(
    data: list[str],
    run_dir: Path,
    tok_options,
    val: list[str] | None,
    val_fraction: float | None,
    errors: str,
    progress: Callable | None = None,
) -> DataSpec:
    """A tokenize output directory as it is, or text files tokenized into ``run_dir/data``."""
    d = _tokenized_input(data, val, val_fraction)
    if d is not None:
        return DataSpec(d.resolve())
    from seqtool.text.pipeline import TokenizeJob, run_tokenize

    job = TokenizeJob(inputs=data, out=run_dir / "data", options=tok_options, val=val,
                      val_fraction=None if val else (0.1 if val_fraction is None else val_fraction), errors=errors)
    run_tokenize(job, progress=progress)
    return DataSpec((run_dir / "data").resolve(), "data")


def _tokenized_input(data: list[str], val: list[str] | None, val_fraction: float | None) -> Path | None:
    """The tokenize directory given as DATA, or None for text files; a directory of any other kind is an error."""
    if not (len(data) == 1 and Path(data[0]).is_dir()):
        return None
    d = Path(data[0])
    if not is_tokenized_dir(d):
        raise CorpusError(f"{d}: not a seqtool tokenize output (no tokenizer.json/train.npy); give text files or run seqtool tokenize")
    if val or val_fraction:
        raise UsageError("--val/--val-fraction apply to text files; a tokenize directory brings its own val.npy")
    return d


def check_inputs(data: list[str], val: list[str] | None, val_fraction: float | None, pretrained: Path | None) -> None:
    """Fail on a missing or unreadable input now, before anything is tokenized or any directory touched."""
    from seqtool.text.corpus import check_paths

    if _tokenized_input(data, val, val_fraction) is None:
        check_paths(data)
    if val:
        check_paths(val, option="--val")
    if pretrained is not None and not Path(pretrained).is_file():
        raise ConfigError(f"--pretrained-embeddings {pretrained}: no such file; check the path")


def check_new_run_dir(out: Path, force: bool, inputs: list[str]) -> None:
    """Refuse an ``--out`` whose replacement would destroy something: a non-empty directory without
    ``force``, the current directory (or one above it: ``check_output_dir``), or a directory that
    holds one of the inputs."""
    check_output_dir(out, force)
    for p in inputs:
        if p != "-" and is_within(Path(p), out):
            raise OutputError(f"--out {out}: contains the input {p}, which replacing it would delete",
                              fixes=("choose an --out outside the inputs",))


@contextlib.contextmanager
def staged_run_dir(out: Path, force: bool, inputs: list[str], lock: DirLock) -> Iterator[Path]:
    """Build a new run beside ``out`` and swap it in only when the block succeeds.

    An existing run (with ``force``) stays untouched until the new one has its data, config and a
    trainer that accepted them; on any error, or an interrupt, the staging directory is removed and
    ``out`` is as it was. ``lock`` is taken on the new run before it appears under ``out`` and stays
    held (the caller releases it); a run another process is writing is never replaced.
    """
    check_new_run_dir(out, force, inputs)
    DirLock.refuse_if_held(out)
    remove_stale_stages(out)
    with atomic_dir(out, force) as stage:
        lock.acquire(stage)
        yield stage
        check_output_dir(out, force)  # another process may have made it while we tokenized
        DirLock.refuse_if_held(out)
    lock.moved_to(out)


def make_run_dir(run_dir: Path, force: bool) -> None:
    check_output_dir(run_dir, force)
    if run_dir.exists() and force:
        shutil.rmtree(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"--out {run_dir}: cannot write here ({e.strerror}); choose another directory") from None


def model_config(vocab_size: int, level: str, given: dict[str, Any]) -> ModelConfig:
    """ModelConfig from the options given (None = the level's default)."""
    d = level_defaults(level)
    kw = {k: (d[k] if v is None and k in d else v) for k, v in given.items()}
    kw = {k: v for k, v in kw.items() if v is not None}
    if given.get("tie_weights") is None and kw.get("tie_weights") and (kw.get("embed_dim") != kw.get("hidden") or kw.get("adaptive_cutoffs")):
        kw["tie_weights"] = False  # tying is a default, not a demand: sizes (or an adaptive softmax) the user chose win
    return ModelConfig(vocab_size=vocab_size, **kw).validate()


#: float32 bytes per parameter while training: the weight, its gradient and Adam's two moments.
TRAINING_BYTES_PER_PARAM = 4 * 4


def check_model_fits(mcfg: ModelConfig) -> None:
    """Refuse a model whose training would not fit in this machine's available memory (before torch tries)."""
    from seqtool.memory import available_bytes, refuse_if_over

    n = mcfg.param_count()
    refuse_if_over(n * TRAINING_BYTES_PER_PARAM, available_bytes(), f"a {mcfg.cell} model of {mcfg.layers} x {mcfg.hidden:,} units",
                   f"{n:,} parameters x 16 bytes: weights, gradients and Adam's two moments", "the available memory",
                   fixes=("lower --hidden, --layers or --embed-dim",))


def write_run_files(run_dir: Path, mcfg: ModelConfig, tcfg, tok, data: DataSpec, task: dict | None = None, world_size: int = 1) -> dict:
    """config.json and tokenizer.json of a run; ``task``: a classifier's or tagger's record (task_runs.TaskSpec);
    ``world_size``: the processes of a distributed run (recorded when more than one)."""
    config = {
        "seqtool_version": __version__,
        "model": mcfg.to_dict(),
        "train": tcfg.to_dict(),
        "data": data.record(),
        "level": tok.level,
        **({"task": task} if task is not None else {}),
        **({"world_size": world_size} if world_size > 1 else {}),
    }
    _write_config(run_dir, config)
    tok.save(run_dir / "tokenizer.json")
    return config


def _write_config(run_dir: Path, config: dict) -> None:
    atomic_write_bytes(run_dir / "config.json", (json.dumps(config, indent=2) + "\n").encode())


def attach_pretrained(model, mcfg: ModelConfig, tok, pretrained: Path, seed: int, notify: Callable[[str], None] | None = None) -> None:
    """Copy word2vec/GloVe vectors into ``model``'s embedding (any model on a RecurrentBody) and say how many tokens they covered."""
    from seqtool.models import load_pretrained_vectors

    if mcfg.embed_dim == 0:
        raise UsageError("--pretrained-embeddings needs --embed-dim set to the vectors' dimension")
    matrix, cov = load_pretrained_vectors(pretrained, tok.vocab.tokens, mcfg.embed_dim, seed=seed)
    model.set_embeddings(matrix, mcfg.freeze_embeddings)
    if notify:
        notify(f"pretrained vectors ({cov['format']}, dim {cov['dim']}): {cov['found']:,} of {cov['total']:,} vocabulary tokens found "
               f"({cov['found'] / max(cov['total'], 1):.1%})")


def build_trainer(
    run_dir: Path,
    mcfg: ModelConfig,
    tcfg,
    tok,
    train_ids,
    val_ids,
    data: DataSpec,
    device,
    callbacks=None,
    pretrained: Path | None = None,
    notify: Callable[[str], None] | None = None,
    dist=None,
):
    import torch

    from seqtool.models import build_model
    from seqtool.tasks.lm import LMTask
    from seqtool.training import Trainer

    check_model_fits(mcfg)
    torch.manual_seed(tcfg.seed)  # weights and dropout masks: same seed, same run (bit for bit on CPU)
    model = build_model(mcfg)
    if pretrained is not None:
        attach_pretrained(model, mcfg, tok, pretrained, tcfg.seed, notify)
    device = dist.device(device) if dist is not None else device  # a GPU per process
    model.to(device)
    extra = {"model_config": mcfg.to_dict(), "tokenizer": tok.to_dict(), "data": data.record(), "seqtool_version": __version__}
    task = LMTask(tcfg, train_ids, val_ids, device, dist)
    if task.train_data.largest_id() >= len(tok.vocab):  # this process's columns only: a corpus bigger than RAM is read once, in chunks
        raise CheckpointError(f"{data.dir}: train.npy has ids beyond its tokenizer's vocabulary; re-run seqtool tokenize")
    return Trainer(model, tcfg, task, run_dir, extra, device, callbacks, dist)


def read_run_config(run_dir: Path) -> dict:
    """A run's config.json, refused when it is not JSON or was written by a newer seqtool: resuming would
    rewrite the run without the settings this version does not know."""
    path = run_dir / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e}); the run's config is damaged") from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise CheckpointError(f"{path}: not a seqtool run config (no model section)")
    made_by = str(config.get("seqtool_version", ""))
    if _version_tuple(made_by) > _version_tuple(__version__):
        raise CheckpointError(f"{path}: made by seqtool {made_by}, newer than this one ({__version__}); upgrade seqtool to resume it")
    return config


def _version_tuple(version: str) -> tuple[int, ...]:
    """'0.10.2' -> (0, 10, 2); a part that is not a number ends it ('1.0rc1' -> (1,))."""
    out = []
    for part in version.split("."):
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)


def _check_same_model(ckpt: dict, config: dict, config_path: Path) -> None:
    """The checkpoint holds the model the run's config describes, not one copied in from another run."""
    saved, said = json.loads(json.dumps(ckpt["model_config"])), config["model"]  # as JSON reads them: tuples are lists
    if saved.get("cell") != said.get("cell"):
        raise CheckpointError(f"{ckpt['path']}: a {saved.get('cell')} checkpoint, but {config_path} says {said.get('cell')}; "
                              "the checkpoint belongs to another run")
    for key in sorted(set(saved) | set(said)):
        if saved.get(key) != said.get(key):
            raise CheckpointError(f"{ckpt['path']}: its model has {key} {saved.get(key)!r}, but {config_path} says {said.get(key)!r}; "
                                  "the checkpoint belongs to another run")


def resume(run_dir: Path, overrides: dict[str, Any], callbacks=None, lock: DirLock | None = None, dist=None):
    """A Trainer that continues ``run_dir`` from its ``last.pt`` exactly where it stopped.

    ``lock`` (held by the caller until training ends) is taken before anything in the run is read or rewritten.
    ``dist``: a process of a distributed run (the processes other than 0 take no lock: process 0 holds it).
    """
    from seqtool.checkpoint import load_checkpoint
    from seqtool.devices import resolve_device
    from seqtool.models import ModelConfig as MC
    from seqtool.train_config import TrainConfig

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise CheckpointError(f"--resume {run_dir}: not a seqtool run directory (no config.json); give a directory made by seqtool train --out")
    if not os.access(run_dir, os.W_OK):  # before anything is read or rewritten: resuming writes checkpoints and metrics
        raise OutputError(f"--resume {run_dir}: the run directory is not writable; check its permissions (or copy it somewhere writable and resume the copy)")
    config = read_run_config(run_dir)
    if lock is not None:
        lock.acquire(run_dir, "--resume")
        remove_write_debris(run_dir)  # temporary files of writes a kill cut short: ours to remove now that we hold the lock
    ckpt = load_checkpoint(run_dir, prefer="last")
    _check_same_model(ckpt, config, run_dir / "config.json")
    if "optimizer_state" not in ckpt or "train_config" not in ckpt:
        raise CheckpointError(f"{ckpt['path']}: has no training state to resume from")
    mcfg = MC.from_dict(ckpt["model_config"])
    tcfg = TrainConfig.from_dict(ckpt["train_config"])
    tcfg = dataclasses.replace(tcfg, **{k: v for k, v in overrides.items() if v is not None}).validate()
    if "task" in ckpt:  # a classifier or tagger run (train --task): its own data and head
        from seqtool import task_runs

        trainer, tok = task_runs.resume_trainer(run_dir, ckpt, mcfg, tcfg, resolve_device(tcfg.device), callbacks, dist)
        return _restored(trainer, ckpt, run_dir, config, dist), tok
    data = DataSpec.from_record(run_dir, ckpt["data"])
    if not data.dir.exists():
        raise CheckpointError(f"--resume {run_dir}: its data directory {data.dir} is gone; restore it to resume")
    tok, train_ids, val_ids = data.load()
    if tok.to_dict()["vocab"] != ckpt["tokenizer"]["vocab"] or tok.level != ckpt["tokenizer"]["level"]:
        raise CheckpointError(f"--resume {run_dir}: the tokenizer in {data.dir} does not match the checkpoint's; the data was re-tokenized differently")
    device = resolve_device(tcfg.device)
    trainer = build_trainer(run_dir, mcfg, tcfg, tok, train_ids, val_ids, data, device, callbacks, dist=dist)
    return _restored(trainer, ckpt, run_dir, config, dist), tok


def _restored(trainer, ckpt: dict, run_dir: Path, config: dict, dist=None):
    """``trainer`` at the checkpoint's position, its metrics.jsonl trimmed to it and config.json's training
    settings and world size the resumed run's; a run that already used its budget is refused (and left as it was)."""
    trainer.restore(ckpt)
    done = trainer.budget_used()
    if done is not None:
        raise UsageError(f"--resume {run_dir}: the run has finished ({done}, step {trainer.step:,})",
                         fixes=("give a larger --max-steps, --epochs or --time-budget to train further",))
    trainer.trim_metrics()
    if dist is None or dist.is_main:
        record_resumed(run_dir, config, trainer.cfg.to_dict(), dist.world if dist else 1)
    return trainer


def record_resumed(run_dir: Path, config: dict, train: dict, world: int) -> None:
    """config.json with the training settings the run goes on with (a resume's new --max-steps, --time-budget ...,
    as its checkpoints record them) and the processes it trains on now (recorded when more than one, as a new
    run's), rewritten atomically when either changed."""
    if config.get("train") == train and config.get("world_size", 1) == world:
        return
    config = {k: v for k, v in config.items() if k != "world_size"}
    config.update({"train": train, **({"world_size": world} if world > 1 else {})})
    try:
        _write_config(run_dir, config)
    except OSError as e:
        raise OutputError(f"{run_dir / 'config.json'}: cannot write ({e.strerror or e}); check the run directory's space and permissions") from None
