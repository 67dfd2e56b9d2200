"""``train --task classify --char-features``: each word's characters beside its embedding, so unseen words in a
text get a representation; through every pool, both directions, predict, eval, exact resume and a reloaded run."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from tests.cli.helpers import assert_same_run, resumed_elsewhere, run
from tests.conftest import SAMPLES

SMALL = ["--hidden", "12", "--embed-dim", "8", "--layers", "1", "--batch-size", "16", "--threads", "1", "--quiet",
         "--char-dim", "6", "--char-hidden", "8"]
TEXTS = ["the film was good", "the plot was bad", "a good plot", "it was a bad film", "Good, GOOD film!"]


def _loaded(texts, char_features="cnn", pool="last", bidirectional=False):
    """A fresh (untrained, seeded) classifier over ``texts``' words, ready for seqtool.task_runs.predict."""
    from seqtool import task_runs
    from seqtool.models import ModelConfig
    from seqtool.tasks.labels import TaskSpec, build_head
    from seqtool.text import TokenizerOptions, make_tokenizer

    tok = make_tokenizer(task_runs.task_tokenizer_options("classify", TokenizerOptions(), False)).fit([task_runs.as_text("classify", texts)])
    alphabet = task_runs.alphabet_of(task_runs.word_forms(tok, "classify", texts)) if char_features != "none" else ""
    spec = TaskSpec("classify", ["neg", "pos"], pool, bidirectional, char_features=char_features, char_dim=4, char_hidden=3, alphabet=alphabet)
    torch.manual_seed(0)
    model = build_head(ModelConfig(vocab_size=len(tok.vocab), hidden=6, layers=1, embed_dim=4, dropout=0.0), spec).double().eval()
    return task_runs.LoadedTask(model, tok, spec, "fresh", torch.device("cpu"))


def test_a_classifiers_word_forms_are_its_tokenizers_words_one_per_id():
    from seqtool.task_runs import word_forms

    loaded = _loaded(TEXTS)
    texts = ["Good, GOOD film!", "  ", "Café Über-plot"]  # ASCII and not: the tokenizer's two paths
    forms = word_forms(loaded.tokenizer, "classify", texts, loaded.tokenizer.encode_lines("".join(t + "\n" for t in texts)))
    assert forms == [["good", "good", "film"], [], ["café", "über", "plot"]]
    assert loaded.spec.alphabet == "abdefghilmopstw"  # the training words' characters: lowercased, no punctuation


@pytest.mark.parametrize("pool", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "cnn"])
def test_the_characters_of_an_unseen_word_change_the_prediction_and_padding_does_not(kind, pool, bidirectional):
    from seqtool.task_runs import predict

    loaded = _loaded(TEXTS, kind, pool, bidirectional)
    oov = loaded.tokenizer.vocab.oov_id
    texts = ["the zqx film was good", "the vbk film was good", "bad", "a plot"]  # zqx, vbk: unseen, both the OOV id
    assert [s[1] for s in loaded.tokenizer.encode_lines("".join(t + "\n" for t in texts[:2]))] == [oov, oov]
    batched = predict(loaded, texts)
    assert not np.allclose(batched[0], batched[1])  # the same ids, different characters
    alone = np.concatenate([predict(loaded, [t]) for t in texts])
    np.testing.assert_allclose(batched, alone, rtol=1e-10, atol=1e-12)  # a padded batch = each text alone


def test_without_character_features_two_unseen_words_are_the_same_input():
    from seqtool.task_runs import predict

    p = predict(_loaded(TEXTS, "none"), ["the zqx film was good", "the vbk film was good"])
    np.testing.assert_array_equal(p[0], p[1])


