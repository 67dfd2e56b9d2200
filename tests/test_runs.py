"""Run directories: level defaults, the model config they fill in, data records, and safe --out handling."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqtool.errors import OutputError, UsageError
from seqtool.fsio import DirLock
from seqtool.models.config import level_defaults  # one line, so a move of the level defaults is a one-line change here
from seqtool.runs import DataSpec, check_new_run_dir, model_config, staged_run_dir
from seqtool.text.constants import LEVELS

MODEL_KEYS = ("hidden", "layers", "embed_dim", "dropout", "tie_weights")


def _given(**kw):
    """The model options as the train command passes them: None where the user gave nothing."""
    return {"cell": "lstm", **{k: None for k in MODEL_KEYS}, **kw}


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its bytes (None for a directory): byte-identical means equal trees."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _tokenized(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / "tokenizer.json").write_text("{}")
    (d / "train.npy").write_bytes(b"")
    return d


# level_defaults and model_config


def test_level_defaults_char_follows_char_rnn_and_every_other_level_the_word_defaults():
    char, word = level_defaults("char"), level_defaults("word")
    assert char["embed_dim"] == 0 and not char["tie_weights"]  # one-hot inputs, untied, like char-rnn
    assert word["embed_dim"] == word["hidden"] and word["tie_weights"]  # Zaremba et al.: embeddings, tied output
    assert char["bptt"] > word["bptt"]
    for level in LEVELS:
        if level != "char":
            assert level_defaults(level) == word, level
    for d in (char, word):
        assert set(MODEL_KEYS) | {"batch_size", "bptt"} <= set(d)


@pytest.mark.parametrize("level", ["char", "word"])
def test_model_config_fills_none_with_the_level_default(level):
    d = level_defaults(level)
    cfg = model_config(50, level, _given())
    assert cfg.vocab_size == 50 and cfg.cell == "lstm"
    assert {k: getattr(cfg, k) for k in MODEL_KEYS} == {k: d[k] for k in MODEL_KEYS}


def test_model_config_keeps_what_was_given_and_drops_unset_fields_to_the_dataclass_default():
    cfg = model_config(50, "char", _given(hidden=17, layers=1, dropout=0.0, forget_bias=None, delay=None))
    assert (cfg.hidden, cfg.layers, cfg.dropout) == (17, 1, 0.0)  # 0.0 is a value, not "unset"
    assert cfg.embed_dim == level_defaults("char")["embed_dim"]
    assert cfg.forget_bias is None and cfg.delay == 2  # None for a field without a level default: the dataclass's


def test_model_config_tie_weights_yields_when_the_sizes_differ():
    word = level_defaults("word")
    assert model_config(50, "word", _given()).tie_weights is True
    assert model_config(50, "word", _given(embed_dim=word["hidden"] // 2)).tie_weights is False
    assert model_config(50, "word", _given(hidden=word["embed_dim"] * 2)).tie_weights is False
    assert model_config(50, "word", _given(adaptive_cutoffs=(10, 20))).tie_weights is False
    tied = model_config(50, "word", _given(hidden=64, embed_dim=64))
    assert tied.tie_weights is True  # equal sizes chosen by the user: the default still ties


def test_model_config_an_explicit_tie_weights_is_a_demand():
    with pytest.raises(UsageError, match="--tie-weights needs --embed-dim equal to --hidden"):
        model_config(50, "word", _given(embed_dim=64, tie_weights=True))
    assert model_config(50, "word", _given(tie_weights=False)).tie_weights is False


def test_model_config_validates():
    with pytest.raises(UsageError, match="--hidden must be at least 1"):
        model_config(50, "char", _given(hidden=0))


# DataSpec records


def test_dataspec_inside_the_run_records_a_relative_path_that_survives_a_move(tmp_path):
    run = tmp_path / "run"
    _tokenized(run / "data")
    spec = DataSpec((run / "data").resolve(), "data")
    record = spec.record()
    assert record == {"dir": "data"}
    moved = tmp_path / "moved"
    run.rename(moved)
    back = DataSpec.from_record(moved, record)
    assert back.dir == (moved / "data").resolve() and back.rel == "data"
    assert back.record() == record


def test_dataspec_outside_the_run_records_its_absolute_path(tmp_path):
    d = _tokenized(tmp_path / "tok")
    spec = DataSpec(d.resolve())
    assert spec.record() == {"dir": str(d.resolve())}
    back = DataSpec.from_record(tmp_path / "run", spec.record())
    assert back.dir == d.resolve() and back.rel is None


def test_dataspec_old_absolute_record_falls_back_to_run_data_when_the_recorded_path_is_gone(tmp_path):
    run = tmp_path / "run"
    _tokenized(run / "data")
    gone = tmp_path / "elsewhere" / "run" / "data"  # where the run was when it recorded an absolute path
    back = DataSpec.from_record(run, {"dir": str(gone)})
    assert back.dir == (run / "data").resolve() and back.rel == "data"


def test_dataspec_absolute_record_is_kept_when_it_exists_or_when_there_is_nothing_to_fall_back_to(tmp_path):
    run = tmp_path / "run"
    _tokenized(run / "data")
    there = _tokenized(tmp_path / "other" / "data")
    assert DataSpec.from_record(run, {"dir": str(there)}).dir == there  # it exists: used as recorded
    gone = tmp_path / "gone" / "data"
    assert DataSpec.from_record(tmp_path / "empty-run", {"dir": str(gone)}).dir == gone  # no RUN/data
    gone_tok = tmp_path / "gone" / "tok"
    assert DataSpec.from_record(run, {"dir": str(gone_tok)}).dir == gone_tok  # not a .../data record


# check_new_run_dir


def test_check_new_run_dir_accepts_a_new_or_empty_directory(tmp_path):
    check_new_run_dir(tmp_path / "new", False, [])
    (tmp_path / "empty").mkdir()
    check_new_run_dir(tmp_path / "empty", False, [])


def test_check_new_run_dir_refuses_a_non_empty_directory_without_force(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(OutputError, match="not empty.*--force"):
        check_new_run_dir(out, False, [])
    check_new_run_dir(out, True, [])


def test_check_new_run_dir_refuses_the_current_directory_and_those_above_it(tmp_path, monkeypatch):
    cwd = tmp_path / "work" / "here"
    cwd.mkdir(parents=True)
    (cwd / "notes.txt").write_text("mine")
    monkeypatch.chdir(cwd)
    for out in (Path("."), cwd, tmp_path / "work"):
        with pytest.raises(OutputError, match="is the current directory or contains it"):
            check_new_run_dir(out, True, [])
    check_new_run_dir(Path("runs/x"), True, [])  # below the current directory is fine


def test_check_new_run_dir_refuses_an_out_that_contains_an_input(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    corpus = out / "corpus.txt"
    corpus.write_text("text")
    with pytest.raises(OutputError, match="contains the input"):
        check_new_run_dir(out, True, [str(tmp_path / "other.txt"), str(corpus)])
    with pytest.raises(OutputError, match="contains the input"):
        check_new_run_dir(out, True, [str(out)])  # a tokenize directory given as --out of its own run
    check_new_run_dir(out, True, ["-", str(tmp_path / "other.txt")])  # stdin and outside inputs are fine


# staged_run_dir


def _old_run(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    (out / "data").mkdir(parents=True)
    (out / "config.json").write_text('{"old": true}\n')
    (out / "data" / "train.npy").write_bytes(bytes(range(256)))
    return out


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_staged_run_dir_failing_block_leaves_the_old_run_byte_identical_and_no_debris(tmp_path, error):
    out = _old_run(tmp_path)
    before = _tree(out)
    with pytest.raises(error):
        with staged_run_dir(out, True, [], DirLock()) as stage:
            assert stage.parent == out.parent and stage != out
            (stage / "config.json").write_text('{"new": true}\n')
            (stage / "data").mkdir()
            raise error("trainer refused the config")
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no .run.tmp-* or .run.old-* left


def test_staged_run_dir_refuses_before_touching_anything(tmp_path):
    out = _old_run(tmp_path)
    before = _tree(out)
    with pytest.raises(OutputError, match="not empty"):
        with staged_run_dir(out, False, [], DirLock()):
            pytest.fail("the block must not run")
    assert _tree(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_staged_run_dir_succeeding_block_replaces_the_old_run(tmp_path):
    out = _old_run(tmp_path)
    with staged_run_dir(out, True, [], DirLock()) as stage:
        (stage / "config.json").write_text('{"new": true}\n')
        assert (out / "config.json").read_text() == '{"old": true}\n'  # untouched until the block ends
    assert _tree(out) == {"config.json": b'{"new": true}\n', ".lock": f"{os.getpid()}\n".encode()}  # the new run, still locked
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_staged_run_dir_creates_a_new_run(tmp_path):
    out = tmp_path / "runs" / "new"
    with staged_run_dir(out, False, [], DirLock()) as stage:
        (stage / "config.json").write_text("{}")
    assert {k: v for k, v in _tree(out).items() if k != ".lock"} == {"config.json": b"{}"}
    assert sorted(p.name for p in out.parent.iterdir()) == ["new"]
