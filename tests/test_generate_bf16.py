"""Generation in bf16 (generate's precision): the text's length and repeatability, logits within bf16's
tolerance of fp32, fp32 untouched, and how ``auto`` decides (seqtool.devices.generation_precision)."""
from __future__ import annotations

import pytest
import torch

from seqtool import devices
from seqtool.decoding import DecodingOptions
from seqtool.errors import UsageError
from seqtool.models import ModelConfig, build_model
from seqtool.sampling import encode_prompt, generate
from seqtool.text import TokenizerOptions, make_tokenizer

TEXT = "the cat sat on the mat.\nthe dog ate my homework.\n" * 30
GREEDY = DecodingOptions(greedy=True)
CPU = torch.device("cpu")
BIG = 1e9  # matmul FLOPs of a token step, well above devices.BF16_MIN_STEP_FLOPS


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer(TokenizerOptions(level="char")).fit([TEXT])


def tiny(tok, cell="lstm"):
    torch.manual_seed(0)
    return build_model(ModelConfig(vocab_size=len(tok.vocab), cell=cell, hidden=16, layers=2)).eval()


def test_bf16_generation_has_the_asked_length_and_repeats_for_a_seed(tok):
    m = tiny(tok)
    a = generate(m, tok, length=50, num_samples=2, seed=3, precision="bf16")
    b = generate(m, tok, length=50, num_samples=2, seed=3, precision="bf16")
    assert a.precision == "bf16"
    assert [s.ids for s in a.samples] == [s.ids for s in b.samples]
    assert a.samples[0].ids != a.samples[1].ids  # two independent draws
    for s in a.samples:
        assert len(s.ids) == 50 and len(s.text) == 50 and s.text == tok.decode(s.ids)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_greedy_bf16_token_probabilities_stay_within_bf16_tolerance_of_fp32(tok, cell):
    """Along the bf16 greedy continuation, each chosen token's probability against fp32's for the same prefix."""
    m = tiny(tok, cell)
    prompt = encode_prompt(tok, "the d").ids
    g = generate(m, tok, prompt, length=30, decoding=GREEDY, stats=True, precision="bf16").samples[0]
    seq = torch.tensor([tok.line_end_id, *prompt, *g.ids]).view(-1, 1)
    with torch.inference_mode():
        logits = m(seq[:-1])[0][len(prompt) :, 0]  # (30, V): fp32, predicting each generated token
        logits[:, 0] = -torch.inf  # PAD is never generated
        p32 = torch.softmax(logits, -1).gather(1, seq[len(prompt) + 1 :]).squeeze(1)
    torch.testing.assert_close(torch.tensor(g.probs), p32, rtol=0, atol=2e-2)
    assert g.probs != p32.tolist()  # bf16 really ran


def test_fp32_is_torchs_path_and_never_builds_the_bf16_runner(tok, monkeypatch):
    m = tiny(tok)
    before = generate(m, tok, length=40, seed=5, stats=True)
    import seqtool.models.bf16_step as bf16_step

    def refuse(*_):
        raise AssertionError("fp32 generation built a bf16 runner")

    monkeypatch.setattr(bf16_step, "Bf16Runner", refuse)
    after = generate(m, tok, length=40, seed=5, stats=True, precision="fp32")
    assert after.precision == "fp32"
    assert after.samples[0].ids == before.samples[0].ids and after.samples[0].probs == before.samples[0].probs


def test_beam_search_runs_in_bf16(tok):
    m = tiny(tok, "gru")
    r = generate(m, tok, length=12, num_samples=2, decoding=DecodingOptions(beam=3), precision="bf16")
    assert r.precision == "bf16" and [len(s.ids) for s in r.samples] == [12, 12]
    assert r.samples[0].logprob >= r.samples[1].logprob


def test_auto_takes_bf16_only_where_the_probe_finds_it_faster(monkeypatch):
    calls = []

    def probe(fp32_s, bf16_s):
        return lambda: calls.append(1) or (fp32_s, bf16_s)

    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)
    assert devices.generation_precision("auto", CPU, "lstm", BIG, probe(1.0, 0.5)) == "bf16"
    assert devices.generation_precision("auto", CPU, "lstm", BIG, probe(1.0, 0.9)) == "fp32"  # not clearly faster
    assert len(calls) == 2
    # Where unsure, fp32 without probing: a cell without the kernel, another device, a step too small to time,
    # a CPU without native bf16.
    assert devices.generation_precision("auto", CPU, "lstm", devices.BF16_MIN_STEP_FLOPS - 1, probe(1.0, 0.1)) == "fp32"
    assert devices.generation_precision("auto", CPU, "leaky", BIG, probe(1.0, 0.1)) == "fp32"
    assert devices.generation_precision("auto", torch.device("cuda"), "lstm", BIG, probe(1.0, 0.1)) == "fp32"
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: False)
    assert devices.generation_precision("auto", CPU, "lstm", BIG, probe(1.0, 0.1)) == "fp32"
    assert devices.generation_precision("bf16", CPU, "lstm", 10, probe(1.0, 9.0)) == "bf16"  # asked for: no probe
    assert len(calls) == 2


def test_generate_auto_reports_what_it_chose(tok, monkeypatch):
    m = tiny(tok)
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(devices, "BF16_MIN_STEP_FLOPS", 0)  # the tiny model is probed
    monkeypatch.setattr(devices, "BF16_WINS", 1e9)  # any probe result: bf16
    assert generate(m, tok, length=5, decoding=GREEDY, precision="auto").precision == "bf16"
    monkeypatch.setattr(devices, "BF16_WINS", 0.0)  # never
    assert generate(m, tok, length=5, decoding=GREEDY, precision="auto").precision == "fp32"
    monkeypatch.setattr(devices, "BF16_WINS", 1e9)
    step_flops = 2 * 2 * sum(p.numel() for n, p in m.named_parameters() if "weight" in n)  # batch 2, each weight once per row
    monkeypatch.setattr(devices, "BF16_MIN_STEP_FLOPS", step_flops)
    assert generate(m, tok, length=5, num_samples=2, precision="auto").precision == "bf16"
    monkeypatch.setattr(devices, "BF16_MIN_STEP_FLOPS", step_flops + 1)
    assert generate(m, tok, length=5, num_samples=2, precision="auto").precision == "fp32"  # a step below the bound: no probe


@pytest.mark.parametrize("precision, cell, message", [("bf17", "lstm", "--precision bf17: choose one of auto, fp32, bf16"),
                                                      ("bf16", "leaky", "--precision bf16: generation in bf16 runs the cells lstm, gru, rnn, not leaky")])
def test_bad_precision_is_a_usage_error(tok, precision, cell, message):
    with pytest.raises(UsageError, match=message):
        generate(tiny(tok, cell), tok, length=5, decoding=GREEDY, precision=precision)
