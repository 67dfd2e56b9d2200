"""AWD-LSTM's regularisers (Merity et al. 2017) as functions of tensors: locked dropout, embedding
dropout and DropConnect on a recurrent matrix. Each is the identity outside training; the model
(seqtool/models/lm.py) decides where they apply."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """x (T, B, D) with one dropout mask per column (B, D), the same at every step, kept units scaled
    by 1/(1-p): variational dropout (Gal & Ghahramani 2016), AWD-LSTM's LockedDropout."""
    if not training or p == 0.0:
        return x
    mask = x.new_empty(1, x.shape[1], x.shape[2]).bernoulli_(1.0 - p).div_(1.0 - p)  # (1, B, D)
    return x * mask


def embedding_dropout(x: torch.Tensor, ids: torch.Tensor, vocab_size: int, p: float, training: bool) -> torch.Tensor:
    """x (T, B, D), the input vectors of ids (T, B), with whole token types dropped: one keep/drop draw per
    vocabulary entry for the batch, every occurrence of a dropped type zeroed, the rest scaled by 1/(1-p).
    The same as dropping rows of the embedding matrix (Gal & Ghahramani 2016, sec. 4; AWD-LSTM's embedded_dropout)."""
    if not training or p == 0.0:
        return x
    keep = x.new_empty(vocab_size).bernoulli_(1.0 - p).div_(1.0 - p)  # (V,)
    return x * keep[ids].unsqueeze(-1)  # (T, B, D)


def drop_weight(w: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """DropConnect (Wan et al. 2013) on a recurrent matrix W_hh: entries zeroed with probability p, the rest
    scaled by 1/(1-p), a new mask per forward; the parameter itself is left as is (AWD-LSTM's WeightDrop)."""
    if not training or p == 0.0:
        return w
    return F.dropout(w, p, True)
