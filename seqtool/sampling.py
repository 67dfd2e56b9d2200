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

import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from seqtool.decoding import DecodingOptions, check_batch, check_request, shape_logits
from seqtool.devices import generation_runner, prompt_kernels, step_kernels
from seqtool.errors import UsageError
from seqtool.models.state import select_state, state_batch_dims
from seqtool.text.tokenizers import DROPPED, LINE_END, Tokenizer
from seqtool.text.vocab import PAD_ID
from seqtool.textstream import TextStream

OnText = Callable[[int, str, "float | None"], None]
"""``on_text(sample, text, prob)``: the next piece of a sample's text (one token's, or part of
one), with the model's probability of that token when statistics are kept, else None."""


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


MAX_PROMPT_TOKENS = 100_000
"""The longest prompt ``generate`` reads by default: the model reads it in one call whose memory grows
with its length times the hidden size (a few GB for 100,000 tokens at 1024 hidden units)."""


def read_prompt(path, tok: Tokenizer, max_tokens: int = MAX_PROMPT_TOKENS) -> str:
    """The text of a prompt file, read in chunks and refused as soon as it passes ``max_tokens``
    tokens, so a huge file costs neither its whole text in memory nor a forward call beyond reach."""
    from seqtool.text.corpus import iter_chunks, open_sources

    parts, n = [], 0
    for chunk in iter_chunks(open_sources([str(path)], option="--prompt-file"), cut_before=tok.cut_before):
        n += len(tok.encode(chunk))
        check_prompt_tokens(n, max_tokens, f"--prompt-file {path}")
        parts.append(chunk)
    return "".join(parts)


def check_prompt_tokens(n: int, max_tokens: int, what: str = "--prompt") -> None:
    if n > max_tokens:
        raise UsageError(f"{what}: more than {max_tokens} tokens, the most a prompt may have",
                         fixes=("give a shorter prompt (its end is what counts)", "raise --max-prompt-tokens"))


def joiner(tok: Tokenizer, prompt_text: str) -> str:
    """What goes between a prompt and its continuation when shown together (a space between words)."""
    if tok.decode_sep == " " and prompt_text and not prompt_text[-1].isspace():
        return " "
    return ""


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
    precision: str = "fp32"  # what the matmuls ran in: fp32 or bf16


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
    precision: str = "fp32",
) -> Generation:
    """Continue ``prompt_ids`` by ``length`` tokens, ``num_samples`` times, feeding each token back.

    The model starts from zero state at a line start (the line-end token is fed first), reads the
    prompt in one call, then generates one token per call with the carried state. ``seed`` makes
    sampling repeatable on a given device (None draws one; it is returned). ``stop`` strings end a
    sample where they first appear (the stop string itself is not kept). ``on_text`` receives
    each sample's text as it becomes final; ``stats`` records each token's probability and the
    entropy of its distribution. Beam search returns the ``num_samples`` best continuations.
    ``precision``: fp32 (torch's kernels), bf16 (the matmuls in bf16, the softmax and sampling in fp32;
    lstm, gru and rnn cells) or auto (bf16 where a start-up probe finds it faster; seqtool.devices).
    """
    decoding = (decoding or DecodingOptions()).validate(num_samples)
    check_request(length, stop)
    check_batch(model.cfg, decoding, num_samples, length)
    model.eval()
    device = next(model.parameters()).device
    start = tok.line_end_id  # fed first, so the text starts at a line start
    context = ([start] if start is not None else []) + [int(i) for i in prompt_ids]
    if not context:
        raise UsageError("this model's vocabulary has no line-end token to start from", fixes=("give a --prompt",))
    if seed is None and decoding.beam is None and not decoding.greedy:
        seed = random.SystemRandom().randrange(2**31)
    x = torch.tensor(context, dtype=torch.long, device=device).view(-1, 1)  # (T, 1)
    precision, net = generation_runner(model, precision, decoding.beam or num_samples)  # net: the model, or its bf16 runner
    fp32 = net is model
    with prompt_kernels(model, len(context)) if fp32 else nullcontext():  # the prompt, run once
        out, state = net.hidden_states(x, None)  # (T, 1, H): no (T, V) logits, which a long prompt could not afford
    last = net.logits(out[-1])  # (1, V): distribution of the first new token
    with step_kernels(model) if fp32 else nullcontext():  # bf16 needs oneDNN's matmuls, which step_kernels turns off
        if decoding.beam is not None:
            samples = _beam_search(net, tok, last, state, length, decoding.beam, num_samples, stop, on_text, stats)
        else:
            samples = _sample(net, tok, last, state, length, num_samples, decoding, seed, stop, on_text, stats)
    return Generation(samples, seed if decoding.beam is None and not decoding.greedy else None, decoding,
                      len(context) - (start is not None), precision)


