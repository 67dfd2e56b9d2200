"""A/B of one SST-2 classifier training step on equal-length batches: seqtool's two one-directional stacks
vs one dense (unpacked) fused bidirectional torch call (the idea of issue 12's 2x throughput target).

    python benchmarks/ab_bidir_dense.py --threads 1            # SAME_MODEL's sst2 classifier: bi-LSTM 1x256, max pool
    python benchmarks/ab_bidir_dense.py --threads 2 --cell gru --rounds 3
    python benchmarks/ab_bidir_dense.py --threads 1 --layers 2   # a 2-layer body, as the EWT tagger's

When every sequence of a batch has the same length, a dense fused bidirectional call is exact (the backward
direction reads no padding) and needs no reversal gathers. Both paths train the same SequenceClassifier
(embedding 128, dropout 0.5, fused Adam) on the same 60 batches of 32 random ids whose lengths are drawn
from SST-2's training sentences; the dense path shares one input-dropout mask between the directions (as
nn.LSTM(bidirectional=True) does). Each batch is stepped by both paths back to back, the order alternating,
so other load on a shared machine skews both alike; prints the median per-pair time ratio two-stack/dense
(> 1: dense faster), its quartiles and the ratio of totals, as one JSON object.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from benchmarks.common import add_corpora_option, corpora_dir  # noqa: E402
from seqtool.models.bidir import _KERNELS, FUSED_CELLS, _weights  # noqa: E402
from seqtool.models.config import ModelConfig  # noqa: E402
from seqtool.models.heads import SequenceClassifier  # noqa: E402


def dense_encode(model: SequenceClassifier, ids: torch.Tensor, lengths: torch.Tensor, chars=None, x=None) -> torch.Tensor:
    """Both directions as one dense fused call on ids (L, B) whose lengths all equal L -> (L, B, 2H)."""
    x = model._inputs(ids, None, x)  # (L, B, E), one dropout mask for both directions
    kernel, cfg = _KERNELS[type(model.rnn)], model.cfg
    h0 = x.new_zeros(2 * cfg.layers, x.shape[1], cfg.hidden)
    hx = (h0, h0) if kernel is torch.lstm else h0
    return kernel(x, hx, _weights(model.rnn, model.rnn_bwd), True, cfg.layers, float(model.rnn.dropout), model.training, True, False)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cell", choices=FUSED_CELLS, default="lstm")
    ap.add_argument("--layers", type=int, default=1, help="2: the EWT tagger's depth (layer 2 reads both directions)")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the 60 batches")
    add_corpora_option(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lens = [len(line.split()) - 1 for line in (corpora_dir() / "sst2" / "stsa.binary.train").read_text().splitlines()]
    rng = random.Random(0)
    vocab = 13839  # SST-2 train's word vocabulary
    batches = [(torch.randint(1, vocab, (L, 32)), torch.full((32,), L), torch.randint(0, 2, (32,)))
               for L in (rng.choice(lens) for _ in range(60))]
    cfg = ModelConfig(vocab_size=vocab, cell=args.cell, hidden=256, layers=args.layers, embed_dim=128, dropout=0.5)
    model = SequenceClassifier(cfg, 2, pool="max", bidirectional=True).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.002, fused=True)
    two_stack = model.encode

    def step(path: str, batch) -> float:
        model.encode = two_stack if path == "two" else lambda *a, **k: dense_encode(model, *a, **k)
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        model.loss(*batch).backward()
        opt.step()
        return time.perf_counter() - t

    for b in batches[:5]:  # warm-up
        step("two", b), step("dense", b)
    ratios, total = [], {"two": 0.0, "dense": 0.0}
    for r in range(args.rounds):
        for i, b in enumerate(batches):
            t = {p: step(p, b) for p in (("two", "dense") if (i + r) % 2 == 0 else ("dense", "two"))}
            ratios.append(t["two"] / t["dense"])
            total["two"] += t["two"]
            total["dense"] += t["dense"]
    q = statistics.quantiles(ratios, n=4)
    print(json.dumps({"cell": args.cell, "layers": args.layers, "threads": args.threads, "step_pairs": len(ratios),
                      "two_over_dense_median": round(statistics.median(ratios), 3), "quartiles": [round(q[0], 3), round(q[2], 3)],
                      "two_over_dense_total": round(total["two"] / total["dense"], 3)}))


if __name__ == "__main__":
    main()
