"""Hostile files: oversized tokenizer files refused before they are read, and odd texts (combining
marks, right-to-left script, emoji, lone surrogates, U+2581, NUL) tokenized at every level with a
round trip where one is promised, or refused with a TokenizerError."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from seqtool.errors import CorpusError, TokenizerError
from seqtool.text import TokenizerOptions, load_tokenizer, make_tokenizer, tokenizers
from seqtool.text.pipeline import TokenizeJob, run_tokenize

ODD_TEXTS = {
    "combining marks": "\u0301\u0302\u0303\u0308" * 12 + "\n" + "\u0301" * 9 + "\n",
    "right-to-left": "שלום עולם מה שלומך\nمرحبا بالعالم كيف حالك\n" * 3,
    "emoji": "😀😃 🎉👍🏽 👨\u200d👩\u200d👧 🇫🇷\n" * 3,
    "U+2581": "\u2581\u2581 \u2581a\u2581b \u2581\n" * 3,
}
LEVELS = {
    "char": dict(level="char"),
    "word": dict(level="word"),
    "subword": dict(level="subword", vocab_size=400, cap_vocab_size=True),
}


def tokenize(tmp_path, content, level):
    src = tmp_path / "odd.txt"
    src.write_bytes(content if isinstance(content, bytes) else content.encode())
    run_tokenize(TokenizeJob([str(src)], tmp_path / "out", TokenizerOptions(**LEVELS[level]), errors="replace"))
    tok = load_tokenizer(tmp_path / "out")
    return tok, tok.decode(np.load(tmp_path / "out" / "train.npy"))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", ODD_TEXTS)
def test_odd_texts_tokenize_and_round_trip_where_promised(tmp_path, name, level):
    text = ODD_TEXTS[name]
    tok, back = tokenize(tmp_path, text, level)
    if level == "char":
        assert back == text
    elif level == "subword":  # SentencePiece's own space symbol comes back as the space it stands for
        assert back == (text.replace("\u2581", " ") if name == "U+2581" else text)
    else:  # words: lowercased and split on whitespace, one line per line
        assert back.split("\n") == [" ".join(line.lower().split()) for line in text.split("\n")]


@pytest.mark.parametrize("level", LEVELS)
def test_lone_surrogates_read_with_errors_replace_become_the_replacement_character(tmp_path, level):
    content = b"abc \xed\xa0\x80 def \xed\xb0\x80 gh\n" * 3  # CESU-8 surrogates: invalid UTF-8
    tok, back = tokenize(tmp_path, content, level)
    expected = content.decode("utf-8", errors="replace")
    assert "\ufffd" in back and back == (expected if level != "word" else "\n".join(" ".join(ln.split()) for ln in expected.split("\n")))


def test_nul_bytes_in_a_corpus_are_refused_as_binary(tmp_path):
    with pytest.raises(CorpusError, match="binary file"):
        tokenize(tmp_path, b"\x00" * 20, "subword")


@pytest.mark.parametrize("text", ["\x00\x00\x00", "\x00\n\x00\n", "\r", "\r\n\r\n"])
def test_subword_training_on_nul_or_carriage_return_only_text_is_a_clear_error(text):
    tok = make_tokenizer(TokenizerOptions(**LEVELS["subword"]))
    with pytest.raises(TokenizerError, match="no character sentencepiece can learn from") as e:
        tok.fit([text])
    assert "INTERNAL" not in str(e.value)


@pytest.mark.parametrize("level", ["char", "subword"])
def test_lone_surrogates_given_to_encode_are_a_tokenizer_error(level):
    tok = make_tokenizer(TokenizerOptions(**LEVELS[level])).fit(["abc def\n" * 5])
    with pytest.raises(TokenizerError, match="lone surrogate"):
        tok.encode("a\udcffb")


def test_an_oversized_tokenizer_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    tok = make_tokenizer(TokenizerOptions(level="word")).fit(["a b c\n"])
    tok.save(tmp_path / "tokenizer.json")
    monkeypatch.setattr(tokenizers, "MAX_TOKENIZER_BYTES", 64)
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("read an oversized tokenizer file"))
    with pytest.raises(TokenizerError, match=r"tokenizer\.json: .* above the .* a tokenizer file may have"):
        load_tokenizer(tmp_path)


def test_a_huge_vocabulary_or_sentencepiece_blob_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    d = make_tokenizer(TokenizerOptions(**LEVELS["subword"])).fit(["abc def\n" * 5]).to_dict()
    monkeypatch.setattr(tokenizers, "MAX_TOKENIZER_BYTES", 2000)
    monkeypatch.setattr(base64, "b64decode", lambda *a: pytest.fail("decoded an oversized model"))
    d["sentencepiece_model"] = "A" * 5000
    with pytest.raises(TokenizerError, match="t.json: the sentencepiece model .* above"):
        tokenizers.tokenizer_from_dict(d, "t.json")
    w = make_tokenizer(TokenizerOptions(level="word")).fit(["a b c\n"]).to_dict()
    w["vocab"]["tokens"] = [str(i) for i in range(2000)]
    w["vocab"]["counts"] = [1] * 2000
    with pytest.raises(TokenizerError, match="t.json: the vocabulary has 2000 tokens, above"):
        tokenizers.tokenizer_from_dict(w, "t.json")


def test_a_sentencepiece_model_that_does_not_match_the_vocabulary_names_the_file(tmp_path):
    d = make_tokenizer(TokenizerOptions(**LEVELS["subword"])).fit(["abc def\n" * 5]).to_dict()
    d["vocab"]["tokens"] = d["vocab"]["tokens"][:-1]
    d["vocab"]["counts"] = d["vocab"]["counts"][:-1]
    with pytest.raises(TokenizerError, match=r"t.json: the sentencepiece model has \d+ pieces but the vocabulary \d+"):
        tokenizers.tokenizer_from_dict(d, "t.json")
