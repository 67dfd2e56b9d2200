"""How the next token is chosen from the model's distribution: the options and the logits filters.

This module's job is the decoding strategy, apart from the loop that runs it (seqtool/sampling.py):
``DecodingOptions`` (greedy, beam, or sampling shaped by temperature, top-k and top-p) validated
once with messages naming the option, and the filters that turn logits into the distribution
sampling draws from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from seqtool.errors import UsageError

TEMPERATURE_RANGE = (1e-6, 1e6)  # sampling stays finite in float32 for any logits of |z| < 1e30

@dataclass
class DecodingOptions:
    """How the next token is chosen from the model's distribution.

    Sampling (the default) draws from softmax(logits / temperature), restricted first to the
    ``top_k`` most likely tokens and then to the nucleus of mass ``top_p``, in that order (as
    nanoGPT and fairseq's --sampling-topk/--sampling-topp do). ``greedy`` takes the most likely
    token; ``beam`` searches for the most likely continuation with W hypotheses. None means unset.
    """

    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False
    beam: int | None = None

    @property
    def shapes_sampling(self) -> bool:
        return self.temperature is not None or self.top_k is not None or self.top_p is not None

    def validate(self, num_samples: int = 1) -> "DecodingOptions":
        """Raise UsageError (one line, naming the option) for values or combinations that cannot work."""
        t, k, p = self.temperature, self.top_k, self.top_p
        if t is not None and not (math.isfinite(t) and t > 0):
            raise UsageError(f"--temperature {t:g}: must be greater than 0 (for the most likely token at every step use --greedy)")
        if t is not None and not (TEMPERATURE_RANGE[0] <= t <= TEMPERATURE_RANGE[1]):
            # logits / T overflows float32 below the range (inf - inf = NaN in the softmax) and the
            # -inf of masked tokens divided by an infinite T above it is NaN too.
            raise UsageError(f"--temperature {t:g}: must lie between {TEMPERATURE_RANGE[0]:g} and {TEMPERATURE_RANGE[1]:g} "
                             f"(for the most likely token at every step use --greedy)")
        if k is not None and k < 1:
            raise UsageError(f"--top-k {k}: must be at least 1 (1 is greedy)")
        if p is not None and not (0.0 < p <= 1.0):
            raise UsageError(f"--top-p {p:g}: must be in (0, 1] (1 keeps the whole distribution)")
        if self.beam is not None and self.beam < 1:
            raise UsageError(f"--beam {self.beam}: must be at least 1 (1 is greedy)")
        if num_samples < 1:
            raise UsageError(f"--num-samples {num_samples}: must be at least 1")
        if self.greedy and self.beam is not None:
            raise UsageError("--greedy and --beam: choose one (--beam 1 is greedy)")
        if (self.greedy or self.beam is not None) and self.shapes_sampling:
            which = "--greedy" if self.greedy else "--beam"
            raise UsageError(f"{which} is deterministic: --temperature/--top-k/--top-p shape sampling and do nothing with it")
        if self.greedy and num_samples > 1:
            raise UsageError(f"--greedy with --num-samples {num_samples}: greedy gives the same text every time",
                             fixes=("sample instead", "use --beam W --num-samples N for the N best"))
        if self.beam is not None and num_samples > self.beam:
            raise UsageError(f"--num-samples {num_samples} with --beam {self.beam}: the search keeps {self.beam} hypotheses",
                             fixes=("use --num-samples <= --beam",))
        return self

    @property
    def name(self) -> str:
        if self.beam is not None:
            return f"beam {self.beam}"
        if self.greedy:
            return "greedy"
        return "sampling"

    def to_dict(self) -> dict:
        return {"strategy": self.name, "temperature": self.temperature if self.temperature is not None else (None if self.greedy or self.beam else 1.0),
                "top_k": self.top_k, "top_p": self.top_p, "beam": self.beam}


def check_request(length: int, stop: Sequence[str] = ()) -> None:
    """Validate the options that do not depend on the decoding strategy."""
    if length < 1:
        raise UsageError(f"--length {length}: must be at least 1 token")
    for s in stop:
        if s == "":
            raise UsageError("--stop '': give a non-empty string (e.g. --stop '\\n' to stop at the end of a line)")


#: The most memory one generate call may take for its batch of samples (or beam hypotheses).
MAX_BATCH_MEMORY = 2 << 30


def check_batch(cfg, decoding: DecodingOptions, num_samples: int, length: int) -> None:
    """Refuse (UsageError) a batch whose logits, states and tokens would exceed MAX_BATCH_MEMORY, before allocating it."""
    from seqtool.memory import refuse_if_over

    rows = max(num_samples, decoding.beam or 1)
    # per row: logits, probabilities and a filtered copy over V tokens; old and new (h, c) per layer;
    # each new token's id, probability and entropy, and its text
    per_row = 4 * (3 * cfg.vocab_size + 4 * cfg.layers * cfg.hidden) + 24 * length
    what = f"--beam {decoding.beam}" if decoding.beam and decoding.beam >= num_samples else f"--num-samples {num_samples:,}"
    refuse_if_over(rows * per_row, MAX_BATCH_MEMORY, what, f"{rows:,} rows x {per_row:,} bytes: logits over {cfg.vocab_size:,} tokens, "
                   f"{cfg.layers} x {cfg.hidden} states, {length:,} tokens", "generate's bound",
                   fixes=(f"lower {what.split()[0]} or --length",), kind=UsageError)


# ---------------------------------------------------------------------------------- logits -> distribution


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """logits / T: T < 1 sharpens the distribution, T > 1 flattens it (softmax(z / T); Ackley et al. 1985)."""
    return logits if temperature == 1.0 else logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row (ties with the k-th are kept too); the rest become -inf.

    Top-k sampling: Fan et al. 2018, "Hierarchical Neural Story Generation"."""
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the nucleus: the fewest most-likely tokens whose probabilities sum to at least p.

    Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration". A token is kept when
    the mass of the tokens ranked above it is still below p, so the most likely token always is.
    """
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
    probs = torch.softmax(sorted_logits.float(), dim=-1)
    mass_above = torch.cumsum(probs, dim=-1) - probs  # (B, V): mass of the tokens ranked higher
    drop_sorted = mass_above >= p
    drop_sorted[..., 0] = False  # a p below float32's smallest number is 0 there: keep the top token anyway
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def shape_logits(logits: torch.Tensor, opts: DecodingOptions) -> torch.Tensor:
    """Temperature, then top-k, then top-p: the logits sampling draws from."""
    z = apply_temperature(logits, opts.temperature if opts.temperature is not None else 1.0)
    if opts.top_k is not None:
        z = top_k_filter(z, opts.top_k)
    if opts.top_p is not None:
        z = top_p_filter(z, opts.top_p)
    return z
