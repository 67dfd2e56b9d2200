"""Scoring text: loss/perplexity against cross-entropy computed by hand, OOV counting, and
free-running accuracy against a naive greedy loop from each position."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqtool.errors import CorpusError, UsageError
from seqtool.evaluation import encode_for_eval, evaluate, score_ids
from seqtool.models import CELLS, ModelConfig, build_model
from seqtool.text import TokenizerOptions, make_tokenizer

TEXT = "the cat sat on the mat.\nthe dog ate my homework.\n" * 4


def char_tok(text=TEXT, **kw):
    return make_tokenizer(TokenizerOptions(level="char", **kw)).fit([text])


def tiny(tok, cell="lstm", seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"hidden": 16, "layers": 2, "window": 3, "delay": 3, "tau_max": 5.0, **kw}
    return build_model(ModelConfig(vocab_size=len(tok.vocab), cell=cell, **kw)).eval()


def by_hand(model, tok, text):
    """Mean cross-entropy of every token given the line start and the true text before it, one call."""
    ids = [tok.line_end_id, *tok.encode(text).tolist()]
    x = torch.tensor(ids)
    with torch.no_grad():
        logits, _ = model(x[:-1].view(-1, 1))
    logits = logits[:, 0]
    return F.cross_entropy(logits, x[1:]).item(), (logits.argmax(-1) == x[1:]).float().mean().item(), len(ids) - 1


@pytest.mark.parametrize("cell", CELLS)
def test_perplexity_is_exp_of_mean_cross_entropy_by_hand(cell):
    tok = char_tok()
    m = tiny(tok, cell)
    loss, acc, n = by_hand(m, tok, TEXT)
    r = evaluate(m, tok, [("t", TEXT)], window=7)  # short windows: the carried state must make them one run
    t = r.total
    assert t.tokens == n
    assert t.loss == pytest.approx(loss, rel=1e-5)
    assert t.perplexity == pytest.approx(math.exp(loss), rel=1e-5)
    assert t.bits_per_token == pytest.approx(loss / math.log(2), rel=1e-5)
    assert t.accuracy == pytest.approx(acc)
    d = r.to_dict()["total"]
    assert d["bits_per_char"] == d["bits_per_token"]


def test_several_texts_are_scored_separately_and_totalled_per_token():
    tok = char_tok()
    m = tiny(tok)
    a, b = "the cat sat.\n", "the dog ate my homework.\nthe mat.\n"
    r = evaluate(m, tok, [("a", a), ("b", b)])
    (la, _, na), (lb, _, nb) = by_hand(m, tok, a), by_hand(m, tok, b)
    assert [f.tokens for f in r.files] == [na, nb]
    assert r.total.loss == pytest.approx((la * na + lb * nb) / (na + nb), rel=1e-5)


def test_oov_rate_counts_unknown_words_and_characters():
    words = make_tokenizer(TokenizerOptions(level="word", oov_token="<unk>")).fit([TEXT])
    ids, units, oov = encode_for_eval(words, "the zebra sat on the giraffe\n")
    assert (units, oov) == (7, 2)  # 6 words + <eos>
    assert ids.tolist().count(words.vocab.oov_id) == 2
    dropped = make_tokenizer(TokenizerOptions(level="word")).fit([TEXT])
    ids, units, oov = encode_for_eval(dropped, "the zebra sat\n")
    assert (units, oov, len(ids)) == (4, 1, 3)
    chars = char_tok()
    ids, units, oov = encode_for_eval(chars, "the zé\n")
    assert (units, oov, len(ids)) == (7, 2, 5)
    m = tiny(chars)
    r = evaluate(m, chars, [("x", "the zé\n")])
    assert r.files[0].oov_rate == pytest.approx(2 / 7) and r.files[0].tokens == 5


def naive_free_running(model, tok, text, p, k):
    """From target position p: greedy K steps on the model's own output, re-running the prefix each time."""
    ids = [tok.line_end_id, *tok.encode(text).tolist()]
    ctx, hits = ids[: p + 1], []
    with torch.no_grad():
        for j in range(k):
            logits, _ = model(torch.tensor(ctx).view(-1, 1))
            own = int(logits[-1, 0].argmax())
            hits.append(own == ids[p + 1 + j])
            ctx.append(own)
    return hits


@pytest.mark.parametrize("cell", ["lstm", "jordan", "tdnn", "skip"])
def test_free_running_matches_a_naive_greedy_loop_from_each_position(cell):
    tok = char_tok()
    m = tiny(tok, cell)
    k, positions = 4, 9
    n = len(tok.encode(TEXT))
    score, fr = score_ids(m, tok, tok.encode(TEXT), window=10, free_running=k, positions=positions)
    starts = np.unique(np.linspace(0, n - k, positions).round().astype(int))
    hits = np.array([naive_free_running(m, tok, TEXT, int(p), k) for p in starts])  # (M, K)
    assert fr.positions == len(starts)
    assert fr.matches == hits.sum(0).tolist()
    assert fr.all_matched == np.cumprod(hits, axis=1).sum(0).tolist()
    assert fr.teacher_forced_accuracy == pytest.approx(score.accuracy)
    assert all(b <= a for a, b in zip(fr.all_correct, fr.all_correct[1:]))  # errors compound
    assert fr.all_correct[0] == fr.accuracy[0]


def test_free_running_on_a_perfectly_learnt_pattern_never_drifts():
    """A model that has memorised a cycle stays on it: every step ahead matches."""
    text = "abcd" * 15
    tok = char_tok(text + "\n")
    torch.manual_seed(0)
    m = build_model(ModelConfig(vocab_size=len(tok.vocab), cell="rnn", hidden=16, layers=1))
    x = torch.tensor([tok.line_end_id, *tok.encode(text).tolist()])
    opt = torch.optim.Adam(m.parameters(), lr=0.03)
    for _ in range(60):
        logits, _ = m(x[:-1].view(-1, 1))
        loss = F.cross_entropy(logits[:, 0], x[1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    r = evaluate(m, tok, [("cycle", text)], free_running=8, positions=10)
    assert r.free_running.accuracy[-1] >= 0.95 and r.free_running.teacher_forced_accuracy >= 0.95


def test_bad_options_and_texts():
    tok = char_tok()
    m = tiny(tok)
    with pytest.raises(UsageError, match="--bptt 0"):
        evaluate(m, tok, [("t", TEXT)], window=0)
    with pytest.raises(UsageError, match="--free-running 0"):
        evaluate(m, tok, [("t", TEXT)], free_running=0)
    with pytest.raises(UsageError, match="--positions 0"):
        evaluate(m, tok, [("t", TEXT)], free_running=2, positions=0)
    with pytest.raises(CorpusError, match="no tokens this model can score"):
        evaluate(m, tok, [("empty", "ééé")])
    with pytest.raises(CorpusError, match="fewer than --free-running 50"):
        evaluate(m, tok, [("short", "the cat\n")], free_running=50)