def _entropy(logp: torch.Tensor) -> torch.Tensor:
    return -(logp.exp() * logp).nan_to_num().sum(-1)  # (B,): 0 * -inf counts as 0


def _mask_pad(logits: torch.Tensor) -> torch.Tensor:
    """PAD is never generated: its logit becomes -inf, in place (cheaper per token than logits[:, PAD_ID] = ...)."""
    logits.narrow(1, PAD_ID, 1).fill_(float("-inf"))
    return logits


def _repeat_prompt(model, last: torch.Tensor, state, n: int):
    """The prompt's next-token logits and state, n times: (B, V) logits, a batch-B state, its batch dims."""
    dims = state_batch_dims(model)
    state = select_state(state, torch.zeros(n, dtype=torch.long, device=last.device), dims)
    return last.float().expand(n, -1).clone(), state, dims  # (B, V)


def _step(model, nxt: torch.Tensor, state):
    """Feed the chosen tokens (B,) back with the carried state: the next (B, V) logits and state."""
    logits, state = model(nxt.view(1, -1), state)  # (1, B, V)
    return logits[0].float(), state


def _streams(tok: Tokenizer, stop: Sequence[str], on_text: OnText | None, n: int) -> list[TextStream]:
    """One TextStream per sample, each sending its text to ``on_text`` under the sample's number."""
    return [TextStream(tok, stop, (lambda piece, p, b=b: on_text(b, piece, p)) if on_text else None) for b in range(n)]


def _sample(model, tok, last, state, length, n, opts: DecodingOptions, seed, stop, on_text, stats) -> list[Sample]:
    logits, state, _ = _repeat_prompt(model, last, state, n)  # (B, V)
    gen = torch.Generator(device=logits.device)
    if seed is not None:
        gen.manual_seed(seed)
    out: list[torch.Tensor] = []  # (B,) per step; stacked once at the end
    probs = torch.empty(length, n, device=logits.device) if stats else None
    ents = torch.empty(length, n, device=logits.device) if stats else None
    streams = _streams(tok, stop, on_text, n) if (stop or on_text) else None
    for t in range(length):
        _mask_pad(logits)
        nxt = _pick(logits, opts, gen)  # (B,)
        out.append(nxt)
        if stats:
            logp = torch.log_softmax(logits, -1)  # (B, V): the model's own distribution
            probs[t] = logp.gather(1, nxt[:, None]).squeeze(1).exp()
            ents[t] = _entropy(logp)
        if streams is not None and _push_all(streams, nxt, probs[t] if stats else None):
            break  # every sample has met a stop string
        if t + 1 < length:
            logits, state = _step(model, nxt, state)
    return _finish_samples(tok, out, streams, probs, ents)


def _pick(logits: torch.Tensor, opts: DecodingOptions, gen: torch.Generator) -> torch.Tensor:
    """The next token of each row (B,): the most likely with ``greedy``, else a draw from the shaped distribution."""
    if opts.greedy:
        return logits.argmax(-1)
    z = shape_logits(logits, opts)
    return torch.multinomial(torch.softmax(z, -1), 1, generator=gen).squeeze(1)


def _push_all(streams: list[TextStream], nxt: torch.Tensor, probs: torch.Tensor | None) -> bool:
    """Each sample's new token into its stream (one transfer of B ids to the host); True once all have stopped."""
    ids = nxt.tolist()
    ps = probs.tolist() if probs is not None else [None] * len(ids)
    for stream, i, p in zip(streams, ids, ps):
        stream.push(i, p)  # a stopped stream takes nothing more
    return all(stream.stopped_at is not None for stream in streams)


