"""``seqtool train --task classify|tag`` end to end: run directories, learning, exact resume, bad input."""
from __future__ import annotations

import json
import random

import pytest

from tests.cli.helpers import assert_same_run, one_line_error, run

SMALL = ["--hidden", "16", "--embed-dim", "16", "--layers", "1", "--batch-size", "16", "--log-every", "10", "--threads", "1", "--quiet"]


@pytest.fixture
def labelled(tmp_path):
    rng = random.Random(0)
    filler = "the a film story plot actor scene was is and it this".split()
    lines = []
    for i in range(240):
        label = "pos" if i % 2 else "neg"
        words = [rng.choice(filler) for _ in range(rng.randint(3, 9))]
        words.insert(rng.randint(0, len(words)), "good" if label == "pos" else "bad")
        lines.append(f"{label}\t{' '.join(words)}")
    p = tmp_path / "l.tsv"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.fixture
def tagged(tmp_path):
    rng = random.Random(1)
    names, words = ["Ana", "Bo", "Cy"], ["saw", "met", "the", "cat", "at", "noon"]
    sents = []
    for _ in range(150):
        toks = [(rng.choice(words), "O") for _ in range(rng.randint(2, 6))]
        pos = rng.randint(0, len(toks))
        toks[pos:pos] = [(rng.choice(names), "B-PER"), ("Smith", "I-PER")]
        sents.append("\n".join(f"{w} X {t}" for w, t in toks))
    p = tmp_path / "t.conll"
    p.write_text("\n\n".join(sents) + "\n")
    return p


@pytest.mark.slow
def test_classify_learns_and_writes_a_complete_run(tmp_path, labelled):
    out = tmp_path / "run"
    r = run("train", labelled, "--task", "classify", "--pool", "max", *SMALL, "--lr", "0.01", "--max-steps", "120", "--eval-every", "60", "--json", "--out", out)
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["task"] == "classify" and s["metric"] == "accuracy" and s["best_val_accuracy"] >= 0.9
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "tokenizer.json", "metrics.jsonl", "best.pt", "last.pt", "data"} <= names
    assert (out / "data" / "task.npz").is_file()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["task"]["kind"] == "classify" and cfg["task"]["labels"] == ["neg", "pos"] and cfg["level"] == "word"
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "val_accuracy" in x] == [60, 120] and "train_ppl" not in lines[0]


def test_tag_resume_is_exact(tmp_path, tagged):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--task", "tag", "--crf", *SMALL, "--eval-every", "8", "--save-every", "0", "--schedule", "none"]  # cosine would follow each budget
    assert run("train", tagged, *common, "--max-steps", "16", "--out", a).exit_code == 0
    assert run("train", tagged, *common, "--max-steps", "8", "--out", b).exit_code == 0
    moved = tmp_path / "moved"
    b.rename(moved)  # a task run is relocatable too
    r = run("train", "--resume", moved, "--max-steps", "16", "--quiet", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["metric"] == "f1" and s["steps"] == 16
    assert "crf.transitions" in assert_same_run(a, moved)


@pytest.mark.parametrize("args, code, message", [
    (["--task", "translate"], 2, "--task translate: choose lm, classify or tag"),
    (["--task", "classify", "--crf"], 2, "--crf applies to --task tag"),
    (["--pool", "mean"], 2, "need --task classify or tag"),
    (["--task", "classify", "--class-weights", "heavy"], 2, "--class-weights heavy: choose auto or none"),
    (["--task", "tag", "--level", "char"], 2, "--task tag reads tokenized sentences and needs --level word"),
])
def test_bad_task_options(tmp_path, labelled, args, code, message):
    one_line_error(run("train", labelled, "--out", tmp_path / "run", *args), code, message)
    assert not (tmp_path / "run").exists()


def test_one_class_and_bad_lines_name_the_file(tmp_path, write):
    one = write("one.tsv", "pos\tfine film\n" * 30)
    one_line_error(run("train", one, "--task", "classify", "--out", tmp_path / "r1"), 1, "one.tsv: every example has the label 'pos'")
    bad = write("bad.conll", "Jim X B-PER\nsaw O\n")
    one_line_error(run("train", bad, "--task", "tag", "--out", tmp_path / "r2"), 1, "bad.conll:2: 2 columns where the file's lines have 3")
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()


@pytest.fixture
def classifier(tmp_path, labelled):
    out = tmp_path / "cls"
    r = run("train", labelled, "--task", "classify", "--pool", "max", *SMALL, "--lr", "0.01", "--max-steps", "60", "--eval-every", "60", "--out", out)
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.slow
def test_predict_and_eval_of_a_classifier_agree(tmp_path, classifier, labelled):
    rows = [ln.split("\t") for ln in labelled.read_text().splitlines()]
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(t for _, t in rows) + "\n")
    p = run("predict", classifier, texts, "--json")
    assert p.exit_code == 0, p.output
    preds = [json.loads(x) for x in p.stdout.splitlines()]
    assert len(preds) == len(rows) and all(x["label"] == x["top"][0]["label"] for x in preds)
    accuracy = sum(x["label"] == gold for x, (gold, _) in zip(preds, rows)) / len(rows)
    e = run("eval", classifier, labelled, "--json")
    assert e.exit_code == 0, e.output
    report = json.loads(e.stdout)["files"][0]
    assert report["accuracy"] == pytest.approx(accuracy) and report["total"] == len(rows)
    assert sum(map(sum, report["confusion"])) == len(rows)
    top2 = run("predict", classifier, texts, "--top-k", "2").stdout.splitlines()[0].split("\t")
    assert sorted(top2[::2]) == ["neg", "pos"] and float(top2[1]) >= float(top2[3])


