"""A linear-chain conditional random field over per-token tag scores (Lafferty et al. 2001; as the
output layer of a recurrent tagger: Lample et al. 2016, "Neural Architectures for Named Entity
Recognition").

A softmax tagger picks each tag on its own; the CRF scores whole tag sequences,

    score(x, y) = start[y_1] + sum_t emit[t, y_t] + sum_{t>1} trans[y_{t-1}, y_t] + end[y_L],

so it can learn that I-PER never follows B-LOC. Training minimises -log p(y | x) =
log Z(x) - score(x, y), where log Z sums over all T^L sequences in O(L T^2) with the forward
algorithm; decoding takes the best sequence with Viterbi. Shapes: emissions (L, B, T), time first
like the rest of seqtool; ``mask`` (L, B) is True on real tokens, each column a prefix.
"""
from __future__ import annotations

import torch
from torch import nn


class LinearChainCRF(nn.Module):
    def __init__(self, num_tags: int):
        super().__init__()
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # [from, to]
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))

    def _check(self, emissions: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if emissions.dim() != 3 or emissions.shape[-1] != self.num_tags:
            raise ValueError(f"emissions must be (L, B, {self.num_tags}), got {tuple(emissions.shape)}")
        if mask is None:
            mask = torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
        if not bool(mask[0].all()):
            raise ValueError("every sequence needs at least one token (mask[0] must be all True)")
        return mask.bool()

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """score(x, y) of each column's tag sequence: (B,)."""
        mask = self._check(emissions, mask)
        L, B, _ = emissions.shape
        cols = torch.arange(B, device=emissions.device)
        s = self.start[tags[0]] + emissions[0, cols, tags[0]]  # (B,)
        for t in range(1, L):
            step = self.transitions[tags[t - 1], tags[t]] + emissions[t, cols, tags[t]]
            s = s + step * mask[t]
        last = tags.gather(0, (mask.sum(0) - 1).unsqueeze(0)).squeeze(0)  # (B,) each column's last real tag
        return s + self.end[last]

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log Z(x): the forward algorithm, (B,)."""
        mask = self._check(emissions, mask)
        alpha = self.start + emissions[0]  # (B, T): log-sum of scores of all prefixes ending in each tag
        for t in range(1, emissions.shape[0]):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.transitions + emissions[t].unsqueeze(1), dim=1)  # (B, T)
            alpha = torch.where(mask[t].unsqueeze(1), nxt, alpha)  # finished columns keep their value
        return torch.logsumexp(alpha + self.end, dim=1)

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """-log p(tags | x) of each column, (B,)."""
        return self.log_partition(emissions, mask) - self.score(emissions, tags, mask)

    @torch.no_grad()
    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> list[list[int]]:
        """The highest-scoring tag sequence of each column (its real length only)."""
        mask = self._check(emissions, mask)
        L, B, _ = emissions.shape
        best = self.start + emissions[0]  # (B, T)
        back = []
        for t in range(1, L):
            cand = best.unsqueeze(2) + self.transitions  # (B, from, to)
            top, arg = cand.max(dim=1)  # (B, T)
            nxt = top + emissions[t]
            keep = mask[t].unsqueeze(1)
            best = torch.where(keep, nxt, best)
            back.append(torch.where(keep, arg, torch.arange(self.num_tags, device=arg.device).expand_as(arg)))  # identity when done
        last = (best + self.end).argmax(dim=1)  # (B,)
        lengths = mask.sum(0).tolist()
        paths = [[int(last[b])] for b in range(B)]
        for t in range(L - 2, -1, -1):
            prev = back[t].gather(1, last.unsqueeze(1)).squeeze(1)
            for b in range(B):
                if t + 1 < lengths[b]:
                    paths[b].append(int(prev[b]))
            last = prev
        return [p[::-1] for p in paths]
