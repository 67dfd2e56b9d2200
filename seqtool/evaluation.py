"""Scoring new text with a trained model, teacher-forced and free-running.

Teacher-forced scoring is what validation during training does: the model reads the true text
and is charged -log p(true next token) for each token. This module's job is to do that for any
text, tokenized with the checkpoint's own tokenizer (never by re-reading the training corpus), in
long windows with the state carried from one to the next, and to report loss (nats/token),
perplexity exp(loss), bits per token (per character at char level) and the OOV rate.

Free running measures what happens once the teacher is gone (lecture, "Teacher Forcing ...
Test time"): from many positions in the text the model continues K tokens on its own (greedy,
its output fed back) and each step is compared with the real text. Step 1 is the teacher-forced
next-token accuracy at those positions; the decay after it is errors compounding along the
model's own trajectory. Every position is reached in the same single pass as the loss, by
cutting the pass there and keeping the state, and then all positions continue as one batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from seqtool.devices import step_kernels
from seqtool.errors import CorpusError, UsageError
from seqtool.models.state import cat_states, clone_state, state_batch_dims
from seqtool.text.tokenizers import DROPPED, LINE_END, Tokenizer

ProgressFn = Callable[[int, int], None]
"""Called with (tokens scored so far, tokens in this text)."""


@dataclass
class TextScore:
    """Teacher-forced figures for one text (or several, summed)."""

    name: str
    tokens: int = 0  # tokens scored (each predicted from the true text before it)
    loss_sum: float = 0.0  # nats, summed over the scored tokens
    correct: int = 0  # argmax prediction == true next token
    units: int = 0  # tokens in the text before OOV handling
    oov: int = 0  # of those, unknown to the vocabulary (mapped to OOV or dropped)

    @property
    def loss(self) -> float:
        return self.loss_sum / self.tokens

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss) if self.loss < 700 else math.inf

    @property
    def bits_per_token(self) -> float:
        return self.loss / math.log(2)

    @property
    def accuracy(self) -> float:
        return self.correct / self.tokens

    @property
    def oov_rate(self) -> float:
        return self.oov / self.units if self.units else 0.0

    def add(self, other: "TextScore") -> None:
        self.tokens += other.tokens
        self.loss_sum += other.loss_sum
        self.correct += other.correct
        self.units += other.units
        self.oov += other.oov

    def to_dict(self, level: str) -> dict:
        d = {"file": self.name, "tokens": self.tokens, "loss": self.loss, "perplexity": self.perplexity,
             "bits_per_token": self.bits_per_token, "accuracy": self.accuracy, "oov_tokens": self.oov, "oov_rate": self.oov_rate}
        if level == "char":
            d["bits_per_char"] = self.bits_per_token
        return d


@dataclass
class FreeRunningScore:
    """How often the model's own K-token continuations match the text, step by step."""

    k: int
    positions: int = 0
    matches: list[int] = field(default_factory=list)  # [j]: positions whose step j+1 matched
    all_matched: list[int] = field(default_factory=list)  # [j]: positions whose steps 1..j+1 all matched
    tf_correct: int = 0  # teacher-forced next-token hits over the whole text
    tf_total: int = 0

    def __post_init__(self) -> None:
        self.matches = self.matches or [0] * self.k
        self.all_matched = self.all_matched or [0] * self.k

    def add(self, other: "FreeRunningScore") -> None:
        self.positions += other.positions
        self.matches = [a + b for a, b in zip(self.matches, other.matches)]
        self.all_matched = [a + b for a, b in zip(self.all_matched, other.all_matched)]
        self.tf_correct += other.tf_correct
        self.tf_total += other.tf_total

    @property
    def accuracy(self) -> list[float]:
        """Fraction of positions whose j-th own token equals the text's, j = 1..K."""
        return [m / self.positions if self.positions else 0.0 for m in self.matches]

    @property
    def all_correct(self) -> list[float]:
        """Fraction of positions whose first j own tokens all equal the text's."""
        return [m / self.positions if self.positions else 0.0 for m in self.all_matched]

    @property
    def teacher_forced_accuracy(self) -> float:
        return self.tf_correct / self.tf_total if self.tf_total else 0.0

    def to_dict(self) -> dict:
        return {"k": self.k, "positions": self.positions, "teacher_forced_accuracy": self.teacher_forced_accuracy,
                "steps": [{"step": j + 1, "accuracy": a, "all_correct": c} for j, (a, c) in enumerate(zip(self.accuracy, self.all_correct))]}


@dataclass
class EvalReport:
    files: list[TextScore]
    total: TextScore
    free_running: FreeRunningScore | None
    level: str

    def to_dict(self) -> dict:
        d = {"level": self.level, "files": [f.to_dict(self.level) for f in self.files], "total": self.total.to_dict(self.level)}
        if self.free_running is not None:
            d["free_running"] = self.free_running.to_dict()
        return d


def check_options(window: int, free_running: int | None, positions: int) -> None:
    if window < 1:
        raise UsageError(f"--bptt {window}: must be at least 1 token")
    if free_running is not None and free_running < 1:
        raise UsageError(f"--free-running {free_running}: must be at least 1 token")
    if positions < 1:
        raise UsageError(f"--positions {positions}: must be at least 1")


def encode_for_eval(tok: Tokenizer, text: str) -> tuple[np.ndarray, int, int]:
    """ids the model sees, tokens in the text, and how many of those it does not know.

    A token is out of vocabulary when it maps to the OOV token or is dropped; at char level a line
    end with no id ('\\n' never seen) counts too, while at word level a line end is only a token
    when the tokenizer has an end-of-line token.
    """
    raw = tok.encode_raw(text).astype(np.int64)
    counted = raw if tok.level == "char" else raw[raw != LINE_END]
    oov = int((counted == DROPPED).sum() + (counted == LINE_END).sum())
    if tok.vocab.oov_id is not None:
        oov += int((counted == tok.vocab.oov_id).sum())
    return tok.finish(raw), len(counted), oov


