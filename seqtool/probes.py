"""Probe accuracy: does a language model predict the token that only a distant cue gives away?

This module's job is to score a trained word-level model on long-range dependency lines (see
``seqtool.text.longrange``): each line is read on its own from a zero state (after the
start-of-line token, as generation starts), and at the position just before each dependent token
the model's prediction is compared with the expected word. Chance is 1 / number of answers, since
the answers are drawn uniformly and nothing but the cue tells them apart; a model far above chance
at a gap of 50 has carried the cue across 50+ steps (lecture: "I grew up in France ... I speak
fluent French", the long-term dependency problem).
"""
from __future__ import annotations

from typing import Iterable, Union

import torch

from seqtool.errors import ConfigError, CorpusError
from seqtool.sampling import line_start_id
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
                   device: torch.device | str = "cpu", batch_size: int = 64) -> dict:
    """Score ``model`` on the dependent tokens of ``task`` lines (str, matched with find_probes) or Examples.

    Returns a dict: ``accuracy`` (argmax over the whole vocabulary is the expected word),
    ``accuracy_among_choices`` (argmax over the candidate answers only), ``mean_prob`` (mean
    probability of the expected word), ``chance`` (1 / number of candidates), ``probes``,
    ``examples``, ``mean_distance`` (tokens from cue to dependent token) and ``skipped_lines``
    (non-blank lines that are not ``task`` lines).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size {batch_size}: must be at least 1")
    examples, skipped = collect_examples(task, lines_or_examples)
    if not examples:
        raise CorpusError(f"no line matches the {task} task (seqtool make-corpus {task} writes such lines)")
    seqs, answer_ids = encode_examples(tokenizer, examples)
    device = torch.device(device)
    start = line_start_id(tokenizer)
    shift = 0 if start is not None else -1  # logits[t] predict input t + 1; with a start token, word i is input i + 1

    correct = among = 0
    prob_sum = dist_sum = 0.0
    n_probes = 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for lo in range(0, len(examples), batch_size):
                batch, ids = examples[lo:lo + batch_size], seqs[lo:lo + batch_size]
                lead = [start] if start is not None else []
                t_max = max(len(s) for s in ids) + len(lead)
                x = torch.zeros(t_max, len(batch), dtype=torch.long)  # (T, B), padded at the end: causal, so harmless
                for b, s in enumerate(ids):
                    x[: len(lead) + len(s), b] = torch.tensor(lead + s)
                logits, _ = model(x.to(device), None)  # (T, B, V), every line from a zero state
                pos_t, pos_b, target, cand = [], [], [], []
                for b, ex in enumerate(batch):
                    for i, word in ex.probes:
                        pos_t.append(i + shift)
                        pos_b.append(b)
                        target.append(answer_ids[word])
                        cand.append([answer_ids[c] for c in ex.choices])
                    dist_sum += ex.distance * len(ex.probes)
                rows = logits[torch.tensor(pos_t, device=device), torch.tensor(pos_b, device=device)].float()  # (P, V)
                target_t = torch.tensor(target, device=device)  # (P,)
                cand_t = torch.tensor(cand, device=device)  # (P, K): the same K for one task
                correct += int((rows.argmax(-1) == target_t).sum())
                best = cand_t.gather(1, rows.gather(1, cand_t).argmax(-1, keepdim=True)).squeeze(1)  # (P,)
                among += int((best == target_t).sum())
                prob_sum += float(rows.softmax(-1).gather(1, target_t[:, None]).double().sum())
                n_probes += len(target)
    finally:
        model.train(was_training)
    k = len(examples[0].choices)
    return {
        "task": task,
        "examples": len(examples),
        "probes": n_probes,
        "accuracy": correct / n_probes,
        "accuracy_among_choices": among / n_probes,
        "mean_prob": prob_sum / n_probes,
        "chance": 1.0 / k,
        "mean_distance": dist_sum / n_probes,
        "skipped_lines": skipped,
    }
