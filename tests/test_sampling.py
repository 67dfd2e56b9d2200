"""Free-running generation: decoding strategies against their definitions, carried state against
re-running the prefix, streaming and stop strings, unseen prompt input, every cell type."""
from __future__ import annotations

import itertools
import math
import re

import pytest
import torch

from seqtool import runs
from seqtool.checkpoint import load_model, save_checkpoint
from seqtool.decoding import DecodingOptions, apply_temperature, top_k_filter, top_p_filter
from seqtool.errors import CheckpointError, UsageError
from seqtool.models import CELLS, ModelConfig, build_model
from seqtool.models.state import select_state, state_batch_dims
from seqtool.sampling import encode_prompt, generate, sequence_logprob
from seqtool.text import TokenizerOptions, make_tokenizer
from seqtool.textstream import TextStream
from seqtool.train_config import TrainConfig

TEXT = "the cat sat on the mat.\nthe dog ate my homework.\n" * 30


def char_tok(text=TEXT, **kw):
    return make_tokenizer(TokenizerOptions(level="char", **kw)).fit([text])


def tiny(tok, cell="lstm", seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"hidden": 16, "layers": 2, **kw}
    return build_model(ModelConfig(vocab_size=len(tok.vocab), cell=cell, **kw)).eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 1-layer char LSTM that has learnt TEXT (about a second of training)."""
    tok = char_tok()
    ids = tok.encode(TEXT)
    tcfg = TrainConfig(batch_size=8, bptt=16, max_steps=150, lr=1e-2, log_every=50, eval_every=150, seed=0).validate()
    mcfg = runs.model_config(len(tok.vocab), "char", dict(cell="lstm", hidden=32, layers=1, embed_dim=None, dropout=0.0))
    d = tmp_path_factory.mktemp("run")
    spec = runs.DataSpec(d)
    runs.write_run_files(d, mcfg, tcfg, tok, spec)
    trainer = runs.build_trainer(d, mcfg, tcfg, tok, ids, ids[-200:], spec, torch.device("cpu"))
    trainer.fit()
    return trainer.model.eval(), tok, d


def naive_greedy(model, tok, prompt_ids, length):
    """Reference: re-run the whole prefix for every new token (what generation must not need)."""
    ids = [tok.line_end_id, *prompt_ids]
    out = []
    with torch.no_grad():
        for _ in range(length):
            logits, _ = model(torch.tensor(ids).view(-1, 1))
            z = logits[-1, 0].clone()
            z[0] = -math.inf
            nxt = int(z.argmax())
            ids.append(nxt)
            out.append(nxt)
    return out


# ------------------------------------------------------------------------------ decoding rules


def test_temperature_divides_the_logits():
    z = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    for t in (0.5, 1.0, 2.0):
        torch.testing.assert_close(apply_temperature(z, t), z / t)
        p, pt = torch.softmax(z, -1), torch.softmax(apply_temperature(z, t), -1)
        ref = p ** (1 / t) / (p ** (1 / t)).sum()  # softmax(z / T) is p^(1/T) renormalized
        torch.testing.assert_close(pt, ref)


def test_top_k_keeps_the_k_largest():
    z = torch.tensor([[0.1, 3.0, -2.0, 2.0, 1.0]])
    kept = torch.isfinite(top_k_filter(z, 2))[0].tolist()
    assert kept == [False, True, False, True, False]
    assert torch.isfinite(top_k_filter(z, 99)).all()  # k above the vocabulary keeps everything


@pytest.mark.parametrize("p, nucleus", [
    (0.3, {3}), (0.4999, {3}), (0.5001, {3, 0}), (0.7499, {3, 0}), (0.7501, {3, 0, 4}), (0.87, {3, 0, 4}),
    (0.88, {3, 0, 4, 2}), (0.97, {3, 0, 4, 2, 1}), (1.0, {0, 1, 2, 3, 4}),
])
def test_top_p_keeps_exactly_the_nucleus(p, nucleus):
    """The nucleus: the fewest most likely tokens whose mass reaches p (Holtzman et al. 2020)."""
    # Sorted: token 3 (0.5), 0 (0.25), 4 (0.125), 2 (0.09375), 1 (0.03125); cumulative 0.5, 0.75, 0.875, 0.96875, 1.
    probs = torch.tensor([[0.25, 0.03125, 0.09375, 0.5, 0.125]])
    z = probs.log() + 1.7  # any shift: same distribution
    kept = {i for i, ok in enumerate(torch.isfinite(top_p_filter(z, p))[0].tolist()) if ok}
    assert kept == nucleus


def test_sampling_with_top_p_draws_only_from_the_nucleus_in_proportion():
    probs = torch.tensor([[0.25, 0.03125, 0.09375, 0.5, 0.125]])
    opts = DecodingOptions(top_p=0.7).validate()
    from seqtool.decoding import shape_logits

    q = torch.softmax(shape_logits(probs.log(), opts), -1)[0]
    torch.testing.assert_close(q, torch.tensor([1 / 3, 0, 0, 2 / 3, 0]))


@pytest.mark.parametrize("kw, num_samples, message", [
    ({"temperature": 0.0}, 1, "--temperature 0"),
    ({"temperature": -1.0}, 1, "--temperature"),
    ({"temperature": math.nan}, 1, "--temperature"),
    ({"top_k": 0}, 1, "--top-k 0"),
    ({"top_p": 0.0}, 1, "--top-p 0"),
    ({"top_p": 1.5}, 1, "--top-p 1.5"),
    ({"beam": 0}, 1, "--beam 0"),
    ({"greedy": True, "beam": 2}, 1, "--greedy and --beam"),
    ({"greedy": True, "temperature": 0.5}, 1, "--greedy is deterministic"),
    ({"beam": 3, "top_k": 5}, 1, "--beam is deterministic"),
    ({"greedy": True}, 2, "same text every time"),
    ({"beam": 2}, 3, "--num-samples 3 with --beam 2"),
    ({}, 0, "--num-samples 0"),
])
def test_invalid_decoding_options_are_usage_errors(kw, num_samples, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        DecodingOptions(**kw).validate(num_samples)


def test_invalid_length_and_stop():
    tok = char_tok()
    m = tiny(tok)
    with pytest.raises(UsageError, match="--length 0"):
        generate(m, tok, length=0)
    with pytest.raises(UsageError, match="--stop"):
        generate(m, tok, length=5, stop=[""])


# ------------------------------------------------------------------------------ determinism


def test_greedy_is_deterministic_and_equals_rerunning_the_prefix(trained):
    model, tok, _ = trained
    prompt = encode_prompt(tok, "the d").ids
    a = generate(model, tok, prompt, length=30, decoding=DecodingOptions(greedy=True)).samples[0]
    b = generate(model, tok, prompt, length=30, decoding=DecodingOptions(greedy=True)).samples[0]
    assert a.ids == b.ids == naive_greedy(model, tok, prompt, 30)
    assert a.text.startswith("og ate my homework.\n")  # it has learnt the text


def test_same_seed_same_text_different_seeds_differ():
    tok = char_tok()
    m = tiny(tok)
    a = generate(m, tok, length=60, num_samples=2, seed=7)
    b = generate(m, tok, length=60, num_samples=2, seed=7)
    c = generate(m, tok, length=60, num_samples=2, seed=8)
    assert [s.ids for s in a.samples] == [s.ids for s in b.samples]
    assert [s.ids for s in a.samples] != [s.ids for s in c.samples]
    assert a.samples[0].ids != a.samples[1].ids  # the batch's samples are independent draws
    assert a.seed == 7
    assert generate(m, tok, length=5).seed is not None  # a drawn seed is returned, so a run can be repeated


def test_top_k_1_equals_greedy():
    tok = char_tok()
    m = tiny(tok)
    greedy = generate(m, tok, length=40, decoding=DecodingOptions(greedy=True)).samples[0].ids
    for seed in (0, 1):
        assert generate(m, tok, length=40, seed=seed, decoding=DecodingOptions(top_k=1, temperature=1.7)).samples[0].ids == greedy


def test_sampling_frequencies_follow_the_model():
    """The first sampled token of many samples follows softmax(logits / T) (chi-square bound)."""
    tok = char_tok()
    m = tiny(tok, hidden=8, layers=1)
    n = 4000
    g = generate(m, tok, length=1, num_samples=n, seed=3, decoding=DecodingOptions(temperature=0.5))
    counts = torch.bincount(torch.tensor([s.ids[0] for s in g.samples]), minlength=len(tok.vocab)).double()
    with torch.no_grad():
        logits, _ = m(torch.tensor([[tok.line_end_id]]))
    z = logits[0, 0].double() / 0.5
    z[0] = -math.inf
    expected = torch.softmax(z, -1) * n
    keep = expected > 5
    chi2 = float((((counts - expected) ** 2)[keep] / expected[keep]).sum())
    assert chi2 < 60, chi2  # about 3x the degrees of freedom; a wrong temperature gives thousands


# ------------------------------------------------------------------------------ beam search


def test_beam_1_equals_greedy_and_wider_beams_never_score_worse(trained):
    model, tok, _ = trained
    prompt = encode_prompt(tok, "the ").ids
    greedy = generate(model, tok, prompt, length=25, decoding=DecodingOptions(greedy=True)).samples[0]
    b1 = generate(model, tok, prompt, length=25, decoding=DecodingOptions(beam=1)).samples[0]
    assert b1.ids == greedy.ids
    scores = []
    for w in (1, 2, 3, 5, 8):
        best = generate(model, tok, prompt, length=25, decoding=DecodingOptions(beam=w)).samples[0]
        # The reported score is the model's log-probability of the text.
        assert best.logprob == pytest.approx(sequence_logprob(model, tok, prompt, best.ids), abs=1e-3)
        scores.append(best.logprob)
    assert all(b >= a - 1e-5 for a, b in zip(scores, scores[1:])), scores


def test_beam_wide_enough_is_exact_search_and_returns_the_n_best_in_order():
    tok = char_tok("ab\n")  # 3 tokens besides padding: 3^4 = 81 continuations of length 4
    m = tiny(tok, "gru", seed=3, hidden=8)
    every = {seq: sequence_logprob(m, tok, [], list(seq)) for seq in itertools.product([1, 2, 3], repeat=4)}
    ranked = sorted(every.items(), key=lambda kv: -kv[1])
    g = generate(m, tok, length=4, num_samples=3, decoding=DecodingOptions(beam=27))
    assert [tuple(s.ids) for s in g.samples] == [seq for seq, _ in ranked[:3]]
    assert [s.logprob for s in g.samples] == pytest.approx([lp for _, lp in ranked[:3]], abs=1e-4)


# ------------------------------------------------------------------------------ free running done right


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_generates_feeding_back_its_output_with_carried_state(cell):
    tok = char_tok()
    m = tiny(tok, cell, window=3, delay=3, tau_max=5.0)
    calls = []
    hidden_states = m.hidden_states

    def spy(ids, state=None):
        calls.append(tuple(ids.shape))
        return hidden_states(ids, state)

    m.hidden_states = spy  # (forward calls it too)
    prompt = encode_prompt(tok, "the c").ids
    g = generate(m, tok, prompt, length=12, decoding=DecodingOptions(greedy=True))
    # The prompt (after the line start) is one call; each new token is one (1, B) call: no prefix re-runs.
    assert calls == [(len(prompt) + 1, 1)] + [(1, 1)] * 11
    del m.hidden_states
    assert g.samples[0].ids == naive_greedy(m, tok, prompt, 12)
    s = generate(m, tok, prompt, length=12, num_samples=3, seed=0, stats=True)
    assert len(s.samples) == 3 and all(len(x.ids) == 12 for x in s.samples)
    assert all(0 < p <= 1 for x in s.samples for p in x.probs)
    assert all(0 <= e <= math.log(len(tok.vocab)) + 1e-5 for x in s.samples for e in x.entropies)


@pytest.mark.parametrize("cell", CELLS)
def test_state_batch_dims_repeat_and_reorder_every_cell(cell):
    tok = char_tok()
    m = tiny(tok, cell, window=3, delay=3)
    x = torch.tensor([[1, 2], [3, 4], [5, 6]])
    _, state = m(x)
    dims = state_batch_dims(m)
    swapped = select_state(state, torch.tensor([1, 0]), dims)
    _, ref = m(x.flip(1))
    for a, b in zip(_flat(swapped), _flat(ref)):
        torch.testing.assert_close(a, b)


def _flat(s):
    if isinstance(s, torch.Tensor):
        return [s]
    return [t for x in s for t in _flat(x)]


# ------------------------------------------------------------------------------ stop strings and streaming


def test_stop_string_ends_the_sample_and_is_not_kept(trained):
    model, tok, _ = trained
    prompt = encode_prompt(tok, "the d").ids
    pieces = []
    g = generate(model, tok, prompt, length=200, decoding=DecodingOptions(greedy=True), stop=["homework"],
                 on_text=lambda i, t, p: pieces.append(t))
    s = g.samples[0]
    assert s.stopped and s.text == "og ate my "
    assert "".join(pieces) == s.text  # nothing of the stop string was ever released
    assert tok.decode(s.ids) == s.text
    free = generate(model, tok, prompt, length=40, decoding=DecodingOptions(greedy=True)).samples[0]
    assert not free.stopped and len(free.ids) == 40


def test_text_stream_holds_back_a_possible_stop_string():
    tok = char_tok("abcx\n")
    ids = {c: tok.vocab.index[c] for c in "abcx"}
    st = TextStream(tok, ["abc"])
    assert st.push(ids["x"]) == [("x", None)]
    assert st.push(ids["a"]) == []  # may be the start of "abc"
    assert st.push(ids["b"]) == []
    assert st.push(ids["x"]) == [("a", None), ("b", None), ("x", None)]  # it was not
    st.push(ids["a"]), st.push(ids["b"])
    assert st.push(ids["c"]) == [] and st.stopped_at == 4 and st.final_text == "xabx"
    assert st.kept_tokens == 4


def test_streamed_text_equals_the_sample_text_at_every_level():
    text = "the cat sat on the mat\nthe dog ate the bone\n" * 20
    toks = [
        char_tok(text),
        make_tokenizer(TokenizerOptions(level="word", oov_token="<unk>")).fit([text]),
        make_tokenizer(TokenizerOptions(level="subword", vocab_size=30, model_type="bpe")).fit([text]),
    ]
    for tok in toks:
        m = tiny(tok, "gru", embed_dim=8)
        got = {0: [], 1: []}
        g = generate(m, tok, encode_prompt(tok, "the cat").ids, length=40, num_samples=2, seed=1,
                     on_text=lambda i, t, p: got[i].append(t))
        for i, s in enumerate(g.samples):
            assert "".join(got[i]) == s.text == tok.decode(s.ids), tok.level


def test_word_level_text_has_spaces_and_newlines():
    text = "the cat sat\nthe dog ate\n" * 10
    tok = make_tokenizer(TokenizerOptions(level="word")).fit([text])
    m = tiny(tok, embed_dim=8)
    s = generate(m, tok, length=30, seed=0).samples[0]
    assert "<eos>" not in s.text
    lines, line = [], []
    for i in s.ids:  # by hand: words joined by spaces, <eos> ends a line
        if i == tok.vocab.eos_id:
            lines.append(" ".join(line))
            line = []
        else:
            line.append(tok.vocab.tokens[i])
    assert s.text == "\n".join(lines + [" ".join(line)])


# ------------------------------------------------------------------------------ unseen prompt input


def test_unseen_prompt_characters_are_dropped_or_mapped_with_a_warning():
    tok = char_tok()
    p = encode_prompt(tok, "the zé cat")
    assert p.ids == tok.encode("the  cat").tolist()
    assert p.unknown == ["z", "é"] and "dropped" in p.warnings[0] and "'z'" in p.warnings[0]
    tok_oov = char_tok(oov_token="<unk>")
    p = encode_prompt(tok_oov, "the zé")
    oov = tok_oov.vocab.oov_id
    assert p.ids[-2:] == [oov, oov] and "mapped to <unk>" in p.warnings[0]
    m = tiny(tok)
    assert len(generate(m, tok, encode_prompt(tok, "ééé").ids, length=5, seed=0).samples[0].ids) == 5
    assert "nothing in it is known" in encode_prompt(tok, "ééé").warnings[-1]


def test_unknown_prompt_words_map_to_oov_or_are_dropped():
    text = "the cat sat on the mat\n"
    tok = make_tokenizer(TokenizerOptions(level="word", oov_token="<unk>")).fit([text])
    p = encode_prompt(tok, "The zebra sat")
    assert p.ids == [tok.vocab.index["the"], tok.vocab.oov_id, tok.vocab.index["sat"]]
    assert p.unknown == ["zebra"] and "1 word the model never saw mapped to <unk>: 'zebra'" in p.warnings[0]
    plain = make_tokenizer(TokenizerOptions(level="word")).fit([text])
    p = encode_prompt(plain, "the zebra sat")
    assert p.ids == [plain.vocab.index["the"], plain.vocab.index["sat"]] and "dropped" in p.warnings[0]
    m = tiny(tok, embed_dim=8)
    assert len(generate(m, tok, encode_prompt(tok, "zebra giraffe").ids, length=4, seed=0).samples[0].ids) == 4


# ------------------------------------------------------------------------------ loading


def test_load_model_round_trip_and_bad_checkpoints(tmp_path):
    tok = char_tok()
    m = tiny(tok, "tdnn", window=3)
    cfg = m.cfg.to_dict()
    save_checkpoint(tmp_path / "m.pt", {"model_config": cfg, "tokenizer": tok.to_dict(), "model_state": m.state_dict()})
    lm = load_model(tmp_path / "m.pt")
    assert not lm.model.training and lm.tokenizer.level == "char"
    a = generate(m, tok, length=10, decoding=DecodingOptions(greedy=True)).samples[0].ids
    assert generate(lm.model, lm.tokenizer, length=10, decoding=DecodingOptions(greedy=True)).samples[0].ids == a
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="not a readable seqtool checkpoint"):
        load_model(tmp_path / "bad.pt")
    save_checkpoint(tmp_path / "w.pt", {"model_config": {**cfg, "hidden": 17}, "tokenizer": tok.to_dict(), "model_state": m.state_dict()})
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_model(tmp_path / "w.pt")
    save_checkpoint(tmp_path / "v.pt", {"model_config": {**cfg, "vocab_size": 99}, "tokenizer": tok.to_dict(), "model_state": m.state_dict()})
    with pytest.raises(CheckpointError, match="tokenizer has"):
        load_model(tmp_path / "v.pt")


def test_step_kernels_restore_the_global_setting():
    from seqtool.devices import step_kernels

    tok = char_tok()
    m = tiny(tok, "lstm")
    before = torch.backends.mkldnn.enabled
    with pytest.raises(RuntimeError):
        with step_kernels(m):
            raise RuntimeError("boom")
    generate(m, tok, length=3, seed=0)
    assert torch.backends.mkldnn.enabled == before


def test_step_kernels_compute_the_same_logits_as_the_default_kernels():
    """The per-token kernels (short prompts and the token loop) are a speed choice, not a different model."""
    from seqtool.devices import step_kernels

    tok = char_tok()
    m = tiny(tok, "lstm").eval()
    x = torch.tensor(tok.encode("the cat sat"), dtype=torch.long).view(-1, 1)
    with torch.inference_mode():
        ref, (h, c) = m(x, None)
        with step_kernels(m):
            got, (h2, c2) = m(x, None)
    assert torch.allclose(ref, got, atol=1e-5) and torch.allclose(h, h2, atol=1e-5) and torch.allclose(c, c2, atol=1e-5)


@pytest.mark.parametrize("t", [1e-45, 1e-7, 1e7, 1e300])
def test_temperatures_that_would_overflow_the_softmax_are_refused(t):
    with pytest.raises(UsageError, match=re.escape(f"--temperature {t:g}: must lie between 1e-06 and 1e+06")):
        DecodingOptions(temperature=t).validate()


@pytest.mark.parametrize("t", [1e-6, 1e6])
def test_the_extreme_allowed_temperatures_give_a_proper_distribution(t):
    z = torch.tensor([[30.0, -30.0, 0.0, float("-inf")]])  # -inf: a masked token (PAD)
    p = torch.softmax(apply_temperature(z, t), -1)
    assert torch.isfinite(p).all() and torch.allclose(p.sum(), torch.tensor(1.0))


def test_a_prompt_is_decoded_at_its_last_step_only():
    """A prompt of T tokens costs no (T, V) logits (a 200 MB prompt once asked for 118 GB of them)."""
    tok = char_tok()
    m = tiny(tok, "lstm")
    shapes = []
    logits = m.logits
    m.logits = lambda h: shapes.append(tuple(h.shape)) or logits(h)
    generate(m, tok, encode_prompt(tok, "the cat " * 20).ids, length=2, decoding=DecodingOptions(greedy=True))
    assert shapes[0] == (1, 16)  # (1, H): the last step, not (T, 1, H)
