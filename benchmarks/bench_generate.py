"""Generation speed: seqtool's free-running loop against a bare torch loop of the same model.

A char LSTM 2x512 (one-hot inputs, the size issue 4 names; vocabulary of
sample_corpora/fables.txt; untrained weights: speed does not depend on them) generates:

- single-sample and 16-sample tokens/s, through ``seqtool.sampling.generate`` (plain
  sampling), next to a bare loop over the *same modules* (one-hot "embedding", recurrent step,
  linear, softmax, multinomial) measured alternately in the same process, so load on a shared
  machine hits both alike (best of --repeat runs each). The bare loop runs with the same kernels
  as seqtool's token loop (oneDNN off for the LSTM step, see ``devices.step_kernels``), so the
  ratio is the cost of seqtool's loop itself; the bare loop with torch's default kernels is
  reported too;
- the same with a streaming callback (what the CLI does: text handed out per token);
- time per token when generating --long tokens in one generation vs in generations of 100
  tokens (equal work): it must be flat (no re-running of the prefix, no growing buffers).

    python benchmarks/bench_generate.py [--tokens 2000] [--long 10000] [--repeat 3] [--threads 1]
    python benchmarks/bench_generate.py --quick     # a smoke run: --tokens 200 --long 1000 --repeat 2

Prints one JSON document with the figures and the command that reproduces it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from seqtool.decoding import DecodingOptions  # noqa: E402
from seqtool.devices import step_kernels  # noqa: E402
from seqtool.models import ModelConfig, build_model  # noqa: E402
from seqtool.sampling import generate  # noqa: E402
from seqtool.text import TokenizerOptions, make_tokenizer  # noqa: E402
from seqtool.text.corpus import read_text  # noqa: E402


def bare_loop(model, start: int, n: int, b: int, seed: int) -> list:
    """The baseline: embedding (one-hot), recurrent step, linear, multinomial, state carried."""
    v = model.cfg.vocab_size
    rnn, decoder = model.rnn, model.decoder
    gen = torch.Generator().manual_seed(seed)
    x = torch.full((1, b), start, dtype=torch.long)
    h, out = None, []
    with torch.inference_mode():
        for _ in range(n):
            o, h = rnn(F.one_hot(x, v).float(), h)  # (1, B, H)
            logits = decoder(o[0])  # (B, V)
            x = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen).view(1, b)
            out.append(x)
    return out


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=2000, help="tokens per sample for the throughput figures")
    ap.add_argument("--long", type=int, default=10000, help="the long run of the flatness check (vs 100 tokens)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="small settings for a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.tokens, args.long, args.repeat = 200, 1000, 2
    torch.set_num_threads(args.threads)

    tok = make_tokenizer(TokenizerOptions(level="char")).fit([read_text(ROOT / "sample_corpora" / "fables.txt")])
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=len(tok.vocab), cell="lstm", hidden=512, layers=2, embed_dim=0)).eval()
    start = tok.line_end_id
    sampling = DecodingOptions()  # plain sampling from softmax(logits), as the bare loop does

    def ours(n, b, stream=False):
        sink = (lambda i, t, p: None) if stream else None
        return lambda: generate(model, tok, length=n, num_samples=b, decoding=sampling, seed=0, on_text=sink)

    def bare(n, b):
        def go():
            with step_kernels(model):
                bare_loop(model, start, n, b, 0)
        return go

    def bare_default(n, b):
        return lambda: bare_loop(model, start, n, b, 0)

    ours(20, 1)(), bare(20, 1)()  # warm up
    rows = {}
    for b in (1, 16):
        t_bare, t_ours, t_stream = [], [], []
        for _ in range(args.repeat):  # alternate, so background load hits both alike
            t_bare.append(best_of(bare(args.tokens, b), 1))
            t_ours.append(best_of(ours(args.tokens, b), 1))
            t_stream.append(best_of(ours(args.tokens, b, stream=True), 1))
        t_default = best_of(bare_default(args.tokens, b), 1)
        tok_s = lambda ts: args.tokens * b / min(ts)  # noqa: E731
        rows[f"batch_{b}"] = {
            "seqtool_tokens_per_s": round(tok_s(t_ours)), "seqtool_streaming_tokens_per_s": round(tok_s(t_stream)),
            "bare_loop_tokens_per_s": round(tok_s(t_bare)), "bare_loop_default_kernels_tokens_per_s": round(tok_s([t_default])),
            "ratio_vs_bare": round(min(t_bare) / min(t_ours), 3),
            "ratio_streaming_vs_bare": round(min(t_bare) / min(t_stream), 3),
        }

    # Flatness: --long tokens as one generation against the same number as generations of 100,
    # alternating, best of --repeat each. Equal work on both sides, so a best-of-many over short
    # runs cannot flatter them (it did: the bare loop itself read 1.37 that way).
    def as_calls(fn, n_calls):
        return lambda: [fn() for _ in range(n_calls)]

    per_short, per_long, bare_short, bare_long = [], [], [], []
    for _ in range(max(1, args.repeat)):
        per_short.append(best_of(as_calls(ours(100, 1), args.long // 100), 1) / (args.long // 100 * 100))
        per_long.append(best_of(ours(args.long, 1), 1) / args.long)
        bare_short.append(best_of(as_calls(bare(100, 1), args.long // 100), 1) / (args.long // 100 * 100))
        bare_long.append(best_of(bare(args.long, 1), 1) / args.long)
    per_short, per_long, bare_short, bare_long = (min(x) for x in (per_short, per_long, bare_short, bare_long))

    cmd = "python benchmarks/bench_generate.py " + ("--quick" if args.quick else f"--tokens {args.tokens} --long {args.long} --repeat {args.repeat}") + f" --threads {args.threads}"
    print(json.dumps({
        "model": f"char lstm 2x512, one-hot inputs, vocabulary {len(tok.vocab)}, {sum(p.numel() for p in model.parameters()):,} parameters",
        "decoding": "sampling from softmax(logits) (temperature 1, no truncation)",
        "tokens_per_sample": args.tokens,
        **rows,
        "per_token_ms": {
            "seqtool_100": round(per_short * 1e3, 4), f"seqtool_{args.long}": round(per_long * 1e3, 4),
            "seqtool_long_over_short": round(per_long / per_short, 3),
            "bare_100": round(bare_short * 1e3, 4), f"bare_{args.long}": round(bare_long * 1e3, 4),
            "bare_long_over_short": round(bare_long / bare_short, 3),
            "how": f"{args.long} tokens as one generation vs as {args.long // 100} generations of 100, best of {max(1, args.repeat)} each",
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "reproduce": cmd,
    }, indent=2))


if __name__ == "__main__":
    main()
