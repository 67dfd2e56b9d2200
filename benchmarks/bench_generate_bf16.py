"""Generation in bf16 against fp32 on a trained char model: how often greedy decoding picks the same token, and tokens/s.

    python benchmarks/bench_generate_bf16.py [--seconds 300] [--tokens 2000] [--batch 16] [--repeat 3] [--threads 2]
    python benchmarks/bench_generate_bf16.py --run runs/shakespeare          # a trained run instead of training one

Trains seqtool's char default (LSTM 2x384 on one-hot input, `seqtool train --level char`) on tiny shakespeare for
--seconds (or loads --run), then generates --tokens tokens greedily after --prompt with ``--precision fp32`` and
``bf16`` (issue 15's target: the same text in at least 99% of greedy tokens) and prints:

- agreement: the share of tokens before the first position where the two texts differ, and the share of
  positions with the same token overall (after a divergence the two texts follow different prefixes); also
  the share of positions where bf16's most likely next token equals fp32's when both read fp32's text
  (teacher forced: each position judged on the same prefix);
- tokens/s of each: the greedy sample (batch 1) and --batch samples drawn with one seed, best of --repeat,
  the two precisions alternating so background load hits both alike;
- the reproduce command, and whether the machine stayed quiet (benchmarks/common.py ``Measured``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

import torch  # noqa: E402

from benchmarks.common import Measured, add_corpora_option, corpora_dir, shown  # noqa: E402
from seqtool.checkpoint import load_model  # noqa: E402
from seqtool.decoding import DecodingOptions  # noqa: E402
from seqtool.models.bf16_step import Bf16Runner  # noqa: E402
from seqtool.sampling import encode_prompt, generate  # noqa: E402

PRECISIONS = ("fp32", "bf16")


def train_run(corpus: Path, seconds: float, out: Path) -> list[str]:
    """``seqtool train`` of the char default on ``corpus`` for ``seconds``; the command it ran."""
    cmd = ["train", str(corpus), "--level", "char", "--val-fraction", "0.1", "--time-budget", f"{seconds:g}s",
           "--out", str(out), "--force", "--seed", "0", "--quiet"]
    subprocess.run([sys.executable, "-m", "seqtool", *cmd], check=True, cwd=HERE.parent)
    return cmd


def agreement(a: list[int], b: list[int]) -> dict:
    """Position by position until the first difference, and overall, as percentages of len(a)."""
    same = [x == y for x, y in zip(a, b)]
    first = same.index(False) if False in same else len(same)
    return {"until_first_divergence_pct": round(100 * first / len(a), 2), "first_divergence_at": None if first == len(same) else first,
            "overall_pct": round(100 * sum(same) / len(a), 2)}


@torch.inference_mode()
def teacher_forced_agreement(model, tok, prompt_ids: list[int], fp32_ids: list[int]) -> float:
    """% of positions of fp32's text where bf16's argmax next token equals fp32's, both reading fp32's text."""
    seq = torch.tensor([tok.line_end_id, *prompt_ids, *fp32_ids[:-1]]).view(-1, 1)  # (T, 1)
    rows = slice(len(prompt_ids), None)  # the positions that predict generated tokens
    fp32 = model(seq)[0][rows, 0]
    bf16 = Bf16Runner(model)(seq)[0][rows, 0]
    fp32[:, 0] = bf16[:, 0] = -torch.inf  # PAD is never generated
    return round(100 * (fp32.argmax(-1) == bf16.argmax(-1)).float().mean().item(), 2)


def tokens_per_s(model, tok, prompt_ids, tokens: int, batch: int, repeat: int) -> dict:
    """Best-of-``repeat`` tokens/s of each precision, greedy at batch 1 and seeded sampling at ``batch``."""
    cases = {"greedy_batch_1": (1, DecodingOptions(greedy=True)), f"sampling_batch_{batch}": (batch, DecodingOptions())}
    best = {(c, p): 0.0 for c in cases for p in PRECISIONS}
    for _ in range(repeat):
        for case, (b, decoding) in cases.items():
            for p in PRECISIONS:  # alternating
                t0 = time.perf_counter()
                generate(model, tok, prompt_ids, length=tokens, num_samples=b, decoding=decoding, seed=0, precision=p)
                best[case, p] = max(best[case, p], tokens * b / (time.perf_counter() - t0))
    return {case: {**{p: round(best[case, p]) for p in PRECISIONS}, "bf16_over_fp32": round(best[case, "bf16"] / best[case, "fp32"], 2)}
            for case in cases}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a trained seqtool run (or checkpoint) to load instead of training one")
    ap.add_argument("--seconds", type=float, default=300.0, help="training time of the char model (without --run)")
    ap.add_argument("--tokens", type=int, default=2000, help="tokens generated per sample")
    ap.add_argument("--prompt", default="ROMEO:\n")
    ap.add_argument("--batch", type=int, default=16, help="samples drawn together for the batched tokens/s")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    add_corpora_option(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    corpora = corpora_dir()
    run_dir, trained = args.run, None
    if run_dir is None:
        run_dir = HERE / "_work" / "generate-bf16-char"
        trained = train_run(corpora / "tinyshakespeare.txt", args.seconds, run_dir)
    lm = load_model(run_dir, "cpu")
    model, tok = lm.model.eval(), lm.tokenizer
    prompt = encode_prompt(tok, args.prompt).ids
    with Measured() as m:
        texts = {p: generate(model, tok, prompt, length=args.tokens, decoding=DecodingOptions(greedy=True), precision=p).samples[0]
                 for p in PRECISIONS}
        speed = tokens_per_s(model, tok, prompt, args.tokens, args.batch, args.repeat)
    fp32_ids, bf16_ids = texts["fp32"].ids, texts["bf16"].ids
    cmd = f"python benchmarks/bench_generate_bf16.py --tokens {args.tokens} --batch {args.batch} --repeat {args.repeat} --threads {args.threads}"
    cmd += f" --run {shlex.quote(str(args.run))}" if args.run else f" --seconds {args.seconds:g}"
    cmd += f" --prompt {shlex.quote(args.prompt)}"
    print(json.dumps({
        "model": f"{lm.model.cfg.cell} {lm.model.cfg.layers}x{lm.model.cfg.hidden}, vocabulary {len(tok.vocab)}, from {shown(run_dir, corpora)}",
        "trained_by": None if trained is None else "python -m seqtool " + " ".join(shown(a, corpora) for a in trained),
        "prompt": args.prompt, "tokens": args.tokens,
        "greedy_agreement": {**agreement(fp32_ids, bf16_ids), "teacher_forced_argmax_pct": teacher_forced_agreement(model, tok, prompt, fp32_ids)},
        "text_start": {p: texts[p].text[:200] for p in PRECISIONS},
        "tokens_per_s": speed,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
        **m.record(),
        "reproduce": cmd,
    }, indent=2))


if __name__ == "__main__":
    main()
