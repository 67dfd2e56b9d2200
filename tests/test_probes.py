"""seqtool.probes: probe accuracy on models whose predictions are known, and the refusals."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from seqtool.errors import ConfigError, CorpusError, UsageError
from seqtool.models import ModelConfig, build_model
from seqtool.probes import probe_accuracy
from seqtool.text import TokenizerOptions, make_tokenizer
from seqtool.text import longrange as lr


def corpus(task: str, gap: int, n: int, seed: int = 0) -> str:
    return "".join(ex.text + "\n" for ex in lr.generate(task, gap, n, seed))


ALL_ANSWERS = " ".join(word for pair in lr.COUNTRIES for word in pair) + " " + " ".join(lr.VERBS + lr.SYMBOLS) + "\n"


def word_tokenizer(text: str, cover: bool = True, **kw):
    """A word tokenizer fitted on ``text`` and, with ``cover``, on one line holding every cue and answer."""
    return make_tokenizer(TokenizerOptions(level="word", **kw)).fit([text + (ALL_ANSWERS if cover else "")])


class Constant(nn.Module):
    """Always puts logit ``height`` on one token (0 elsewhere), whatever it reads."""

    def __init__(self, vocab: int, token: int, height: float = 5.0):
        super().__init__()
        self.vocab, self.token, self.height = vocab, token, height
        self.states = []

    def forward(self, ids, state=None):
        self.states.append(state)
        logits = torch.zeros(*ids.shape, self.vocab)  # (T, B, V)
        logits[..., self.token] = self.height
        return logits, (state or 0) + 1  # counts calls, so the test can see the state is carried


class FranceOracle(nn.Module):
    """Remembers the last country it read and names its language right after 'fluent', nowhere else.

    So it is right at exactly the probe position: one step early or late and it scores 0. Its
    memory is its state, so it is right across call boundaries only if the state is carried.
    """

    def __init__(self, tok):
        super().__init__()
        idx = tok.vocab.index
        self.vocab = len(tok.vocab)
        self.language_of = torch.zeros(self.vocab, dtype=torch.long)
        for country, language in lr.COUNTRIES:
            self.language_of[idx[country]] = idx[language]
        self.trigger = idx["fluent"]

    def forward(self, ids, state=None):
        t_len, b = ids.shape
        logits = torch.zeros(t_len, b, self.vocab)  # (T, B, V)
        memory = torch.zeros(b, dtype=torch.long) if state is None else state  # (B,): the language of the last country read
        for t in range(t_len):
            lang = self.language_of[ids[t]]
            memory = torch.where(lang > 0, lang, memory)
            hit = ids[t] == self.trigger
            logits[t, hit, memory[hit]] = 10.0
        return logits, memory


def test_a_model_that_always_answers_french_scores_the_share_of_french_lines():
    text = corpus("france", 6, 120, seed=4)
    tok = word_tokenizer(text)
    french = tok.vocab.index["french"]
    model = Constant(len(tok.vocab), french, height=5.0)
    r = probe_accuracy(model, tok, text.splitlines(), "france", window=7)
    share = sum(ex.probes[0][1] == "french" for ex in lr.generate("france", 6, 120, seed=4)) / 120
    assert 0 < share < 0.3
    assert r["accuracy"] == r["accuracy_among_choices"] == pytest.approx(share)
    z = math.exp(5.0) + len(tok.vocab) - 1
    assert r["mean_prob"] == pytest.approx(share * math.exp(5.0) / z + (1 - share) / z)
    assert r["chance"] == pytest.approx(1 / 12) and r["probes"] == r["examples"] == 120
    assert r["mean_distance"] == 10 and r["skipped_lines"] == 0 and r["task"] == "france"
    assert model.states == [None, *range(1, len(model.states))]  # one stream, the state carried from call to call
    assert model.training  # the mode it came in with


def test_among_choices_ignores_tokens_that_are_not_answers():
    text = corpus("agreement", 3, 60, seed=1)
    tok = word_tokenizer(text)
    model = Constant(len(tok.vocab), tok.vocab.index["the"])  # never an answer; ties among answers -> the first, 'is'
    r = probe_accuracy(model, tok, text.splitlines(), "agreement")
    singular = sum(ex.probes[0][1] == "is" for ex in lr.generate("agreement", 3, 60, seed=1)) / 60
    assert r["accuracy"] == 0 and r["accuracy_among_choices"] == pytest.approx(singular)
    assert r["chance"] == 0.5 and r["mean_distance"] == 4


@pytest.mark.parametrize("eos", [True, False])
def test_an_oracle_scores_one_at_every_gap_whatever_the_window(eos):
    exs = [ex for g in (0, 9, 3) for ex in lr.generate("france", g, 10, seed=g)]  # mixed lengths
    tok = word_tokenizer("".join(ex.text + "\n" for ex in exs), eos=eos)
    r = probe_accuracy(FranceOracle(tok), tok, exs, "france", window=100_000)
    assert r["accuracy"] == r["accuracy_among_choices"] == 1.0
    assert r["mean_prob"] > 0.9 and r["mean_distance"] == pytest.approx(4 + 4)
    for window in (1, 5, 13):  # calls that cut lines, even between cue and answer: the carried state keeps it right
        rw = probe_accuracy(FranceOracle(tok), tok, exs, "france", window=window)
        assert rw == {**r, "mean_prob": pytest.approx(r["mean_prob"], rel=1e-6)}


def test_copy_scores_each_recalled_symbol():
    text = corpus("copy", 2, 40, seed=2)
    tok = word_tokenizer(text)
    model = Constant(len(tok.vocab), tok.vocab.index["alpha"])
    r = probe_accuracy(model, tok, text.splitlines(), "copy")
    recalled = [w for ex in lr.generate("copy", 2, 40, seed=2) for _, w in ex.probes]
    assert r["probes"] == 120 and r["examples"] == 40
    assert r["accuracy"] == pytest.approx(recalled.count("alpha") / 120)
    assert r["chance"] == 1 / 8 and r["mean_distance"] == 6


def test_a_real_language_model_runs_and_other_lines_are_skipped():
    text = corpus("france", 4, 30)
    tok = word_tokenizer(text + "some other words\n")
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=len(tok.vocab), cell="rnn", hidden=8, layers=1, embed_dim=4))
    lines = text.splitlines() + ["some other words", ""]
    r = probe_accuracy(model, tok, lines, "france", window=8)
    assert r["skipped_lines"] == 1 and r["examples"] == 30
    assert 0 <= r["accuracy"] <= r["accuracy_among_choices"] <= 1 and 0 < r["mean_prob"] < 1


def test_a_tokenizer_that_is_not_word_level_is_refused():
    text = corpus("france", 2, 20)
    tok = make_tokenizer(TokenizerOptions(level="char")).fit([text])
    with pytest.raises(ConfigError, match="--long-range needs a word-level model.*char level"):
        probe_accuracy(Constant(len(tok.vocab), 1), tok, text.splitlines(), "france")


def test_answers_out_of_vocabulary_are_named():
    text = corpus("france", 0, 200)
    tok = word_tokenizer(text, cover=False, num_words=8)  # the template words and a few countries, no languages
    with pytest.raises(ConfigError, match="out of its vocabulary: chinese, .*french"):
        probe_accuracy(Constant(len(tok.vocab), 1), tok, text.splitlines(), "france")


def test_unknown_gap_words_that_would_be_dropped_are_refused_but_an_oov_token_works():
    train, test = corpus("france", 0, 20), corpus("france", 5, 10, seed=9)
    tok = word_tokenizer(train)  # never saw a filler word and drops unknown words
    with pytest.raises(ConfigError, match="turns the 14 words of a line into 9 tokens"):
        probe_accuracy(Constant(len(tok.vocab), 1), tok, test.splitlines(), "france")
    tok = word_tokenizer(train, oov_token="<unk>")
    assert probe_accuracy(FranceOracle(tok), tok, test.splitlines(), "france")["accuracy"] == 1.0


def test_no_matching_line_and_foreign_examples_are_errors():
    tok = word_tokenizer(corpus("france", 0, 20))
    with pytest.raises(CorpusError, match="no line matches the france task"):
        probe_accuracy(Constant(len(tok.vocab), 1), tok, ["hello world", corpus("copy", 1, 1).strip()], "france")
    with pytest.raises(ConfigError, match="not the france task's"):
        probe_accuracy(Constant(len(tok.vocab), 1), tok, lr.generate("copy", 1, 2), "france")
    with pytest.raises(UsageError, match="unknown long-range task"):
        probe_accuracy(Constant(len(tok.vocab), 1), tok, [], "spain")