def _finish_samples(tok, out: list[torch.Tensor], streams, probs, ents) -> list[Sample]:
    """The samples from the steps taken: ids on the host, text cut at stop strings, statistics."""
    steps = len(out)
    ids = torch.stack(out, 1).tolist()  # (B, N) on the host
    p_host = probs[:steps].T.tolist() if probs is not None else None
    e_host = ents[:steps].T.tolist() if ents is not None else None
    samples = []
    for b in range(len(ids)):
        if streams is not None:
            streams[b].flush()
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
    scores, toks, parents, tok_logp, ents = _beam_steps(model, last, state, length, width, stats)
    toks_h, parents_h, lp_h = toks.cpu().numpy(), parents.cpu().numpy(), tok_logp.cpu().numpy()
    ents_h = ents.cpu().numpy() if stats else None
    order = torch.argsort(scores, descending=True)[:n_best].tolist()
    streams = _streams(tok, stop, on_text, len(order))
    samples = []
    for stream, b in zip(streams, order):
        ids, lps, es = _backtrack(toks_h, parents_h, lp_h, ents_h, b)
        samples.append(_beam_sample(stream, ids, lps, es))
    return samples


def _beam_steps(model, last, state, length: int, w: int, stats: bool):
    """Run the search: final scores (W,), and per step (N, W) the tokens, their parents' beam
    index, their log p and (with ``stats``) the entropy of the distribution they came from."""
    logits, state, dims = _repeat_prompt(model, last, state, w)  # (W, V)
    device, v = logits.device, logits.shape[-1]
    scores = torch.full((w,), float("-inf"), device=device)
    scores[0] = 0.0  # one live hypothesis at the start; the copies score -inf until filled
    toks = torch.empty(length, w, dtype=torch.long, device=device)
    parents = torch.empty(length, w, dtype=torch.long, device=device)
    tok_logp = torch.empty(length, w, device=device)
    ents = torch.empty(length, w, device=device) if stats else None
    for t in range(length):
        _mask_pad(logits)
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
            logits, state = _step(model, nxt, state)
    return scores, toks, parents, tok_logp, ents


def _backtrack(toks_h, parents_h, lp_h, ents_h, b: int):
    """Hypothesis ``b``'s ids, token log p and entropies (None without stats), following the back-pointers."""
    length = toks_h.shape[0]
    ids, lps, es = np.empty(length, np.int64), np.empty(length), np.empty(length)
    for t in range(length - 1, -1, -1):
        ids[t], lps[t] = toks_h[t, b], lp_h[t, b]
        if ents_h is not None:
            es[t] = ents_h[t, b]
        b = parents_h[t, b]
    return ids, lps, es if ents_h is not None else None


def _beam_sample(stream: TextStream, ids: np.ndarray, lps: np.ndarray, es: np.ndarray | None) -> Sample:
    """One finished hypothesis as a Sample, its text streamed and cut at the first stop string."""
    probs = np.exp(lps).tolist()
    stats = es is not None
    for j, i in enumerate(ids.tolist()):
        stream.push(i, probs[j] if stats else None)
        if stream.stopped_at is not None:
            break
    stream.flush()
    return _make_sample(ids.tolist(), stream.final_text, stream.stopped_at is not None, stream.kept_tokens,
                        probs if stats else None, es.tolist() if stats else None, float(lps.sum()))


def sequence_logprob(model, tok: Tokenizer, prompt_ids: Sequence[int], continuation: Sequence[int]) -> float:
    """log p(continuation | line start, prompt) under the model (pad excluded, as in generation)."""
    start = tok.line_end_id
    ctx = ([start] if start is not None else []) + list(prompt_ids)
    ids = torch.tensor(ctx + list(continuation), dtype=torch.long, device=next(model.parameters()).device)
    with torch.inference_mode():
        model.eval()
        logits, _ = model(ids[:-1].view(-1, 1))
        logits = _mask_pad(logits[:, 0].float())
        logp = torch.log_softmax(logits, -1)[len(ctx) - 1 :]  # rows predicting the continuation
        return float(logp.gather(1, ids[len(ctx) :, None]).sum())
