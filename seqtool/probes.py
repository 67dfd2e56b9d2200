"""Probe accuracy: does a language model predict the token that only a distant cue gives away?

This module's job is to score a trained word-level model on long-range dependency lines (see
``seqtool.text.longrange``): the lines are read as one stream with the state carried, as in
training, and at the position just before each dependent token the model's prediction is compared
with the expected word. Chance is 1 / number of answers, since
the answers are drawn uniformly and nothing but the cue tells them apart; a model far above chance
at a gap of 50 has carried the cue across 50+ steps (lecture: "I grew up in France ... I speak
fluent French", the long-term dependency problem).
"""
from __future__ import annotations

from typing import Iterable, Union

import torch

from seqtool.errors import ConfigError, CorpusError, UsageError
from seqtool.text.longrange import Example, choices, find_probes
from seqtool.text.tokenizers import Tokenizer

NEEDS = "--long-range needs a word-level model trained on this kind of corpus (seqtool make-corpus)"


def collect_examples(task: str, lines_or_examples: Iterable[Union[str, Example]]) -> tuple[list[Example], int]:
    """Examples from lines (those that match ``task``) or as given, and how many non-blank lines did not match."""
    answers = choices(task)
    examples, skipped = [], 0
    for item in lines_or_examples:
        if isinstance(item, Example):
            if item.choices != answers:
                raise ConfigError(f"an example's answers ({', '.join(item.choices[:4])}, ...) are not the {task} task's")
            examples.append(item)
            continue
        ex = find_probes(task, item)
        if ex is not None:
            examples.append(ex)
        elif item.strip():
            skipped += 1
    return examples, skipped


def encode_examples(tok: Tokenizer, examples: list[Example]) -> tuple[list[list[int]], dict[str, int]]:
    """Each line's ids (one per word, checked) and the id of every candidate answer.

    Raises ConfigError when the tokenizer is not word level, an answer has no id of its own, or a
    line's words do not map one to one onto tokens (words it drops as unknown).
    """
    if tok.level != "word":
        raise ConfigError(f"{NEEDS}; this model's tokenizer is {tok.level} level")
    index, oov = tok.vocab.index, tok.vocab.oov_id
    wanted = sorted({c for ex in examples for c in ex.choices})
    missing = [c for c in wanted if c not in index or index[c] == oov]
    if missing:
        raise ConfigError(f"{NEEDS}; these answers are out of its vocabulary: {', '.join(missing)}")
    eos = tok.line_end_id
    out = []
    for ex in examples:
        ids = tok.encode(ex.text).tolist()
        if ids and eos is not None and ids[-1] == eos:
            ids.pop()
        words = ex.text.split()
        if len(ids) != len(words):
            raise ConfigError(f"{NEEDS}; its tokenizer turns the {len(words)} words of a line into {len(ids)} tokens "
                              f"(line starting {' '.join(words[:6])!r})")
        out.append(ids)
    return out, {c: index[c] for c in wanted}


def probe_accuracy(model, tokenizer: Tokenizer, lines_or_examples: Iterable[Union[str, Example]], task: str,
                   device: torch.device | str = "cpu", window: int = 1024) -> dict:
    """Score ``model`` on the dependent tokens of ``task`` lines (str, matched with find_probes) or Examples.

    The lines are read as one stream with the state carried from line to line, as the model was
    trained and as ``seqtool eval`` reads a file (in ``window`` tokens per call; the result does not
    depend on it). Each line's cue is inside the line, so nothing but memory across the gap helps.
    Starting every line from a zero state instead would test something else: a model trained with
    carried state (and an open forget gate) can be far from its usual state there, and fail.

    Returns a dict: ``accuracy`` (argmax over the whole vocabulary is the expected word),
    ``accuracy_among_choices`` (argmax over the candidate answers only), ``mean_prob`` (mean
    probability of the expected word), ``chance`` (1 / number of candidates), ``probes``,
    ``examples``, ``mean_distance`` (tokens from cue to dependent token) and ``skipped_lines``
    (non-blank lines that are not ``task`` lines).
    """
    if window < 1:
        raise UsageError(f"window {window}: must be at least 1")
    examples, skipped = collect_examples(task, lines_or_examples)
    if not examples:
        raise CorpusError(f"no line matches the {task} task (seqtool make-corpus {task} writes such lines)")
    seqs, answer_ids = encode_examples(tokenizer, examples)
    device = torch.device(device)
    stream, at, target, cand, dist_sum = _probe_stream(examples, seqs, answer_ids, tokenizer.line_end_id)
    at_t, target_t, cand_t = torch.tensor(at), torch.tensor(target, device=device), torch.tensor(cand, device=device)  # (P,), (P,), (P, K)
    rows = _logits_at(model, stream, at_t, device, window)  # (P, V)
    correct = int((rows.argmax(-1) == target_t).sum())
    best = cand_t.gather(1, rows.gather(1, cand_t).argmax(-1, keepdim=True)).squeeze(1)  # (P,)
    among = int((best == target_t).sum())
    prob = rows.softmax(-1).gather(1, target_t[:, None]).double()
    n = len(target)
    return {
        "task": task,
        "examples": len(examples),
        "probes": n,
        "accuracy": correct / n,
        "accuracy_among_choices": among / n,
        "mean_prob": float(prob.sum()) / n,
        "chance": 1.0 / len(examples[0].choices),
        "mean_distance": dist_sum / n,
        "skipped_lines": skipped,
    }


def _probe_stream(examples: list[Example], seqs: list[list[int]], answer_ids: dict[str, int], start: int | None):
    """One stream, [line end] line 1 [line end] line 2 ..., and per probe the stream position whose
    logits predict it (logits at p predict token p + 1), its expected id and the answers' ids; and the
    summed cue-to-probe distance."""
    stream: list[int] = [start] if start is not None else []
    at, target, cand = [], [], []
    dist_sum = 0.0
    for ex, ids in zip(examples, seqs):
        base = len(stream)
        stream.extend(ids)
        for i, word in ex.probes:
            at.append(base + i - 1)
            target.append(answer_ids[word])
            cand.append([answer_ids[c] for c in ex.choices])
        dist_sum += ex.distance * len(ex.probes)
        if start is not None:
            stream.append(start)
    return stream, at, target, cand, dist_sum


def _logits_at(model, stream: list[int], at_t: torch.Tensor, device: torch.device, window: int) -> torch.Tensor:
    """The model's logits (P, V) at positions ``at_t`` of ``stream``, read in ``window``-token calls
    with the state carried; the model's train/eval mode is restored after."""
    rows = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            x = torch.tensor(stream, dtype=torch.long, device=device).view(-1, 1)  # (N, 1)
            state = None
            for lo in range(0, len(stream), window):
                logits, state = model(x[lo:lo + window], state)  # (W, 1, V)
                inside = (at_t >= lo) & (at_t < lo + window)
                rows.append(logits[at_t[inside] - lo, 0].float())  # (P_w, V)
    finally:
        model.train(was_training)
    return torch.cat(rows)  # (P, V), in probe order (positions increase)
