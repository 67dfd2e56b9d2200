"""Free-running generation: the model's own output is fed back as its next input.

Training feeds the true previous token (teacher forcing); at test time the truth is unknown, so
each sampled token becomes the next input (lecture, "Teacher Forcing ... Test time"). This
module's job is that loop, done so its cost per token does not grow with what was generated:

    prompt (T, 1) -> one forward call -> state, logits of the next token
    repeat: pick a token from the logits (B,) -> feed it back with the carried state -> logits

The prompt is run once; after that every step is one call on a (1, B) batch with the state the
cell carries (an LSTM's (h, c), a tdnn's window of past inputs, nothing for jordan, whose
feedback *is* the token fed back). Several samples run as one batch. Decoding strategies:
greedy, sampling shaped by temperature, top-k and top-p (nucleus), and beam search.

Nothing here prints: text reaches the caller through the ``on_text`` callback as it is
generated (held back only while it may be the start of a stop string).
"""
from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from seqtool.devices import prompt_kernels, step_kernels
from seqtool.errors import UsageError
from seqtool.models.state import select_state, state_batch_dims
from seqtool.text.tokenizers import DROPPED, LINE_END, Tokenizer

PAD = 0  # id 0 is padding in every vocabulary; it never occurs in text, so it is never generated

OnText = Callable[[int, str, "float | None"], None]
"""``on_text(sample, text, prob)``: the next piece of a sample's text (one token's, or part of
one), with the model's probability of that token when statistics are kept, else None."""


# ---------------------------------------------------------------------------------- options


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
            raise UsageError(f"{which} is deterministic; --temperature/--top-k/--top-p shape sampling and do nothing with it")
        if self.greedy and num_samples > 1:
            raise UsageError(f"--greedy with --num-samples {num_samples}: greedy gives the same text every time; sample instead, or use --beam W --num-samples N for the N best")
        if self.beam is not None and num_samples > self.beam:
            raise UsageError(f"--num-samples {num_samples} with --beam {self.beam}: the search keeps {self.beam} hypotheses; use --num-samples <= --beam")
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


# ---------------------------------------------------------------------------------- prompts


@dataclass
class Prompt:
    """A prompt as the model sees it: its ids, and what happened to tokens it never saw."""

    text: str
    ids: list[int]
    warnings: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # distinct unseen characters / unknown words, in order


