"""Sequence -> one label and sequence -> a label per token, on the recurrent body of any cell.

The RNN lecture's Design 3 reads a whole sequence and emits one symbol ("the summary is lossy since
it maps a sequence of arbitrary length to a fixed length vector"); its NER example emits a tag per
token. Both share ``RecurrentBody`` with the language model and add:

- ``bidirectional``: a second stack reads each sequence backwards (Schuster & Paliwal 1997), so a
  token's features see its right context too; features are [forward; backward].
- classify: a readout ``pool`` over the valid positions, then a linear layer to class logits.
  ``last`` is Design 3 (the forward state after the last token, with the backward state after the
  first); ``mean`` and ``max`` pool every position; ``attention`` learns the weights,
  a_t = softmax_t(w . tanh(W h_t)) (Yang et al. 2016).
- tag: per-token tag scores, trained with cross-entropy or, with ``crf``, a linear-chain CRF
  (Lample et al. 2016) decoded with Viterbi.
- ``chars``: a CharEncoder (seqtool/models/charfeat.py) whose per-token character features are
  concatenated to the word embedding; forward then takes the batch's CharBatch as ``chars``.

Batches are padded at the end: ids (L, B), ``lengths`` (B,). A recurrence reads left to right, so
outputs at valid positions never see the padding after them, and the backward stack reads each
sequence reversed within its own length: a padded batch gives exactly the results of running each
sequence alone, for every cell, without packing. On CUDA, lstm/gru/rnn stacks run instead as one
fused bidirectional kernel over packed sequences (seqtool/models/bidir.py): the same model and
weights, faster there; the features at padded positions are then zeros, which no readout or loss reads.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqtool.models.bidir import FUSED_CELLS, fused_pays, run_bidirectional
from seqtool.models.charfeat import CharEncoder
from seqtool.models.config import ModelConfig
from seqtool.models.crf import LinearChainCRF
from seqtool.models.lm import RecurrentBody
from seqtool.models.registry import build_cell

POOLS = ("last", "mean", "max", "attention")


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first ``lengths[b]`` steps of each column of x (L, B, ...), padding left in place."""
    L = x.shape[0]
    t = torch.arange(L, device=x.device).unsqueeze(1)  # (L, 1)
    n = lengths.to(x.device).unsqueeze(0)  # (1, B)
    idx = torch.where(t < n, n - 1 - t, t)  # (L, B); applying it twice is the identity
    return x.gather(0, idx.view(L, -1, *([1] * (x.dim() - 2))).expand_as(x))


def valid_mask(lengths: torch.Tensor, L: int) -> torch.Tensor:
    """(L, B) True on each column's real tokens."""
    return torch.arange(L, device=lengths.device).unsqueeze(1) < lengths.unsqueeze(0)


