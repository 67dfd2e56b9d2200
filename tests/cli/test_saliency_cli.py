"""``seqtool grad-report`` on classifier and tagger runs and ``seqtool predict --explain``: tables, chart, JSON
fields, and one-line errors where a run of the other kind is given."""
from __future__ import annotations

import json
import random
import sys
import types

import pytest

from tests.cli.helpers import one_line_error, run, untrained_checkpoint

TINY = ["--hidden", "6", "--embed-dim", "6", "--layers", "1", "--batch-size", "8", "--max-steps", "2", "--eval-every", "2",
        "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("sal")
    rng = random.Random(0)
    words = "the a film plot was is and it good bad".split()
    (d / "l.tsv").write_text("".join(f"{'pos' if i % 2 else 'neg'}\t{' '.join(rng.choice(words) for _ in range(rng.randint(3, 12)))}\n"
                                     for i in range(60)))
    (d / "t.conll").write_text("\n\n".join("\n".join(f"{w} {'B-PER' if w == 'Ana' else 'O'}" for w in rng.choices(["Ana", "saw", "the", "cat"], k=rng.randint(2, 7)))
                                           for _ in range(40)) + "\n")
    for name, args in (("cls", [d / "l.tsv", "--task", "classify"]), ("fwd", [d / "t.conll", "--task", "tag", "--no-bidirectional"]),
                       ("chr", [d / "t.conll", "--task", "tag", "--char-features", "cnn", "--char-dim", "4", "--char-hidden", "4"]),
                       ("ccls", [d / "l.tsv", "--task", "classify", "--char-features", "lstm", "--char-dim", "4", "--char-hidden", "3", "--bidirectional"])):
        r = run("train", *args, *TINY, "--out", d / name)
        assert r.exit_code == 0, r.output
    (d / "lm").mkdir()
    untrained_checkpoint(d / "lm", "the cat saw the dog.\n" * 30, "gru")
    return d


def _path(runs, name):
    return runs / "lm" / "m.pt" if name == "lm" else runs / name


def test_grad_report_of_a_classifier_profiles_the_input_positions(runs):
    r = run("grad-report", runs / "cls", "--init", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    models = doc["models"]
    assert [m["name"] for m in models] == ["cls", "cls (init)"] and {m["kind"] for m in models} == {"classify"}
    m = models[0]
    assert m["pool"] == "last" and len(m["by_decile"]) == 10 and len(m["by_distance"]) == 50  # the classifier's default distances
    assert m["examples"] == 6  # the run's validation examples (10% of 60), fewer than the 256 asked for
    assert m["by_distance_count"][0] == 6 and m["by_distance_count"][-1] == 0  # no input is 50 tokens long
    assert "forgets the beginning" in doc["explanation"]


def test_grad_report_of_a_classifier_on_given_lines_renders_a_table_and_a_chart(runs, tmp_path):
    p = tmp_path / "in.txt"
    p.write_text("the [good] film\n\n" + "the plot was bad and it is a film and the plot was good\n" * 5)
    r = run("grad-report", runs / "cls", "--data", p, "--timesteps", "8", "--windows", "4")
    assert r.exit_code == 0, r.output
    assert "position" in r.stdout and "90-100%" in r.stdout and "first/last tenth" in r.stdout
    assert "against the distance from the end" in r.stdout and "● cls" in r.stdout and "How strongly the predicted class depends" in r.stdout
    r = run("grad-report", runs / "cls", "--data", p, "--timesteps", "8", "--windows", "4", "--json")
    m = json.loads(r.stdout)["models"][0]
    assert m["examples"] == 4 and len(m["by_distance"]) == 8  # the blank line is left out; 4 of the 6 lines


def test_grad_report_of_a_forward_tagger_finds_no_right_context(runs):
    r = run("grad-report", runs / "fwd", "--timesteps", "3", "--json")
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)["models"][0]
    assert m["kind"] == "tag" and m["offsets"] == [-3, -2, -1, 0, 1, 2, 3] and not m["bidirectional"]
    assert m["by_offset"][3] == 1.0 and m["by_offset"][4:] == [0.0] * 3 and m["reach_right"] == 0
    r = run("grad-report", runs / "fwd", "--timesteps", "3")
    assert "reach right" in r.stdout and "offset d" in r.stdout and "A forward-only tagger" in r.stdout


def test_grad_report_of_a_character_feature_tagger_on_given_lines_and_on_a_sample_of_its_validation(runs, tmp_path):
    p = tmp_path / "in.txt"
    p.write_text("Ana saw Bob\nthe cat\n")
    r = run("grad-report", runs / "chr", "--data", p, "--timesteps", "2", "--json")
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)["models"][0]
    assert m["examples"] == 2 and m["by_offset"][2] == 1.0 and m["by_offset"][3] > 0  # a bidirectional tagger reads the right
    r = run("grad-report", runs / "chr", "--windows", "2", "--timesteps", "2", "--json")  # fewer than its validation sentences
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["models"][0]["examples"] == 2