def _quote_list(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(repr(x) for x in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def encode_prompt(tok: Tokenizer, text: str) -> Prompt:
    """Encode a prompt with the checkpoint's tokenizer without ever failing on unseen input.

    Unknown words become the OOV token (or are dropped when the vocabulary has none); characters
    the model never saw are mapped to the OOV token where there is one, else dropped. Either way
    a warning names them.
    """
    if not text:
        return Prompt(text, [])
    raw = tok.encode_raw(text)
    oov_id = tok.vocab.oov_id
    oov_name = tok.vocab.tokens[oov_id] if oov_id is not None else None
    unknown: list[str] = []
    if tok.level == "subword":
        if oov_id is not None and (raw == oov_id).any():
            unknown = [c for c in dict.fromkeys(text) if c != "\n" and oov_id in tok.encode(c).tolist()]
    else:
        if tok.level in ("char", "char-ngram"):
            units = list(text)  # encode_raw is one entry per code point
        else:
            units = [u.decode("ascii") if isinstance(u, bytes) else u for u in tok.units(text)]
        if len(units) == len(raw):
            bad = (raw == DROPPED) | ((raw == LINE_END) & (tok.level == "char"))
            if oov_id is not None:
                bad |= raw == oov_id
            unknown = list(dict.fromkeys(u for u, b in zip(units, bad.tolist()) if b and u != oov_name))
    warnings = []
    if unknown:
        what = "character" if tok.level in ("char", "subword", "char-ngram") else "word"
        what += "s" if len(unknown) > 1 else ""
        fate = f"mapped to {oov_name}" if oov_id is not None else "dropped (the vocabulary has no OOV token)"
        warnings.append(f"prompt: {len(unknown)} {what} the model never saw {fate}: {_quote_list(unknown)}")
    ids = [int(i) for i in tok.finish(raw)]
    if text.strip() and not ids:
        warnings.append("prompt: nothing in it is known to the model; starting from the start-of-line state")
    return Prompt(text, ids, warnings, unknown)


def joiner(tok: Tokenizer, prompt_text: str) -> str:
    """What goes between a prompt and its continuation when shown together (a space between words)."""
    if tok.decode_sep == " " and prompt_text and not prompt_text[-1].isspace():
        return " "
    return ""


# ---------------------------------------------------------------------------------- text as it comes


class TextStream:
    """One sample's ids -> text as they arrive, cut at the first stop string.

    Each token's text is known at once (a character; a word after a space; subword pieces are
    decoded per line, since bytes may join into one character). Text that could be the start of
    a stop string is held back until it is clearly not; then it is released as (text, prob)
    pieces, one per token, so a caller can colour each token by its probability.
    """

    def __init__(self, tok: Tokenizer, stop: Sequence[str] = ()):
        self.tok = tok
        self.stop = [s for s in stop if s]
        self.max_stop = max((len(s) for s in self.stop), default=0)
        self.text = ""
        self.starts: list[int] = []  # where each token's text starts in self.text
        self.stopped_at: int | None = None
        self._released = 0
        self._pending: deque = deque()  # (start, end, prob) of tokens not yet released
        tokens, specials = tok.vocab.tokens, tok.vocab.specials
        self._tokens = tokens
        self._eos = tok.vocab.eos_id
        self._skip = {i for r, i in specials.items() if r != "oov"}
        self._sep = tok.decode_sep
        self._line_start = True
        self._line: list[int] = []  # subword: the current line's ids
        self._line_text = ""

    def _piece(self, i: int) -> str:
        level = self.tok.level
        if level == "subword":
            if i == self._eos:
                self._line, self._line_text = [], ""
                return "\n"
            if i == PAD:
                return ""
            self._line.append(i)
            new = self.tok.decode(self._line).rstrip("\ufffd")  # a partial UTF-8 byte sequence waits
            if new.startswith(self._line_text):
                piece = new[len(self._line_text):]
                self._line_text = new
                return piece
            return ""
        if i == self._eos and level != "char":
            self._line_start = True
            return "\n"
        if i in self._skip:
            return ""
        if self._sep and not self._line_start:
            piece = self._sep + self._tokens[i]
        else:
            piece = self._tokens[i]
        self._line_start = False
        return piece

    def push(self, token_id: int, prob: float | None = None) -> list[tuple[str, float | None]]:
        """Add one token; return the pieces of text that are now final (possibly none)."""
        if self.stopped_at is not None:
            return []
        start = len(self.text)
        self.text += self._piece(token_id)
        self.starts.append(start)
        self._pending.append((start, len(self.text), prob))
        if not self.stop:
            return self._release(len(self.text))
        lo = max(0, start - self.max_stop + 1)
        hits = [i for i in (self.text.find(s, lo) for s in self.stop) if i >= 0]
        if hits:
            self.stopped_at = min(hits)
            return self._release(self.stopped_at, partial=True)
        hold = 0
        for s in self.stop:  # the longest tail that may still grow into a stop string
            for k in range(min(len(s) - 1, len(self.text)), hold, -1):
                if self.text.endswith(s[:k]):
                    hold = k
                    break
        return self._release(len(self.text) - hold)

    def flush(self) -> list[tuple[str, float | None]]:
        """Release everything held back (the sample has ended)."""
        return self._release(len(self.text) if self.stopped_at is None else self.stopped_at, partial=True)

    def _release(self, limit: int, partial: bool = False) -> list[tuple[str, float | None]]:
        out = []
        while self._pending:
            start, end, prob = self._pending[0]
            if end <= limit:
                self._pending.popleft()
                piece = self.text[max(start, self._released):end]
                self._released = max(self._released, end)
            elif partial and start < limit:
                piece = self.text[max(start, self._released):limit]
                self._released = limit
                self._pending.clear()
            else:
                break
            if piece:
                out.append((piece, prob))
        if partial and self.stopped_at is not None:
            self._pending.clear()
        return out

    @property
    def final_text(self) -> str:
        return self.text if self.stopped_at is None else self.text[: self.stopped_at]

    @property
    def kept_tokens(self) -> int:
        """Tokens whose text starts before the stop string (all of them if none was found)."""
        return len(self.starts) if self.stopped_at is None else bisect_left(self.starts, self.stopped_at)


# ---------------------------------------------------------------------------------- generation


@dataclass
class Sample:
    """One generated continuation: its ids and text, and per token the model's probability and
    the entropy (nats) of the distribution it came from (temperature 1, before any truncation)."""

    ids: list[int]
    text: str
    probs: list[float] | None = None
    entropies: list[float] | None = None
    stopped: bool = False  # ended at a stop string (else: --length reached)
    logprob: float | None = None  # sum of log p of the tokens (beam search's score)

    def to_dict(self, tok: Tokenizer) -> dict:
        d: dict[str, Any] = {"text": self.text, "num_tokens": len(self.ids), "stopped_by": "stop" if self.stopped else "length"}
        if self.logprob is not None:
            d["logprob"] = self.logprob
        tokens = []
        for j, i in enumerate(self.ids):
            t: dict[str, Any] = {"token": tok.vocab.tokens[i], "id": i}
            if self.probs is not None:
                t["prob"] = self.probs[j]
                t["entropy"] = self.entropies[j]
            tokens.append(t)
        d["tokens"] = tokens
        return d


@dataclass
class Generation:
    """The result of ``generate``: samples in order (best first for beam search) and the seed used."""

    samples: list[Sample]
    seed: int | None
    decoding: DecodingOptions
    prompt_tokens: int


@torch.inference_mode()
def generate(
    model,
    tok: Tokenizer,
    prompt_ids: Sequence[int] = (),
    *,
    length: int,
    num_samples: int = 1,
    decoding: DecodingOptions | None = None,
    seed: int | None = None,
    stop: Sequence[str] = (),
    on_text: OnText | None = None,
    stats: bool = False,
) -> Generation:
    """Continue ``prompt_ids`` by ``length`` tokens, ``num_samples`` times, feeding each token back.

    The model starts from zero state at a line start (the line-end token is fed first), reads the
    prompt in one call, then generates one token per call with the carried state. ``seed`` makes
    sampling repeatable on a given device (None draws one; it is returned). ``stop`` strings end a
    sample where they first appear (the stop string itself is not kept). ``on_text`` receives
    each sample's text as it becomes final; ``stats`` records each token's probability and the
    entropy of its distribution. Beam search returns the ``num_samples`` best continuations.
    """
    decoding = (decoding or DecodingOptions()).validate(num_samples)
    check_request(length, stop)
    model.eval()
    device = next(model.parameters()).device
    start = tok.line_end_id  # fed first, so the text starts at a line start
    context = ([start] if start is not None else []) + [int(i) for i in prompt_ids]
    if not context:
        raise UsageError("this model's vocabulary has no line-end token to start from; give a --prompt")
    if seed is None and decoding.beam is None and not decoding.greedy:
        seed = random.SystemRandom().randrange(2**31)
    x = torch.tensor(context, dtype=torch.long, device=device).view(-1, 1)  # (T, 1)
    with prompt_kernels(model, len(context)):  # the prompt, run once
        logits, state = model(x, None)  # (T, 1, V)
    last = logits[-1]  # (1, V): distribution of the first new token
    with step_kernels(model):
        if decoding.beam is not None:
            samples = _beam_search(model, tok, last, state, length, decoding.beam, num_samples, stop, on_text, stats)
        else:
            samples = _sample(model, tok, last, state, length, num_samples, decoding, seed, stop, on_text, stats)
    return Generation(samples, seed if decoding.beam is None and not decoding.greedy else None, decoding, len(context) - (start is not None))


def _entropy(logp: torch.Tensor) -> torch.Tensor:
    return -(logp.exp() * logp).nan_to_num().sum(-1)  # (B,): 0 * -inf counts as 0


def _sample(model, tok, last, state, length, n, opts: DecodingOptions, seed, stop, on_text, stats) -> list[Sample]:
    device = last.device
    dims = state_batch_dims(model)
    state = select_state(state, torch.zeros(n, dtype=torch.long, device=device), dims)  # the prompt's state, n times
    logits = last.float().expand(n, -1).clone()  # (B, V)
    gen = torch.Generator(device=device)
    if seed is not None:
        gen.manual_seed(seed)
    out: list[torch.Tensor] = []  # (B,) per step; stacked once at the end
    probs = torch.empty(length, n, device=device) if stats else None
    ents = torch.empty(length, n, device=device) if stats else None
    streams = [TextStream(tok, stop) for _ in range(n)] if (stop or on_text) else None
    done = [False] * n
    steps = length
    for t in range(length):
        logits.narrow(1, PAD, 1).fill_(float("-inf"))  # PAD is never generated (cheaper per token than logits[:, PAD] = ...)
        if opts.greedy:
            nxt = logits.argmax(-1)  # (B,)
        else:
            z = shape_logits(logits, opts)
            nxt = torch.multinomial(torch.softmax(z, -1), 1, generator=gen).squeeze(1)  # (B,)
        out.append(nxt)
        if stats:
            logp = torch.log_softmax(logits, -1)  # (B, V): the model's own distribution
            probs[t] = logp.gather(1, nxt[:, None]).squeeze(1).exp()
            ents[t] = _entropy(logp)
        if streams is not None:  # host-side text: one transfer of B ids per step
            ids = nxt.tolist()
            ps = probs[t].tolist() if stats else [None] * n
            for b in range(n):
                if done[b]:
                    continue
                for piece, p in streams[b].push(ids[b], ps[b]):
                    if on_text:
                        on_text(b, piece, p)
                if streams[b].stopped_at is not None:
                    done[b] = True
            if all(done):
                steps = t + 1
                break
        if t + 1 < length:
            logits, state = model(nxt.view(1, n), state)  # (1, B, V): the token fed back, state carried
            logits = logits[0].float()
    ids = torch.stack(out[:steps], 1).tolist()  # (B, N) on the host
    p_host = probs[:steps].T.tolist() if stats else None
    e_host = ents[:steps].T.tolist() if stats else None
    samples = []
    for b in range(n):
        if streams is not None:
            for piece, p in streams[b].flush():
                if on_text:
                    on_text(b, piece, p)
            keep, text, stopped = streams[b].kept_tokens, streams[b].final_text, streams[b].stopped_at is not None
        else:
            keep, text, stopped = steps, tok.decode(ids[b]), False
        samples.append(_make_sample(ids[b], text, stopped, keep, p_host and p_host[b], e_host and e_host[b]))
    return samples


def _make_sample(ids, text, stopped, keep, probs, ents, logprob=None) -> Sample:
    return Sample(ids[:keep], text, probs[:keep] if probs is not None else None, ents[:keep] if ents is not None else None, stopped, logprob)


def _beam_search(model, tok, last, state, length, width, n_best, stop, on_text, stats) -> list[Sample]:
    """Keep the W most likely continuations (sum of log p) at every step; return the n best.

    Beam search as in Sutskever et al. 2014 and fairseq's SequenceGenerator. It is not exact: a
    wider beam usually scores at least as well, but that is not guaranteed in general.

    Fixed length, no length penalty. Back-pointers (N, W) instead of copying histories, so a step
    costs the same at token 10,000 as at token 1. The search cannot know where a stop string will
    fall, so it runs to ``length`` and each result is cut at its first stop string.
    """
    device = last.device
    w = width
    dims = state_batch_dims(model)
    state = select_state(state, torch.zeros(w, dtype=torch.long, device=device), dims)
    logits = last.float().expand(w, -1).clone()  # (W, V)
    v = logits.shape[-1]
    scores = torch.full((w,), float("-inf"), device=device)
    scores[0] = 0.0  # one live hypothesis at the start; the copies score -inf until filled
    toks = torch.empty(length, w, dtype=torch.long, device=device)
    parents = torch.empty(length, w, dtype=torch.long, device=device)
    tok_logp = torch.empty(length, w, device=device)
    ents = torch.empty(length, w, device=device) if stats else None
    for t in range(length):
        logits.narrow(1, PAD, 1).fill_(float("-inf"))
        logp = torch.log_softmax(logits, -1)  # (W, V)
        cand = (scores[:, None] + logp).view(-1)  # (W * V,)
        scores, flat = cand.topk(w)  # (W,)
        parent, nxt = flat // v, flat % v
        toks[t], parents[t] = nxt, parent
        tok_logp[t] = logp[parent, nxt]
        if stats:
            ents[t] = _entropy(logp)[parent]
        if t + 1 < length:
            state = select_state(state, parent, dims)  # each new hypothesis continues its parent's state
            logits, state = model(nxt.view(1, w), state)
            logits = logits[0].float()
    toks_h, parents_h, lp_h = toks.cpu().numpy(), parents.cpu().numpy(), tok_logp.cpu().numpy()
    ents_h = ents.cpu().numpy() if stats else None
    order = torch.argsort(scores, descending=True)[:n_best].tolist()
    samples = []
    for rank, b in enumerate(order):
        ids, lps, es = np.empty(length, np.int64), np.empty(length), np.empty(length)
        for t in range(length - 1, -1, -1):  # follow the back-pointers
            ids[t], lps[t] = toks_h[t, b], lp_h[t, b]
            if stats:
                es[t] = ents_h[t, b]
            b = parents_h[t, b]
        stream = TextStream(tok, stop)
        probs = np.exp(lps).tolist()
        for j, i in enumerate(ids.tolist()):
            for piece, p in stream.push(i, probs[j] if stats else None):
                if on_text:
                    on_text(rank, piece, p)
            if stream.stopped_at is not None:
                break
        for piece, p in stream.flush():
            if on_text:
                on_text(rank, piece, p)
        samples.append(_make_sample(ids.tolist(), stream.final_text, stream.stopped_at is not None, stream.kept_tokens,
                                    probs if stats else None, es.tolist() if stats else None, float(lps.sum())))
    return samples


def sequence_logprob(model, tok: Tokenizer, prompt_ids: Sequence[int], continuation: Sequence[int]) -> float:
    """log p(continuation | line start, prompt) under the model (pad excluded, as in generation)."""
    start = tok.line_end_id
    ctx = ([start] if start is not None else []) + list(prompt_ids)
    ids = torch.tensor(ctx + list(continuation), dtype=torch.long, device=next(model.parameters()).device)
    with torch.inference_mode():
        model.eval()
        logits, _ = model(ids[:-1].view(-1, 1))
        logits = logits[:, 0].float()
        logits.narrow(1, PAD, 1).fill_(float("-inf"))
        logp = torch.log_softmax(logits, -1)[len(ctx) - 1 :]  # rows predicting the continuation
        return float(logp.gather(1, ids[len(ctx) :, None]).sum())