@pytest.mark.slow
def test_eval_counts_labels_training_never_saw_as_wrong(tmp_path, classifier, write):
    f = write("new.tsv", "pos\tgood film\nneu\tthe film\nneu\ta scene\n")
    e = run("eval", classifier, f, "--json")
    assert e.exit_code == 0, e.output
    r = json.loads(e.stdout)["files"][0]
    assert r["unseen_labels"] == 2 and r["accuracy"] <= 1 / 3 + 1e-9 and "neu" in r["labels"]
    assert "2 labels training never saw (neu); they count as wrong" in e.stderr


def test_predict_tags_inline_marks_the_predicted_entities(tmp_path, tagged):
    out = tmp_path / "ner"
    assert run("train", tagged, "--task", "tag", *SMALL, "--lr", "0.02", "--max-steps", "40", "--eval-every", "40", "--out", out).exit_code == 0
    sent = "Ana Smith saw the cat at noon"
    (tmp_path / "s.txt").write_text(sent + "\n\n" + sent + "\n")  # a blank line is no sentence
    tags = [json.loads(x)["tags"] for x in run("predict", out, tmp_path / "s.txt", "--json").stdout.splitlines()]
    assert len(tags) == 2 and len(tags[0]) == 7
    from seqtool.tasks.metrics import chunks

    expected = sent.split()
    for start, end, typ in sorted(chunks(tags[0]), reverse=True):
        expected[start:end + 1] = [f"[{' '.join(expected[start:end + 1])}]_{{{typ}}}"]
    inline = run("predict", out, tmp_path / "s.txt", "--inline").stdout.splitlines()
    assert inline == [" ".join(expected)] * 2
    conll = run("predict", out, tmp_path / "s.txt").stdout.split("\n\n")[0].splitlines()
    assert [ln.split("\t") for ln in conll] == [[w, t] for w, t in zip(sent.split(), tags[0])]


def test_predict_refuses_empty_input_and_language_models(tmp_path, tagged, write):
    out = tmp_path / "ner"
    assert run("train", tagged, "--task", "tag", *SMALL, "--max-steps", "2", "--out", out).exit_code == 0
    one_line_error(run("predict", out, write("empty.txt", "")), 1, "empty")
    lm = tmp_path / "lm"
    assert run("train", write("c.txt", "the cat sat on the mat\n" * 60), *SMALL, "--bptt", "8", "--max-steps", "2", "--out", lm).exit_code == 0
    one_line_error(run("predict", lm, write("x.txt", "hello\n")), 1, "a language model, not a classifier or tagger")


def test_generate_refuses_a_task_run_by_name_and_grad_report_reads_it(tmp_path, tagged):
    out = tmp_path / "ner"
    assert run("train", tagged, "--task", "tag", *SMALL, "--max-steps", "2", "--out", out).exit_code == 0
    one_line_error(run("generate", out), 1, "a tag run, not a language model")
    r = run("grad-report", out, "--timesteps", "4", "--windows", "1", "--json")  # issue #12: grad-report reads task runs too
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["models"][0]["kind"] == "tag"


@pytest.mark.parametrize("args, layers", [
    (["--task", "classify", "--pool", "attention", "--bidirectional"], ["embedding", "lstm[0]", "lstm[0] backward", "attention pool", "classifier"]),
    (["--task", "tag", "--crf", "--cell", "gru"], ["embedding", "gru[0]", "gru[0] backward", "tag scores", "crf"]),
    (["--task", "tag", "--char-features", "lstm"], ["embedding", "char lstm", "lstm[0]", "lstm[0] backward", "tag scores"]),
    (["--task", "tag", "--char-features", "cnn", "--char-hidden", "7"], ["embedding", "char cnn", "lstm[0]", "lstm[0] backward", "tag scores"]),
    (["--task", "classify", "--char-features", "lstm", "--pool", "max"], ["embedding", "char lstm", "lstm[0]", "max pool", "classifier"]),
])
def test_summary_of_a_classifier_and_a_tagger(labelled, tagged, args, layers):
    from seqtool.models import ModelConfig
    from seqtool.tasks.labels import TaskSpec, build_head

    data = labelled if "classify" in args else tagged
    r = run("train", data, *args, "--hidden", "16", "--embed-dim", "8", "--layers", "1", "--summary", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert [x["layer"] for x in s["layers"]] == layers
    model = build_head(ModelConfig(**s["config"]), TaskSpec.from_dict(s["task"]))
    assert s["total_params"] == sum(p.numel() for p in model.parameters()) == sum(x["params"] for x in s["layers"])


def test_eval_reads_files_as_the_run_was_trained_unless_told_otherwise(tmp_path, tagged):
    out = tmp_path / "pos"
    r = run("train", tagged, "--task", "tag", "--tag-column", "1", "--out", out, "--max-steps", "2", "--eval-every", "2",
            "--hidden", "8", "--embed-dim", "8", "--quiet", "--threads", "1")
    assert r.exit_code == 0, r.output
    e = run("eval", out, tagged, "--json")  # no --tag-column: the run's column 1 (all X), not the last (B-PER/I-PER/O)
    assert e.exit_code == 0, e.output
    f = json.loads(e.stdout)["files"][0]
    assert f["unseen_labels"] == 0 and f["token_accuracy"] == 1.0, f
    told = run("eval", out, tagged, "--json", "--tag-column", "-1")
    assert json.loads(told.stdout)["files"][0]["unseen_labels"] > 0  # an explicit option still wins
