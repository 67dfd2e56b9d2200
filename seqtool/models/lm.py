"""LanguageModel: tokens in, next-token logits out, with a recurrent cell in the middle.

    ids (T, B) -> embedding or one-hot (T, B, D) -> cell x layers (T, B, H) -> decoder (T, B, V)

The decoder is o(t) = c + V h(t) of the RNN lecture (see README); softmax/cross-entropy is left to the trainer.
Everything is time-major. The carried state is whatever the cell needs (a tensor or a tuple of
tensors); ``None`` means zeros, so a new sequence needs no reset call.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqtool.errors import ConfigError
from seqtool.models.awd import drop_weight, embedding_dropout, locked_dropout
from seqtool.models.bf16_rnn import TRAIN_KERNEL_CELLS, run_stack
from seqtool.models.cells import LayerNormLSTM
from seqtool.models.config import ModelConfig
from seqtool.models.fused import run_by_layer, torch_layer
from seqtool.models.registry import WEIGHT_DROP_CELLS, CellSpec, build_cell, cell_spec
from seqtool.models.state import detach_state


class RecurrentBody(nn.Module):
    """Token ids in, top-layer hidden states out: the embedding (or one-hot input) and the recurrent
    stack of any registry cell, shared by the language model and the sequence classifier/tagger
    (seqtool/models/heads.py). Parameter names (``encoder``, ``rnn``) are the checkpoints' own.
    """

    #: None: torch's own kernels; torch.bfloat16: matmuls in bf16, the rest in fp32 (``use_bf16_matmuls``).
    matmul_dtype: torch.dtype | None = None

    def __init__(self, cfg: ModelConfig, extra_inputs: int = 0):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        # embed_dim == 0: one-hot inputs (char-rnn style), so the first layer's U sees token identity directly.
        self.encoder = nn.Embedding(cfg.vocab_size, cfg.embed_dim) if cfg.embed_dim > 0 else None
        self.rnn = build_cell(cfg, extra_inputs)  # extra_inputs: features a subclass concatenates to each token's vector
        self.drop = nn.Dropout(cfg.dropout)

    def _init_body(self) -> None:
        # As pytorch/examples word_language_model: a small uniform embedding (N(0, 1) would give huge
        # logits once tied to a decoder).
        if self.encoder is not None:
            nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        if self.cfg.forget_bias is not None:
            self._open_forget_gates(self.rnn)
        if self.cfg.freeze_embeddings:
            self.encoder.weight.requires_grad_(False)

    def _open_forget_gates(self, rnn: nn.Module) -> None:
        # Start with the forget gate open, sigmoid(b) of the cell kept per step, so gradient can
        # reach far back before training has learned to remember (Gers et al. 2000; Jozefowicz et al. 2015).
        h = self.cfg.hidden
        with torch.no_grad():
            for k in range(self.cfg.layers):  # gate order i, f, g, o; torch's bias is b_ih + b_hh, lnlstm's one b
                if self.cfg.cell == "lnlstm":
                    getattr(rnn, f"bias_l{k}")[h : 2 * h].fill_(self.cfg.forget_bias)
                    continue
                getattr(rnn, f"bias_ih_l{k}")[h : 2 * h].fill_(self.cfg.forget_bias)
                getattr(rnn, f"bias_hh_l{k}")[h : 2 * h].zero_()

    @property
    def spec(self) -> CellSpec:
        """The cell's registry entry (seqtool/models/registry.py): zero state, feedback, input dtype."""
        return cell_spec(self.cfg.cell)

    # ----------------------------------------------------------------- state

    def init_state(self, batch_size: int, device=None):
        """Zero state for ``batch_size`` sequences (what ``state=None`` stands for)."""
        ref = next(self.rnn.parameters())
        dtype = ref.dtype
        device = device if device is not None else ref.device
        if self.spec.init_state is not None:
            return self.spec.init_state(self.rnn, batch_size, device, dtype)
        return self.rnn.init_state(batch_size, device, dtype)

    # Cut the graph behind a state but keep its values, between truncated-BPTT chunks (see models/state.py).
    detach_state = staticmethod(detach_state)

    # ----------------------------------------------------------------- forward

    def use_bf16_matmuls(self, on: bool = True) -> None:
        """Run the recurrent stack's matmuls (and a language model's decoder) in bf16 with the gates, cell
        state and loss in fp32 (seqtool/models/bf16_rnn.py): for CPUs, where torch's fused cells have no
        bf16 kernel. The parameters stay fp32 and keep their names; ``on=False`` returns to torch's kernels."""
        if on and self.cfg.cell not in TRAIN_KERNEL_CELLS:
            raise ValueError(f"bf16 matmuls need one of the cells {', '.join(TRAIN_KERNEL_CELLS)} (got {self.cfg.cell})")
        self.matmul_dtype = torch.bfloat16 if on else None

    def recur(self, rnn: nn.Module, x: torch.Tensor, state=None):
        """One recurrent stack (``self.rnn``, or a head's second one) over x (T, B, D): (T, B, H), state."""
        if isinstance(rnn, LayerNormLSTM):  # its own C steps and bf16 matmuls; no layer hooks
            return rnn(x, state, matmul_dtype=self.matmul_dtype)
        hooks = self._layer_hooks() if self.training else {}
        if self.matmul_dtype is not None:
            return run_stack(rnn, x, state, self.matmul_dtype, **hooks)
        if hooks:  # torch's stack one layer at a time, to put locked masks between layers or drop W_hh
            return run_by_layer(rnn, x, state, torch_layer(self.cfg.cell, True), **hooks)
        return rnn(x, state)

    def _layer_hooks(self) -> dict:
        """What --locked-dropout and --weight-drop change in a torch stack's layer-by-layer run, in training
        (``between`` and ``weight_hh`` of seqtool.models.fused.run_by_layer); {} when neither is set."""
        cfg = self.cfg
        if cfg.cell not in WEIGHT_DROP_CELLS or not (cfg.locked_dropout or cfg.weight_drop > 0):
            return {}
        def between(out):  # dropout between layers, as nn.LSTM(dropout=p) has it, or locked
            return locked_dropout(out, cfg.dropout, True) if cfg.locked_dropout else F.dropout(out, cfg.dropout, True)
        return {"between": between, "weight_hh": lambda w: drop_weight(w, cfg.weight_drop, True)}

    def _dropout(self, x: torch.Tensor) -> torch.Tensor:
        """--dropout on x (T, B, D): a new mask per element, or with --locked-dropout one per column for all steps."""
        return locked_dropout(x, self.cfg.dropout, self.training) if self.cfg.locked_dropout else self.drop(x)

    def inputs(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (T, B) -> the vectors the first layer reads, (T, B, D)."""
        if self.encoder is not None:
            x = self.encoder(ids)  # (T, B, E)
        else:
            x = F.one_hot(ids, self.cfg.vocab_size).to(self._input_dtype())  # (T, B, V)
        if self.cfg.embed_dropout > 0:  # whole token types, before any other dropout (Merity et al. 2017)
            x = embedding_dropout(x, ids, self.cfg.vocab_size, self.cfg.embed_dropout, self.training)
        return self._dropout(x) if self.encoder is not None else x

    def _input_dtype(self) -> torch.dtype:
        # The first layer's input weight: an attribute, not a parameters() walk (generation calls this per token).
        return getattr(self.rnn, self.spec.input_weight).dtype

    def hidden_states(self, ids: torch.Tensor, state=None):
        """ids (T, B) -> top-layer hidden states h(t) (T, B, H) and the new state, before the decoder.

        ``forward`` is ``decoder(dropout(h))`` on top of this; it is exposed for looking at h(t)
        itself (e.g. gradients of the loss with respect to each time step's hidden state).
        """
        if ids.dim() != 2:
            raise ValueError(f"ids must be time-major (T, B); got shape {tuple(ids.shape)}")
        x = self.inputs(ids)  # (T, B, D)
        if self.spec.feedback:
            # Jordan network under teacher forcing: y(t-1), the fed-back previous output, is the current input token.
            return self.rnn(x, ids, state)  # (T, B, H), ()
        return self.recur(self.rnn, x, state)  # (T, B, H), state

    # ----------------------------------------------------------------- embeddings

    def set_embeddings(self, matrix, freeze: bool | None = None) -> None:
        """Copy ``matrix`` (V, embed_dim) into the embedding; ``freeze`` stops its training.

        ``freeze=None`` keeps ``cfg.freeze_embeddings``; otherwise the config is updated so the
        saved config says what was done.
        """
        if self.encoder is None:
            raise ConfigError("pretrained vectors need an embedding", fixes=("set --embed-dim to the vectors' dimension",))
        weights = torch.as_tensor(np.asarray(matrix), dtype=self.encoder.weight.dtype)
        expected = tuple(self.encoder.weight.shape)
        if tuple(weights.shape) != expected:
            raise ConfigError(
                f"pretrained vectors have shape {tuple(weights.shape)} but the embedding is {expected} "
                f"(vocabulary x --embed-dim)"
            )
        if freeze is not None and freeze != self.cfg.freeze_embeddings:
            self.cfg = dataclasses.replace(self.cfg, freeze_embeddings=bool(freeze)).validate()
        with torch.no_grad():
            self.encoder.weight.copy_(weights)
        self.encoder.weight.requires_grad_(not self.cfg.freeze_embeddings)


class LanguageModel(RecurrentBody):
    """A recurrent language model: predicts token t+1 from tokens 1..t.

    ``forward(ids, state)`` takes ids (T, B) and the state carried from the previous chunk and
    returns logits (T, B, V) and the new state. Running a sequence in one call or one token at a
    time with the carried state gives the same logits (in eval mode), which is what generation
    relies on. For truncated BPTT, pass the state through ``detach_state`` between chunks.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        v, h = cfg.vocab_size, cfg.hidden
        if cfg.adaptive_cutoffs:
            # Adaptive softmax (Grave et al. 2017): a head over the frequent ids plus a cluster token per
            # band of rarer ids, each band behind a smaller projection (div_value 4), so most tokens
            # never pay for the full vocabulary. Exact log-probabilities, not an approximation.
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(h, v, list(cfg.adaptive_cutoffs), div_value=4.0)
        else:
            self.decoder = nn.Linear(h, v)  # o(t) = c + V h(t)
        self._init_body()
        if isinstance(self.decoder, nn.Linear):  # small uniform decoder, zero output bias (word_language_model)
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)
        if cfg.tie_weights:
            # One matrix for input embedding and output layer: Press & Wolf 2017; Inan et al. 2017.
            self.decoder.weight = self.encoder.weight

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states (..., H) -> next-token logits (..., V). With adaptive softmax these are the
        exact log-probabilities (also valid logits: softmax gives the same distribution)."""
        if isinstance(self.decoder, nn.AdaptiveLogSoftmaxWithLoss):
            return self.decoder.log_prob(h.reshape(-1, h.shape[-1])).view(*h.shape[:-1], -1)
        return self._decode(h)

    def _decode(self, h: torch.Tensor) -> torch.Tensor:
        """o(t) = c + V h(t), (..., H) -> (..., V); with bf16 matmuls the product in bf16, the logits fp32."""
        if self.matmul_dtype is None:
            return self.decoder(h)
        w = self.decoder.weight
        return F.linear(h.to(self.matmul_dtype), w.to(self.matmul_dtype)).to(w.dtype) + self.decoder.bias

    def forward(self, ids: torch.Tensor, state=None):
        """ids (T, B) -> logits (T, B, V) of the next token at every step, and the new state."""
        out, state = self.hidden_states(ids, state)  # (T, B, H)
        return self.logits(self._dropout(out) if self.training else out), state  # (T, B, V); dropout is the identity in eval

    def loss(self, ids: torch.Tensor, targets: torch.Tensor, state=None, reduction: str = "mean", sampling: float | None = None):
        """Cross-entropy (nats/token) of ``targets`` (T, B) after ``ids`` (T, B), and the new state:
        L = -sum_t log p(y(t) | x(1..t)), averaged over tokens (or summed).

        The same number as cross_entropy(forward(ids)), computed without the full (T, B, V) logits
        when the model has an adaptive softmax - the point of having one. ``sampling``: scheduled
        sampling with this probability of feeding the model's own sample (seqtool/models/scheduled.py).
        """
        if sampling is not None:
            from seqtool.models.scheduled import scheduled_sampling_loss

            return scheduled_sampling_loss(self, ids, targets, state, sampling, reduction)
        out, state = self.hidden_states(ids, state)  # (T, B, H)
        h = self._dropout(out)
        if isinstance(self.decoder, nn.AdaptiveLogSoftmaxWithLoss):
            target_logp = self.decoder(h.reshape(-1, h.shape[-1]).float(), targets.reshape(-1)).output  # (T*B,)
            nll = -target_logp
            return (nll.mean() if reduction == "mean" else nll.sum()), state
        logits = self._decode(h)  # (T, B, V)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), reduction=reduction), state


def build_model(cfg: ModelConfig) -> LanguageModel:
    """Validate ``cfg`` and build the model it describes."""
    return LanguageModel(cfg.validate())


def summary_rows(model: LanguageModel) -> list[tuple[str, str, int]]:
    """Keras-style summary: (layer name, output shape, parameter count) per layer, frozen ones included.

    Counts come from the tensors themselves; a parameter shared by two layers (tied weights) is
    counted once, in the embedding, so ``sum(n for *_, n in rows) == sum(p.numel() for p in
    model.parameters())``.
    """
    cfg = model.cfg
    counts = {"encoder": 0, "decoder": 0, **{k: 0 for k in range(cfg.layers)}}
    for name, p in model.named_parameters():  # shared parameters are listed once, under the first name
        top, _, rest = name.partition(".")
        if top == "rnn":
            layer = int(rest.rsplit("_l", 1)[1])  # weight_ih_l0 -> 0 (torch's and our cells' naming)
            counts[layer] += p.numel()
        elif top in ("encoder", "decoder"):
            counts[top] += p.numel()
        else:  # a parameter this summary does not know about must not vanish from the totals
            raise RuntimeError(f"summary_rows: unexpected parameter {name}")
    if model.encoder is not None:
        rows = [("embedding", f"(T, B, {cfg.embed_dim})", counts["encoder"])]
    else:
        rows = [("one-hot", f"(T, B, {cfg.vocab_size})", 0)]
    rows += [(f"{cfg.cell}[{k}]", f"(T, B, {cfg.hidden})", counts[k]) for k in range(cfg.layers)]
    rows.append(("decoder", f"(T, B, {cfg.vocab_size})", counts["decoder"]))
    return rows