def test_saliency_of_a_character_feature_classifier_is_taken_over_the_word_vectors():
    from seqtool.task_runs import unlabelled
    from seqtool.tasks.saliency import attributed, explain

    loaded = _loaded(TEXTS, "lstm", "mean", True)
    data = unlabelled(loaded, ["the zqx film", "good"])
    found = explain(loaded.model, data, "cpu")
    x = loaded.model.inputs(torch.tensor(data.seqs[0]).view(-1, 1)).detach()  # (L, 1, D): the word vectors, characters apart
    b = data.batch(np.array([0]))

    def chosen(v):
        return loaded.model(b.ids, b.lengths, b.chars, v)[0, found[0].label]

    g = torch.autograd.functional.jacobian(chosen, x)[:, 0]  # (L, D)
    np.testing.assert_allclose(found[0].grad_x_input, (g * x[:, 0]).sum(-1).numpy(), rtol=1e-8)
    assert [len(e.grad_norm) for e in found] == [3, 1]
    assert attributed(loaded.model) == "each token's word embedding (its character features held fixed)"
    assert attributed(_loaded(TEXTS, "none").model) == "each token's word embedding"


def _labelled(path, n=80, seed=1):
    rng = random.Random(seed)
    stems = ["".join(rng.choice("bdgkmprst") for _ in range(3)) for _ in range(20)]
    rows = []
    for i in range(n):  # the label is in a word's ending: -ful positive, -less negative
        label = ("pos", "ful") if i % 2 else ("neg", "less")
        rows.append(f"{label[0]}\tthe {rng.choice(stems)}{label[1]} {rng.choice(stems)}\n")
    path.write_text("".join(rows))
    return path


@pytest.mark.slow
def test_a_character_feature_classifier_resumes_exactly(tmp_path):
    common = ["--task", "classify", "--char-features", "lstm", "--pool", "attention", "--bidirectional", "--word-dropout", "0.2", *SMALL,
              "--eval-every", "4", "--save-every", "0", "--schedule", "none"]
    a, moved = resumed_elsewhere(tmp_path, _labelled(tmp_path / "l.tsv"), common, 8)  # the run's own data/task.npz holds the word forms
    assert "chars.rnn.weight_ih_l0_reverse" in assert_same_run(a, moved)
    with np.load(moved / "data" / "task.npz") as z:
        assert len(z["train_form_ids"]) == len(z["train_ids"]) and len(z["val_form_ids"]) == len(z["val_ids"])


@pytest.mark.slow
def test_a_classifier_with_character_features_trains_on_the_sample_predicts_and_reloads_as_it_was(tmp_path):
    from seqtool.task_runs import load_task_model, predict

    lines = (SAMPLES / "sentiment.tsv").read_text().splitlines()
    val = tmp_path / "val.tsv"
    val.write_text("".join(ln + "\n" for ln in lines[-40:]))
    out = tmp_path / "run"
    r = run("train", SAMPLES / "sentiment.tsv", "--val", val, "--task", "classify", "--char-features", "cnn", *SMALL, "--pool", "mean",
            "--max-steps", "6", "--eval-every", "6", "--out", out)
    assert r.exit_code == 0, r.output
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    e = run("eval", out, val, "--json")  # the reloaded best.pt (= the step-6 model) on the same validation texts
    assert e.exit_code == 0, e.output
    f = json.loads(e.stdout)["files"][0]
    assert f["accuracy"] == last["val_accuracy"] and f["loss"] == pytest.approx(last["val_loss"], rel=1e-6)
    texts = ["the qwzx fox was gentle .", "the vbnk fox was gentle .", "it was an awful day ."]
    p = run("predict", out, "--json", "--top-k", "2", input="".join(t + "\n" for t in texts))
    assert p.exit_code == 0, p.output
    rows = [{x["label"]: x["p"] for x in json.loads(ln)["top"]} for ln in p.stdout.splitlines()]
    assert rows[0] != rows[1]  # two unseen words, told apart by their characters
    loaded = load_task_model(out, "cpu")
    assert loaded.spec.char_features == "cnn" and not {"qwzx", "vbnk"} & set(loaded.tokenizer.vocab.index)
    for text, row in zip(texts, rows):  # reloaded again, one text at a time: the same probabilities
        probs = predict(loaded, [text])[0]
        assert row == {lab: pytest.approx(float(probs[i]), abs=1e-6) for i, lab in enumerate(loaded.spec.labels)}
