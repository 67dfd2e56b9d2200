"""Reading labelled and tagged corpora: every layout, detection, and bad lines named by file and line."""
from __future__ import annotations

import pytest

from seqtool.errors import CorpusError, UsageError
from seqtool.tasks.formats import read_labelled, read_tagged


@pytest.mark.parametrize("content, fmt", [
    ("pos\ta fine film\nneg\ta dull one\npos\tgreat\n", "tsv"),
    ("a fine film\tpos\na dull one\tneg\ngreat\tpos\n", "tsv"),             # text<TAB>label: the label column is detected
    ("sentence\tlabel\na fine film\tpos\na dull one\tneg\ngreat\tpos\n", "tsv"),  # a header row
    ("pos a fine film\nneg a dull one\n\npos great\n", "sst"),
])
def test_labelled_lines_in_each_form(write, content, fmt):
    r = read_labelled(write("l.txt", content))
    assert r.format == fmt
    assert r.texts == ["a fine film", "a dull one", "great"] and r.labels == ["pos", "neg", "pos"]


def test_label_column_can_be_named(write):
    r = read_labelled(write("l.tsv", "x\ty y\nz\tw w\n"), label_column="first")
    assert r.labels == ["x", "z"] and r.texts == ["y y", "w w"]
    with pytest.raises(UsageError, match="label column 'middle'"):
        read_labelled(write("m.tsv", "a\tb\n"), label_column="middle")


def test_one_folder_per_class(tmp_path):
    for cls, docs in {"neg": ["bad\nfilm", "dull"], "pos": ["good"]}.items():
        (tmp_path / "d" / cls).mkdir(parents=True)
        for i, d in enumerate(docs):
            (tmp_path / "d" / cls / f"{i}.txt").write_text(d)
    r = read_labelled(tmp_path / "d")
    assert r.format == "folders" and r.labels == ["neg", "neg", "pos"] and r.texts == ["bad film", "dull", "good"]


@pytest.mark.parametrize("content, where", [
    ("pos\tfine\nneg\n", "l.txt:2: expected label<TAB>text"),
    ("pos fine\nneg\n", "l.txt:2: a label without text"),
    ("", "no labelled lines"),
])
def test_bad_labelled_lines_name_file_and_line(write, content, where):
    with pytest.raises(CorpusError, match=where):
        read_labelled(write("l.txt", content))


CONLL = """-DOCSTART- -X- O

Jim NNP B-PER
bought VBD O
Acme NNP B-ORG
Corp. NNP I-ORG

in IN O
2006 CD B-TIME
"""

CONLLU = """# sent_id = 1
# text = I'm here.
1-2\tI'm\t_\t_\t_\t_\t_\t_\t_\t_
1\tI\tI\tPRON\tPRP\t_\t2\tnsubj\t_\t_
2\t'm\tbe\tAUX\tVBP\t_\t0\troot\t_\t_
2.1\tghost\t_\tX\tXX\t_\t_\t_\t_\t_
3\there\there\tADV\tRB\t_\t2\tadvmod\t_\t_

# sent_id = 2
1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def test_conll_columns_sentences_and_docstart(write):
    r = read_tagged(write("t.conll", CONLL))
    assert r.format == "conll"
    assert r.tokens == [["Jim", "bought", "Acme", "Corp."], ["in", "2006"]]
    assert r.tags == [["B-PER", "O", "B-ORG", "I-ORG"], ["O", "B-TIME"]]
    assert read_tagged(write("t2.conll", CONLL), tag_column=1).tags[0] == ["NNP", "VBD", "NNP", "NNP"]


@pytest.mark.parametrize("field, tags", [("upos", [["PRON", "AUX", "ADV"], ["INTJ"]]), ("xpos", [["PRP", "VBP", "RB"], ["UH"]])])
def test_conllu_skips_ranges_and_empty_nodes(write, field, tags):
    r = read_tagged(write("t.conllu", CONLLU), tag_field=field)
    assert r.format == "conllu" and r.tokens == [["I", "'m", "here"], ["Yes"]] and r.tags == tags


@pytest.mark.parametrize("name, content, where", [
    ("a.conll", "Jim NNP B-PER\nbought O\n", "a.conll:2: 2 columns where the file's lines have 3"),
    ("b.conllu", "1\tI\tI\tPRON\n", "b.conllu:1: 4 tab-separated fields"),
    ("c.conllu", "# sent_id = 1\n# text = nothing\n\n1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_\n", "c.conllu:1: a sentence with no tokens"),
    ("d.conll", "\n\n", "no tagged sentences"),
])
def test_bad_tagged_lines_name_file_and_line(write, name, content, where):
    with pytest.raises(CorpusError, match=where):
        read_tagged(write(name, content))


def test_bad_tag_options_are_usage_errors(write):
    with pytest.raises(UsageError, match="tag field 'lemma'"):
        read_tagged(write("t.conllu", CONLLU), tag_field="lemma")
    with pytest.raises(UsageError, match="tag column 7"):
        read_tagged(write("t.conll", CONLL), tag_column=7)
    with pytest.raises(UsageError, match="format 'csv'"):
        read_tagged(write("t.conll", CONLL), fmt="csv")
