"""Property-based fuzzing of the tokenizers on arbitrary Unicode: what each level promises to give
back (test_tokenizers.py holds the plain char and subword round trips), and parallel == serial.

Char with an OOV token maps unseen characters to it (dropped without one); word level gives back
the normalised text (lowercased, filters removed, whitespace collapsed, one line per line); n-gram
levels give back exactly the n-grams of each line, in order; subword with byte fallback gives back
even text it never saw.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqtool.text import TokenizerOptions, make_tokenizer
from seqtool.text.constants import KERAS_FILTERS

FAST = settings(max_examples=80, deadline=None, database=None)
# Corpora with NUL are rejected before any tokenizer sees them (NUL marks line ends inside word
# streams), and lone surrogates cannot be in decoded text.
unicode_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80)
# Text with words in it, so that a vocabulary has something to learn.
wordy_text = st.lists(st.sampled_from(["the", "Cat", "ünï", "ß", "İx", "a,b", "(it's)", " ", "\n", "\t", "\u2028", "✓", "!!"]) | unicode_text, min_size=1, max_size=12).map("".join)


def fitted(text: str, **kw):
    return make_tokenizer(TokenizerOptions(**kw)).fit([text])


def keras_words(line: str, filters: str = KERAS_FILTERS, lower: bool = True) -> list[str]:
    """The Keras Tokenizer's words of one line, written out independently of seqtool."""
    if lower:
        line = line.lower()
    return line.translate(str.maketrans({c: " " for c in filters})).split()


@FAST
@given(unicode_text, unicode_text)
def test_char_with_oov_token_maps_every_unseen_character_to_it(seen, text):
    tok = fitted(seen + "a", level="char", oov_token="\ufffd")
    known = set(tok.vocab.index) - {"\ufffd"}
    assert tok.decode(tok.encode(text)) == "".join(c if c in known else "\ufffd" for c in text)


@FAST
@given(unicode_text, unicode_text)
def test_char_without_oov_token_drops_unseen_characters(seen, text):
    tok = fitted(seen + "a", level="char")
    assert tok.decode(tok.encode(text)) == "".join(c for c in text if c in tok.vocab.index)


@FAST
@given(wordy_text, st.booleans())
def test_word_round_trip_gives_the_normalised_text(text, lower):
    if not any(keras_words(line, lower=lower) for line in text.split("\n")):
        return  # no words at all: fitting refuses (tested in test_tokenizers.py)
    tok = fitted(text, level="word", lower=lower)  # eos on: every line end comes back
    expected = "\n".join(" ".join(keras_words(line, lower=lower)) for line in text.split("\n"))
    assert tok.decode(tok.encode(text)) == expected


@FAST
@given(wordy_text, wordy_text)
def test_word_oov_token_stands_for_each_unseen_word(seen, text):
    if not any(keras_words(line) for line in seen.split("\n")):
        return
    tok = fitted(seen, level="word", oov_token="<unk>", eos=False)
    known = set(tok.word_index)
    words = [w for line in text.split("\n") for w in keras_words(line)]
    assert tok.decode(tok.encode(text)) == " ".join(w if w in known else "<unk>" for w in words)


@FAST
@given(wordy_text, st.integers(1, 4), st.sampled_from(["ngram", "char-ngram"]))
def test_ngram_levels_give_back_every_ngram_of_each_line_in_order(text, n, level):
    lines = text.split("\n")
    units = [keras_words(line) if level == "ngram" else list(line.lower()) for line in lines]
    if not any(units):
        return
    joiner = " " if level == "ngram" else ""
    grams = [joiner.join(u[i : i + k]) for u in units for i in range(len(u)) for k in range(1, n + 1) if i + k <= len(u)]
    tok = fitted(text, level=level, ngram=n)
    assert tok.decode(tok.encode(text)) == " | ".join(grams)


# U+2581 is sentencepiece's own whitespace symbol and decodes to a space (see test_tokenizers.py).
subword_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\u2581"), min_size=1, max_size=60)


@settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["abc abd\nthe cat sat\n", "ünï ✓ café\n"]), subword_text)
def test_subword_with_byte_fallback_round_trips_text_it_never_saw(seen, text):
    tok = fitted(seen * 5, level="subword", vocab_size=100000, cap_vocab_size=True, model_type="bpe")
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.slow
@settings(max_examples=4, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(wordy_text, min_size=20, max_size=40).map("\n".join), st.sampled_from(["char", "word", "ngram", "char-ngram"]))
def test_parallel_tokenize_equals_serial_on_arbitrary_text(tmp_path_factory, monkeypatch, text, level):
    """Worker processes give the single-process output, with chunk boundaries everywhere (97-byte chunks in both:
    where the validation split starts inside a line longer than two chunks depends on the chunk size, by design)."""
    from seqtool.text import corpus, parallel
    from seqtool.text.pipeline import TokenizeJob, run_tokenize

    d = tmp_path_factory.mktemp("par")
    src = d / "c.txt"
    src.write_text(text + "\nthe end\n", encoding="utf-8")
    opts = TokenizerOptions(level=level, oov_token="<unk>")
    with monkeypatch.context() as m:
        m.setattr(corpus, "CHUNK_BYTES", 97)
        m.setenv("SEQTOOL_WORKERS", "1")
        run_tokenize(TokenizeJob([str(src)], d / "serial", opts, val_fraction=0.2))
        m.setenv("SEQTOOL_WORKERS", "2")
        m.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
        run_tokenize(TokenizeJob([str(src)], d / "parallel", opts, val_fraction=0.2))

    def outputs(out):
        stats = {k: v for k, v in json.loads((out / "stats.json").read_text()).items() if k != "inputs"}
        return (out / "tokenizer.json").read_text(), np.load(out / "train.npy").tolist(), np.load(out / "val.npy").tolist(), stats

    assert outputs(d / "serial") == outputs(d / "parallel")