@torch.inference_mode()
def score_ids(
    model,
    tok: Tokenizer,
    ids: np.ndarray,
    name: str = "text",
    window: int = 1024,
    free_running: int | None = None,
    positions: int = 200,
    progress: ProgressFn | None = None,
) -> tuple[TextScore, FreeRunningScore | None]:
    """Teacher-forced loss and accuracy of ``ids`` and, with ``free_running`` K, K-step continuations.

    The stream starts after a line end (as generation does), so every token is scored from the
    start-of-line state; without a line-end token the first token only serves as context. The
    pass runs in windows of ``window`` tokens with the state carried across (exactly the same
    loss as one call), and is cut at each free-running start so its state and logits are kept.
    """
    model.eval()
    device = next(model.parameters()).device
    inputs, targets = _teacher_forcing_pairs(tok, ids, name, device)
    n = len(targets)
    k = free_running
    starts = _free_running_starts(n, k, positions, name) if k else np.zeros(0, dtype=np.int64)
    capture = {int(p) + 1 for p in starts}
    cuts = sorted(set(range(window, n, window)) | capture | {n})
    score, states, last_logits = _score_pass(model, inputs, targets, cuts, capture, name, progress)
    if not k:
        return score, None
    fr = FreeRunningScore(k, positions=len(starts), tf_correct=score.correct, tf_total=n)
    fr.matches, fr.all_matched = _free_run(model, states, last_logits, targets, starts, k)
    return score, fr


def _teacher_forcing_pairs(tok: Tokenizer, ids: np.ndarray, name: str, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The stream after a line end as (inputs, targets) (N,) each: input t predicts target t."""
    start = tok.line_end_id
    stream = np.concatenate(([start], ids)) if start is not None else np.asarray(ids)
    if len(stream) < 2:
        raise CorpusError(f"{name}: has no tokens this model can score (too short, or all out of vocabulary and dropped)")
    data = torch.as_tensor(stream, dtype=torch.long, device=device)
    return data[:-1], data[1:]


def _free_running_starts(n: int, k: int, positions: int, name: str) -> np.ndarray:
    """Up to ``positions`` starts spread evenly over n targets, each with K targets after it."""
    if n < k:
        raise CorpusError(f"{name}: has {n:,} tokens, fewer than --free-running {k}; give a longer text or a smaller K")
    return np.unique(np.linspace(0, n - k, min(positions, n - k + 1)).round().astype(np.int64))


def _score_pass(model, inputs, targets, cuts: list[int], capture: set[int], name: str, progress: ProgressFn | None):
    """One teacher-forced pass cut at ``cuts``, the state carried across: the score, and the state
    and last logits at each cut in ``capture`` (where a free run starts)."""
    n = len(targets)
    score = TextScore(name)
    states, last_logits = [], []
    state, prev = None, 0
    for end in cuts:
        x, y = inputs[prev:end], targets[prev:end]  # (T,)
        logits, state = model(x.view(-1, 1), state)  # (T, 1, V), state carried from the previous piece
        logits = logits[:, 0].float()  # (T, V)
        score.loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        score.correct += int((logits.argmax(-1) == y).sum())
        if end in capture:
            states.append(clone_state(state))
            last_logits.append(logits[-1])
        prev = end
        if progress is not None:
            progress(end, n)
    score.tokens = n
    return score, states, last_logits


def _free_run(model, states: list, last_logits: list, targets: torch.Tensor, starts: np.ndarray, k: int):
    """All starts continued K greedy steps as one batch, the model's own output fed back: per step,
    how many matched the text and how many matched at every step so far."""
    device = targets.device
    m = len(starts)
    state = cat_states(states, state_batch_dims(model))  # (.., M, ..): all positions as one batch
    logits = torch.stack(last_logits)  # (M, V): each position's prediction of its first true token
    truth = targets[torch.as_tensor(starts, device=device)[None, :] + torch.arange(k, device=device)[:, None]]  # (K, M)
    hit = torch.empty(k, m, dtype=torch.bool, device=device)
    with step_kernels(model):
        for j in range(k):
            own = logits.argmax(-1)  # (M,): greedy, the model's own choice
            hit[j] = own == truth[j]
            if j + 1 < k:
                logits, state = model(own.view(1, m), state)  # its own output fed back, not the truth
                logits = logits[0].float()
    return hit.sum(1).tolist(), hit.to(torch.int32).cumprod(0).sum(1).tolist()


def evaluate(
    model,
    tok: Tokenizer,
    texts: Iterable[tuple[str, str]],
    window: int = 1024,
    free_running: int | None = None,
    positions: int = 200,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvalReport:
    """Score each (name, text) on its own stream (state starts at zero per text) and in total.

    ``positions`` free-running starts are spread evenly over each text.
    """
    check_options(window, free_running, positions)
    files: list[TextScore] = []
    total = TextScore("total")
    fr_total = FreeRunningScore(free_running) if free_running else None
    for name, text in texts:
        ids, units, oov = encode_for_eval(tok, text)
        cb = (lambda done, n, _name=name: progress(_name, done, n)) if progress else None
        score, fr = score_ids(model, tok, ids, name, window, free_running, positions, cb)
        score.units, score.oov = units, oov
        files.append(score)
        total.add(score)
        if fr is not None:
            fr_total.add(fr)
    if not files:
        raise UsageError("give at least one text file to evaluate")
    return EvalReport(files, total, fr_total, tok.level)
