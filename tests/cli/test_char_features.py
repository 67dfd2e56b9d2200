"""``train --task tag --char-features`` and ``--word-dropout`` end to end: exact resume, predictions that
survive the run directory, and one-line errors for options that do not fit together."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from tests.cli.helpers import assert_same_run, one_line_error, resumed_elsewhere, run

SMALL = ["--hidden", "12", "--embed-dim", "8", "--layers", "1", "--batch-size", "16", "--threads", "1", "--quiet",
         "--char-dim", "6", "--char-hidden", "8"]


@pytest.fixture
def pos(tmp_path):
    """POS-like CoNLL: the tag is in each word's suffix (-ly ADV, -ed VERB, -ing NOUN), plus 'the' DET."""
    rng = random.Random(2)
    stems = ["".join(rng.choice("bdgkmprst") for _ in range(3)) for _ in range(30)]
    sents = []
    for _ in range(120):
        toks = [("the", "DET")] + [(rng.choice(stems) + suf, tag) for suf, tag in rng.sample([("ly", "ADV"), ("ed", "VERB"), ("ing", "NOUN")], 2)]
        sents.append("\n".join(f"{w}\t{t}" for w, t in toks))
    p = tmp_path / "pos.conll"
    p.write_text("\n\n".join(sents) + "\n")
    return p


@pytest.mark.slow
def test_a_char_feature_run_with_word_dropout_resumes_exactly(tmp_path, pos):
    common = ["--task", "tag", "--char-features", "lstm", "--word-dropout", "0.2", *SMALL, "--eval-every", "6", "--save-every", "0", "--schedule", "none"]
    a, moved = resumed_elsewhere(tmp_path, pos, common, 12)  # the run's own data/task.npz holds the word forms
    assert "chars.rnn.weight_ih_l0_reverse" in assert_same_run(a, moved)
    with np.load(moved / "data" / "task.npz") as z:
        assert z["train_forms"].shape[1] == 20 and len(z["train_form_ids"]) == len(z["train_ids"])


@pytest.mark.slow
def test_predict_and_eval_of_a_char_tagger_agree_with_the_model_on_each_sentence_alone(tmp_path, pos):
    from seqtool.models.charfeat import form_table
    from seqtool.task_runs import load_task_model
    from seqtool.tasks.batches import TaskData

    out = tmp_path / "run"
    r = run("train", pos, "--task", "tag", "--char-features", "cnn", "--word-dropout", "0.1", *SMALL, "--lr", "0.02",
            "--max-steps", "40", "--eval-every", "40", "--out", out)
    assert r.exit_code == 0, r.output
    sents = [["the", "zzzly", "zzzed"], ["the", "Ωming", "the"], ["qqqing"]]  # unseen words, a character never seen
    gold = [["DET", "ADV", "VERB"], ["DET", "NOUN", "DET"], ["NOUN"]]
    (tmp_path / "s.txt").write_text("\n".join(" ".join(s) for s in sents) + "\n")
    (tmp_path / "g.conll").write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(s, g)) for s, g in zip(sents, gold)) + "\n")
    p = run("predict", out, tmp_path / "s.txt", "--json")
    assert p.exit_code == 0, p.output
    tags = [json.loads(x)["tags"] for x in p.stdout.splitlines()]
    loaded = load_task_model(out, "cpu")
    assert loaded.spec.char_features == "cnn" and "z" not in loaded.spec.alphabet and "Ω" not in loaded.spec.alphabet
    for sent, got in zip(sents, tags):  # the model, its alphabet and weights read back from the run, one sentence at a time
        forms, form_ids = form_table([sent], loaded.spec.alphabet)
        one = TaskData([loaded.tokenizer.encode_lines(" ".join(sent))[0].astype(np.int64)], [np.zeros(len(sent), np.int64)], "tag", forms, form_ids)
        b = one.batch(np.array([0]))
        assert got == [loaded.spec.labels[t] for t in loaded.model.decode(b.ids, b.lengths, b.chars)[0]]
    e = run("eval", out, tmp_path / "g.conll", "--json")
    assert e.exit_code == 0, e.output
    right = sum(t == g for ts, gs in zip(tags, gold) for t, g in zip(ts, gs))
    assert json.loads(e.stdout)["files"][0]["token_accuracy"] == pytest.approx(right / 7)


@pytest.mark.parametrize("args, message", [
    (["--task", "tag", "--char-features", "gru"], "--char-features gru: choose lstm, cnn or none"),
    (["--char-features", "lstm"], "--char-features needs --task classify or tag"),
    (["--task", "classify", "--char-features", "cnn", "--level", "char"], "--char-features reads each word's characters; --level char has no words"),
    (["--task", "tag", "--char-dim", "16"], "--char-dim sizes character features: give --char-features lstm or cnn"),
    (["--task", "tag", "--char-features", "cnn", "--char-hidden", "0"], "--char-hidden 0: must be at least 1"),
    (["--task", "tag", "--word-dropout", "1.5"], "--word-dropout 1.5: must be at least 0 and below 1"),
    (["--word-dropout", "0.1"], "--word-dropout needs --task classify or tag"),
])
def test_bad_char_and_word_dropout_options(tmp_path, pos, args, message):
    one_line_error(run("train", pos, "--out", tmp_path / "run", *args), 2, message)
    assert not (tmp_path / "run").exists()
