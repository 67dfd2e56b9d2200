"""seqtool.task_runs: examples reach the tokenizer one per line, and every example comes back, the last ones too."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from seqtool.task_runs import LoadedTask, encode, unlabelled
from seqtool.text import TokenizerOptions, make_tokenizer


@pytest.fixture
def tok():
    return make_tokenizer(TokenizerOptions(level="word")).fit(["good film\nbad plot\n"])


@pytest.mark.parametrize("examples", [[", , ,"], ["good film", ", , ,"], ["", "good"], ["good", ""]])
def test_every_example_to_label_gets_a_sequence_even_one_without_a_token_at_the_end(tok, examples):
    loaded = LoadedTask(model=None, tokenizer=tok, spec=SimpleNamespace(kind="classify", alphabet=""), path="run", device="cpu")
    data = unlabelled(loaded, examples)
    oov = 0 if tok.vocab.oov_id is None else tok.vocab.oov_id  # what a text without a token becomes
    assert len(data) == len(examples)
    assert [list(s) == [oov] for s in data.seqs] == [not e.strip(", ") for e in examples]


def test_a_labelled_example_without_a_token_is_counted_as_left_out_wherever_it_is(tok):
    data, left_out = encode(tok, "classify", ["good film", "bad", ", ,"], ["pos", "neg", "pos"], ["neg", "pos"], "f.tsv")
    assert (len(data), left_out, data.targets) == (2, 1, [1, 0])
