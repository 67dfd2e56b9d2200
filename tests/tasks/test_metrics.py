"""Scores worked out by hand: classification counts, and conlleval's chunk conventions for IOB1, IOB2 and IOBES."""
from __future__ import annotations

import pytest

from seqtool.tasks.metrics import chunks, classification_report, detect_scheme, majority_baseline, tagging_report


def test_classification_report_by_hand():
    gold = ["pos", "pos", "pos", "neg", "neg", "neu"]
    pred = ["pos", "neg", "pos", "neg", "pos", "neg"]
    r = classification_report(gold, pred)
    assert r.labels == ["neg", "neu", "pos"]
    assert r.confusion == [[1, 0, 1], [1, 0, 0], [1, 0, 2]]  # rows gold, columns predicted
    assert r.accuracy == pytest.approx(3 / 6)
    assert (r.per_class["pos"].precision, r.per_class["pos"].recall) == pytest.approx((2 / 3, 2 / 3))
    assert (r.per_class["neg"].precision, r.per_class["neg"].recall) == pytest.approx((1 / 3, 1 / 2))
    assert r.per_class["neu"].f1 == 0.0 and r.per_class["neu"].support == 1
    f1_neg = 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2)
    assert r.macro_f1 == pytest.approx((f1_neg + 0.0 + 2 / 3) / 3)  # the rare class weighs as much as the others


def test_majority_baseline():
    assert majority_baseline(["a", "b", "b"], ["b", "a", "b", "b"]) == ("b", 0.75)


@pytest.mark.parametrize("tags, expected", [
    (["B-PER", "I-PER", "O", "B-LOC"], {(0, 1, "PER"), (3, 3, "LOC")}),            # IOB2
    (["I-PER", "I-PER", "B-PER", "O"], {(0, 1, "PER"), (2, 2, "PER")}),            # IOB1: B- only splits adjacent chunks
    (["I-PER", "I-LOC"], {(0, 0, "PER"), (1, 1, "LOC")}),                          # IOB1: a type change splits
    (["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"], {(0, 0, "PER"), (1, 3, "LOC")}),   # IOBES
    (["B-LOC", "E-LOC", "I-LOC"], {(0, 1, "LOC"), (2, 2, "LOC")}),                 # after E- an I- starts anew
    (["O", "I-PER", "I-PER"], {(1, 2, "PER")}),                                    # conlleval reads a stray I- as a start
    (["B-PER", "B-PER"], {(0, 0, "PER"), (1, 1, "PER")}),
    (["O", "O"], set()),
])
def test_chunks_follow_conlleval(tags, expected):
    assert chunks(tags) == expected


def test_the_lectures_ner_example():
    # [Jim]_Person bought 300 shares of [Acme Corp.]_Organization in [2006]_Time
    gold = [["B-PER", "O", "O", "O", "O", "B-ORG", "I-ORG", "O", "B-TIME"]]
    pred = [["B-PER", "O", "O", "O", "O", "B-ORG", "O", "O", "B-TIME"]]  # Acme Corp. cut short: wrong chunk
    r = tagging_report(gold, pred)
    assert r.scheme == "IOB2" and r.tokens == 9 and r.token_accuracy == pytest.approx(8 / 9)
    assert (r.gold_chunks, r.predicted_chunks) == (3, 3)
    assert (r.precision, r.recall, r.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert r.per_type["ORG"].f1 == 0.0 and r.per_type["PER"].f1 == 1.0


def test_sentences_never_share_a_chunk():
    r = tagging_report([["B-PER"], ["I-PER"]], [["B-PER"], ["B-PER"]])
    assert r.gold_chunks == 2 and r.f1 == pytest.approx(1.0)  # the second sentence's I-PER is its own chunk


def test_predicted_chunk_of_a_type_gold_never_has_counts_against_precision():
    r = tagging_report([["B-PER", "O"]], [["B-PER", "B-MISC"]])
    assert (r.precision, r.recall) == pytest.approx((0.5, 1.0)) and r.per_type["MISC"].support == 0


@pytest.mark.parametrize("seqs, scheme", [
    ([["NOUN", "VERB"]], None),
    ([["O", "O"]], None),
    ([["B-PER", "I-PER", "O"]], "IOB2"),
    ([["I-PER", "I-PER", "O", "I-LOC"]], "IOB1"),
    ([["S-PER", "O"]], "IOBES"),
])
def test_detect_scheme(seqs, scheme):
    assert detect_scheme(seqs) == scheme


def test_pos_tags_are_scored_by_token_accuracy_only():
    r = tagging_report([["NOUN", "VERB", "DET"]], [["NOUN", "NOUN", "DET"]])
    assert r.scheme is None and r.token_accuracy == pytest.approx(2 / 3) and r.f1 is None
    assert "f1" not in r.to_dict()


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError):
        tagging_report([["O"]], [["O", "O"]])
    with pytest.raises(ValueError):
        classification_report(["a"], [])
