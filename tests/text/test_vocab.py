"""Vocabulary: the Keras id order (0 padding, specials, frequency with first-occurrence ties), caps, round trips."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from seqtool.errors import TokenizerError
from seqtool.text.vocab import PAD, Vocabulary


def test_ids_pad_then_specials_then_descending_count_ties_in_first_occurrence_order():
    counts = Counter("b a c a c d".split())  # filled in corpus order: b, a, c, d
    v = Vocabulary.build(counts, [("oov", "<unk>"), ("eos", "<eos>")], special_counts={"eos": 7})
    assert v.tokens == [PAD, "<unk>", "<eos>", "a", "c", "b", "d"]
    assert v.counts == [0, 0, 7, 2, 2, 1, 1]
    assert (v.oov_id, v.eos_id, v.specials) == (1, 2, {"pad": 0, "oov": 1, "eos": 2})
    assert [v.index[t] for t in v.tokens] == list(range(len(v)))


def test_without_specials_only_padding_is_reserved():
    v = Vocabulary.build({"x": 1})
    assert v.tokens == [PAD, "x"] and v.specials == {"pad": 0}
    assert v.oov_id is None and v.eos_id is None


def test_num_words_caps_the_ranked_tokens_not_the_specials():
    counts = {"a": 5, "b": 4, "c": 3, "d": 2}
    v = Vocabulary.build(counts, [("oov", "<unk>")], num_words=2)
    assert v.tokens == [PAD, "<unk>", "a", "b"]
    assert len(Vocabulary.build(counts, num_words=100)) == 1 + 4  # a cap above the types keeps them all


def test_min_freq_drops_rare_tokens_before_the_cap():
    counts = {"rare": 1, "common": 3, "mid": 2}
    assert Vocabulary.build(counts, min_freq=2).tokens == [PAD, "common", "mid"]
    assert Vocabulary.build(counts, min_freq=2, num_words=1).tokens == [PAD, "common"]
    assert Vocabulary.build(counts, min_freq=4).tokens == [PAD]


def test_a_counted_token_equal_to_a_special_keeps_the_special_id_only():
    v = Vocabulary.build({"<unk>": 9, "a": 1}, [("oov", "<unk>")])
    assert v.tokens == [PAD, "<unk>", "a"]
    assert v.counts[1] == 0  # special counts come from special_counts, not from the text


@pytest.mark.parametrize("specials", [[("oov", "<x>"), ("eos", "<x>")], [("oov", PAD)]])
def test_special_token_used_twice_is_an_error(specials):
    with pytest.raises(TokenizerError, match="used twice"):
        Vocabulary.build({"a": 1}, specials)


def test_duplicate_tokens_are_rejected():
    with pytest.raises(TokenizerError, match="duplicate"):
        Vocabulary([PAD, "a", "a"], [0, 1, 1])


def test_to_dict_from_dict_round_trip_through_json():
    v = Vocabulary.build(Counter("z y y x".split()), [("oov", "<unk>"), ("eos", "<eos>")], special_counts={"eos": 3})
    back = Vocabulary.from_dict(json.loads(json.dumps(v.to_dict(), ensure_ascii=False)))
    assert (back.tokens, back.counts, back.specials) == (v.tokens, v.counts, v.specials)
    assert back.index == v.index and (back.oov_id, back.eos_id) == (1, 2)


def test_from_dict_coerces_numbers_written_as_strings():
    back = Vocabulary.from_dict({"tokens": [PAD, "a"], "counts": ["0", "4"], "specials": {"pad": "0"}})
    assert back.counts == [0, 4] and back.specials == {"pad": 0}


@pytest.mark.parametrize(
    "d, match",
    [
        ({"tokens": [PAD], "counts": [0]}, "malformed"),
        ({"tokens": [PAD], "counts": ["many"], "specials": {}}, "malformed"),
        ({"tokens": [PAD], "counts": [0], "specials": None}, "malformed"),
        ({"tokens": [PAD, "a"], "counts": [0], "specials": {}}, "differ in length"),
        ({"tokens": [PAD, "a", "a"], "counts": [0, 1, 1], "specials": {}}, "duplicate"),
    ],
)
def test_from_dict_damage_is_a_tokenizer_error(d, match):
    with pytest.raises(TokenizerError, match=match):
        Vocabulary.from_dict(d)