class SequenceEncoder(RecurrentBody):
    """ids (L, B) and lengths (B,) -> per-token features (L, B, H or 2H)."""

    #: Bidirectional lstm/gru/rnn bodies run both stacks as one fused kernel over packed sequences
    #: (seqtool/models/bidir.py): None where it pays (CUDA), True always, False never. bf16 matmuls
    #: and the other cells always take the reversed-pass path.
    fuse_directions: bool | None = None

    def __init__(self, cfg: ModelConfig, bidirectional: bool = False, chars: CharEncoder | None = None):
        extra = chars.out_features if chars is not None else 0
        super().__init__(cfg, extra)
        self.chars = chars
        self.bidirectional = bidirectional
        self.rnn_bwd = build_cell(cfg, extra) if bidirectional else None
        self._init_body()
        if bidirectional and cfg.forget_bias is not None:
            self._open_forget_gates(self.rnn_bwd)

    @property
    def features(self) -> int:
        return self.cfg.hidden * (2 if self.bidirectional else 1)

    def _fused(self, device: torch.device) -> bool:
        """Whether both directions run as one fused kernel over packed sequences (seqtool/models/bidir.py)."""
        if not self.bidirectional or self.cfg.cell not in FUSED_CELLS or self.matmul_dtype is not None:
            return False
        return fused_pays(device) if self.fuse_directions is None else self.fuse_directions

    def _inputs(self, ids: torch.Tensor, c: torch.Tensor | None, x: torch.Tensor | None, e: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:  # (L, B, D); each call draws its own dropout mask
            x = self.inputs(ids) if e is None else self._dropout(e)  # e: ids' embedding, looked up already
        return x if c is None else torch.cat([x, c.to(x.dtype)], dim=-1)  # (L, B, D + F): [word embedding ; char features]

    def _shared_lookup(self, ids: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor | None:
        """ids' word embedding (L, B, E), looked up once for both directions of a bidirectional body, or None where
        ``inputs`` does more than a lookup and dropout (one-hot, --embed-dropout) or ``x`` is given. Each lookup
        costs a dense (V, E) gradient, zeroed, scattered into and added to the other: a few percent of a step."""
        if not self.bidirectional or x is not None or self.encoder is None or self.cfg.embed_dropout > 0:
            return None
        return self.encoder(ids)

    def _run(self, rnn, ids: torch.Tensor, c: torch.Tensor | None, x: torch.Tensor | None, e: torch.Tensor | None = None) -> torch.Tensor:
        x = self._inputs(ids, c, x, e)
        out, _ = rnn(x, ids, None) if self.spec.feedback else self.recur(rnn, x)
        return out  # (L, B, H)

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor, chars=None, x: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (L, B, D): the word vectors of ``ids`` when given (saliency takes gradients with respect to them)."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be time-major (L, B); got shape {tuple(ids.shape)}")
        if (chars is None) != (self.chars is None):
            raise ValueError("pass chars (a CharBatch) exactly when the model has character features")
        c = None if chars is None else self.drop(self.chars(chars))  # (L, B, F), once for both directions
        if self._fused(ids.device):
            # One input dropout mask for both directions (as a bidirectional nn.LSTM's), where the other path draws two.
            return run_bidirectional(self.rnn, self.rnn_bwd, self._inputs(ids, c, x), lengths)  # (L, B, 2H), zeros on padding
        e = self._shared_lookup(ids, x)
        fwd = self._run(self.rnn, ids, c, x, e)
        if not self.bidirectional:
            return fwd
        rc = None if c is None else reverse_within(c, lengths)
        rx = None if x is None else reverse_within(x, lengths)
        re = None if e is None else reverse_within(e, lengths)  # = the embedding of the reversed ids
        bwd = reverse_within(self._run(self.rnn_bwd, reverse_within(ids, lengths), rc, rx, re), lengths)
        return torch.cat([fwd, bwd], dim=-1)  # (L, B, 2H)


class SequenceClassifier(SequenceEncoder):
    """Sequence -> class logits (B, C)."""

    def __init__(self, cfg: ModelConfig, num_classes: int, pool: str = "last", bidirectional: bool = False, chars: CharEncoder | None = None):
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)} (got {pool!r})")
        super().__init__(cfg, bidirectional, chars)
        self.pool = pool
        f = self.features
        self.attend = nn.Sequential(nn.Linear(f, f), nn.Tanh(), nn.Linear(f, 1, bias=False)) if pool == "attention" else None
        self.head = nn.Linear(f, num_classes)

    def summary(self, ids: torch.Tensor, lengths: torch.Tensor, chars=None, x: torch.Tensor | None = None) -> torch.Tensor:
        """The fixed-length vector the readout makes of each sequence, (B, F)."""
        h = self.encode(ids, lengths, chars, x)  # (L, B, F)
        mask = valid_mask(lengths.to(h.device), h.shape[0]).unsqueeze(-1)  # (L, B, 1)
        if self.pool == "last":
            cols = torch.arange(h.shape[1], device=h.device)
            last = h[lengths.to(h.device) - 1, cols]  # (B, F): forward state after the last token
            if self.bidirectional:  # the backward stack's summary is its state after reading back to the first token
                last = torch.cat([last[:, : self.cfg.hidden], h[0, :, self.cfg.hidden :]], dim=-1)
            return last
        if self.pool == "mean":
            return (h * mask).sum(0) / mask.sum(0).clamp(min=1)
        if self.pool == "max":
            return h.masked_fill(~mask, float("-inf")).amax(0)
        scores = self.attend(h).masked_fill(~mask, float("-inf"))  # (L, B, 1)
        return (torch.softmax(scores, dim=0) * h).sum(0)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, chars=None, x: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.drop(self.summary(ids, lengths, chars, x)))  # (B, C)

    def loss(self, ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None, chars=None) -> torch.Tensor:
        return F.cross_entropy(self(ids, lengths, chars).float(), labels, weight=weight)