@pytest.mark.parametrize("extra, message", [
    (["lm"], "the runs are of different kinds (classify, lm)"),
    (["fwd"], "the runs are of different kinds (classify, tag)"),
])
def test_runs_of_different_kinds_are_refused(runs, extra, message):
    args = [_path(runs, e) for e in extra]
    one_line_error(run("grad-report", runs / "cls", *args, "--data", runs / "lm" / "c.txt", "--windows", "2"), 2, message)


def test_data_without_a_readable_line_is_a_one_line_error(runs, tmp_path):
    p = tmp_path / "e.txt"
    p.write_text("\n  \n%%\n")
    one_line_error(run("grad-report", runs / "cls", "--data", p), 1, "--data: no line has a token that cls's tokenizer reads")


def test_plot_of_a_classifier_is_refused(runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", types.ModuleType("matplotlib"))  # installed or not: the run's kind decides
    one_line_error(run("grad-report", runs / "cls", "--plot", tmp_path / "p.png"), 2, "--plot draws language-model reports")
    assert not (tmp_path / "p.png").exists()


def test_a_language_model_run_still_gets_its_own_report(runs):
    r = run("grad-report", _path(runs, "lm"), "--data", runs / "lm" / "c.txt", "--timesteps", "6", "--windows", "2", "--json")
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)["models"][0]
    assert len(m["layers"][0]["input_grad_norm_by_lag"]) == 6 and "kind" not in m


def test_predict_explain_json_has_a_saliency_per_token(runs):
    text = "the good film\nbad plot and it is a film [x]\n"
    plain = [json.loads(x) for x in run("predict", runs / "cls", "--json", "--top-k", "2", input=text).stdout.splitlines()]
    r = run("predict", runs / "cls", "--explain", "--json", "--top-k", "2", input=text)
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["label"] for x in rows] == [x["label"] for x in plain] and [x["top"] for x in rows] == [x["top"] for x in plain]
    assert rows[0]["tokens"] == ["the", "good", "film"]
    for x in rows:
        assert len(x["saliency"]) == len(x["gradient_norm"]) == len(x["tokens"]) and all(v >= 0 for v in x["gradient_norm"])
        assert any(v != 0 for v in x["saliency"])


def test_predict_explain_in_a_pipe_prints_each_token_with_its_number(runs):
    r = run("predict", runs / "cls", "--explain", input="the good film\n")
    assert r.exit_code == 0, r.output
    label, p, tokens = r.stdout.rstrip("\n").split("\t")
    assert label in ("neg", "pos") and 0.5 <= float(p) <= 1
    assert [t.split(":")[0] for t in tokens.split(" ")] == ["the", "good", "film"]
    assert all(t.split(":")[1][0] in "+-" for t in tokens.split(" "))


def test_predict_explain_on_a_terminal_colours_each_token(runs, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLORTERM", "truecolor")
    r = run("predict", runs / "cls", "--explain", input="good film\n")
    assert r.exit_code == 0, r.output
    assert r.stdout.count("48;2;") == 2  # one 24-bit background per token
    assert "good\x1b[0m" in r.stdout and "film\x1b[0m" in r.stdout


def test_predict_explain_needs_a_classifier_and_inline_a_tagger(runs):
    one_line_error(run("predict", runs / "fwd", "--explain", input="Ana saw the cat\n"), 2, "--explain shows a classifier's per-token saliency")
    one_line_error(run("predict", runs / "cls", "--inline", input="the good film\n"), 2, "--inline marks a tagger's entities")
    one_line_error(run("predict", _path(runs, "lm"), "--explain", input="the cat\n"), 1, "a language model, not a classifier or tagger")


@pytest.mark.parametrize("extra, named", [(["--batch-size", "4"], "--batch-size"), (["--bptt", "9", "--batch-size", "4"], "--batch-size, --bptt")])
def test_language_model_window_options_on_a_classifier_or_tagger_are_refused_by_name(runs, extra, named):
    """They shape a language model's measuring windows; a task report would silently ignore them."""
    for name in ("cls", "fwd"):
        one_line_error(run("grad-report", runs / name, *extra), 2, f"{named}: a language model's measuring windows")


def test_a_character_feature_classifier_explains_its_word_vectors_and_gets_a_report(runs):
    r = run("predict", runs / "ccls", "--explain", "--json", input="the good zqx film\n")
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)
    assert row["tokens"] == ["the", "good", "<unk>", "film"] and len(row["saliency"]) == 4 and any(v != 0 for v in row["saliency"])
    assert row["saliency_of"] == "each token's word embedding (its character features held fixed)"
    assert "character features held fixed" in r.stderr  # said outside JSON too
    plain = run("predict", runs / "cls", "--explain", "--json", input="good film\n")
    assert json.loads(plain.stdout)["saliency_of"] == "each token's word embedding" and "held fixed" not in plain.stderr
    r = run("grad-report", runs / "ccls", "--init", "--timesteps", "4", "--json")
    assert r.exit_code == 0, r.output
    models = json.loads(r.stdout)["models"]
    assert [m["name"] for m in models] == ["ccls", "ccls (init)"] and models[0]["bidirectional"] and models[0]["examples"] == 6