class SequenceTagger(SequenceEncoder):
    """Sequence -> a tag per token: scores (L, B, T), decoded by argmax or, with ``crf``, Viterbi."""

    def __init__(self, cfg: ModelConfig, num_tags: int, bidirectional: bool = True, crf: bool = False, chars: CharEncoder | None = None):
        super().__init__(cfg, bidirectional, chars)
        self.head = nn.Linear(self.features, num_tags)
        self.crf = LinearChainCRF(num_tags) if crf else None

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, chars=None, x: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.drop(self.encode(ids, lengths, chars, x)))  # (L, B, T)

    def loss(self, ids: torch.Tensor, lengths: torch.Tensor, tags: torch.Tensor, weight: torch.Tensor | None = None, chars=None) -> torch.Tensor:
        """Mean over tokens of -log p(tag) (softmax), or mean over sentences of -log p(tags) (CRF)."""
        scores = self(ids, lengths, chars).float()
        mask = valid_mask(lengths.to(scores.device), scores.shape[0])
        if self.crf is not None:
            return self.crf.nll(scores, tags, mask).mean()
        return F.cross_entropy(scores[mask], tags[mask], weight=weight)

    @torch.no_grad()
    def decode(self, ids: torch.Tensor, lengths: torch.Tensor, chars=None) -> list[list[int]]:
        return self.best_paths(self(ids, lengths, chars).float(), lengths)

    def best_paths(self, scores: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Each sentence's tag ids from its scores (L, B, T): Viterbi with a CRF, else the argmax per token.
        The one decoding of tags: ``decode``, scoring (``eval``, validation) and ``predict`` all come here."""
        if self.crf is not None:
            return self.crf.viterbi(scores, valid_mask(lengths.to(scores.device), scores.shape[0]))
        best = scores.argmax(-1).T.tolist()  # (B, L)
        return [row[:n] for row, n in zip(best, lengths.tolist())]


def summary_rows(model: SequenceEncoder) -> list[tuple[str, str, int]]:
    """Keras-style rows (layer, output shape, parameters) of a classifier or tagger, every parameter
    counted once: embedding, character features, each recurrent layer (and its backward twin), readout, head, CRF."""
    cfg, counts = model.cfg, {}
    for name, p in model.named_parameters():
        top, _, rest = name.partition(".")
        key = (top, int(rest.rsplit("_l", 1)[1].split("_")[0])) if top in ("rnn", "rnn_bwd") else (top, None)
        counts[key] = counts.get(key, 0) + p.numel()
    tagger = isinstance(model, SequenceTagger)
    rows = [("embedding", f"(L, B, {cfg.embed_dim})", counts.get(("encoder", None), 0)) if model.encoder is not None
            else ("one-hot", f"(L, B, {cfg.vocab_size})", 0)]
    if model.chars is not None:
        rows.append((f"char {model.chars.kind}", f"(L, B, {model.chars.out_features})", counts.get(("chars", None), 0)))
    for k in range(cfg.layers):
        rows.append((f"{cfg.cell}[{k}]", f"(L, B, {cfg.hidden})", counts.get(("rnn", k), 0)))
        if model.bidirectional:
            rows.append((f"{cfg.cell}[{k}] backward", f"(L, B, {cfg.hidden})", counts.get(("rnn_bwd", k), 0)))
    outputs = model.head.out_features
    if not tagger:
        rows.append((f"{model.pool} pool", f"(B, {model.features})", counts.get(("attend", None), 0)))
    rows.append(("tag scores" if tagger else "classifier", f"(L, B, {outputs})" if tagger else f"(B, {outputs})", counts.get(("head", None), 0)))
    if tagger and model.crf is not None:
        rows.append(("crf", "(B, L) best path", counts.get(("crf", None), 0)))
    if sum(n for *_, n in rows) != sum(p.numel() for p in model.parameters()):
        raise RuntimeError("summary_rows: a parameter this summary does not know about")  # never silently drop one
    return rows
