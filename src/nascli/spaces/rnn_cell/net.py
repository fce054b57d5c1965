"""The DARTS recurrent cell and the AWD-LSTM-style language model around it.

The model's shape follows the DARTS code base (so that parameter counts agree exactly): an
embedding tied to the decoder (embedding = hidden size), one cell whose first state is a
highway step from [x, h] through one (ninp + nhid, 2 nhid) matrix, each later node a highway
step s = s_prev + c * (f(h) - s_prev) with [c, h] = s_prev W_k (c through a sigmoid), no biases
but the decoder's, and the dropouts of AWD-LSTM: on embedding rows (dropoute), locked over time
on the embedding's output (dropouti) and the cell's output (dropout), variational on the
cell's input (dropoutx) and hidden states (dropouth).

Inputs are batch-first token ids (B, T); the model returns (logits (B, T, vocabulary), the last
hidden state (B, hidden)), and takes that state back to continue a stream.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nascli.spaces.rnn_cell.genotype import RecurrentGenotype

INIT_RANGE = 0.04  # uniform initialisation of every weight, as in the DARTS code base
ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
}


def _mask(like: torch.Tensor, shape: tuple[int, ...], p: float) -> torch.Tensor:
    """A dropout mask of `shape`, scaled by 1 / (1 - p)."""
    return like.new_empty(shape).bernoulli_(1 - p).div_(1 - p)


class RecurrentCell(nn.Module):
    """One DARTS cell unrolled over time: (T, B, ninp) inputs, (B, nhid) state."""

    def __init__(
        self, ninp: int, nhid: int, genotype: RecurrentGenotype, dropouth: float, dropoutx: float
    ) -> None:
        super().__init__()
        self.nhid, self.genotype = nhid, genotype
        self.dropouth, self.dropoutx = dropouth, dropoutx
        self.w0 = nn.Parameter(torch.empty(ninp + nhid, 2 * nhid).uniform_(-INIT_RANGE, INIT_RANGE))
        self.ws = nn.ParameterList(
            nn.Parameter(torch.empty(nhid, 2 * nhid).uniform_(-INIT_RANGE, INIT_RANGE))
            for _ in genotype.recurrent
        )
        self.acts = [ACTIVATIONS[op] for op, _ in genotype.recurrent]

    def step(
        self,
        x: torch.Tensor,
        h: torch.Tensor,
        x_mask: torch.Tensor | None,
        h_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        xh = torch.cat(
            [x if x_mask is None else x * x_mask, h if h_mask is None else h * h_mask], -1
        )
        c, g = (xh @ self.w0).split(self.nhid, -1)
        states = [h + c.sigmoid() * (g.tanh() - h)]
        for (_, src), w, act in zip(self.genotype.recurrent, self.ws, self.acts, strict=True):
            prev = states[src]
            c, g = ((prev if h_mask is None else prev * h_mask) @ w).split(self.nhid, -1)
            states.append(prev + c.sigmoid() * (act(g) - prev))
        return torch.stack([states[i] for i in self.genotype.concat], -1).mean(-1)

    def forward(self, inputs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_mask = h_mask = None
        if self.training:
            if self.dropoutx:
                x_mask = _mask(inputs, (inputs.size(1), inputs.size(2)), self.dropoutx)
            if self.dropouth:
                h_mask = _mask(h, tuple(h.shape), self.dropouth)
        outputs = []
        for x in inputs:
            h = self.step(x, h, x_mask, h_mask)
            outputs.append(h)
        return torch.stack(outputs), h


class RNNLanguageModel(nn.Module):
    """Embedding -> recurrent cell -> decoder (tied to the embedding)."""

    #: inputs are token ids, not images (nascli.nn.inputs.example_input reads this)
    takes_tokens = True

    def __init__(
        self,
        vocabulary: int,
        genotype: RecurrentGenotype,
        hidden: int = 850,
        dropout: float = 0.75,
        dropouth: float = 0.25,
        dropoutx: float = 0.75,
        dropouti: float = 0.2,
        dropoute: float = 0.1,
    ) -> None:
        super().__init__()
        self.vocabulary, self.hidden = vocabulary, hidden
        self.dropout, self.dropouti, self.dropoute = dropout, dropouti, dropoute
        self.encoder = nn.Embedding(vocabulary, hidden)
        self.cell = RecurrentCell(hidden, hidden, genotype, dropouth, dropoutx)
        self.decoder = nn.Linear(hidden, vocabulary)
        self.decoder.weight = self.encoder.weight  # tied
        nn.init.uniform_(self.encoder.weight, -INIT_RANGE, INIT_RANGE)
        nn.init.zeros_(self.decoder.bias)

    def init_hidden(self, batch: int) -> torch.Tensor:
        return self.encoder.weight.new_zeros(batch, self.hidden)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        weight = self.encoder.weight
        if self.training and self.dropoute:  # drop whole words: rows of the embedding
            weight = weight * _mask(weight, (weight.size(0), 1), self.dropoute)
        return F.embedding(tokens, weight)

    def _locked(self, x: torch.Tensor, p: float) -> torch.Tensor:
        """Dropout with one mask over every time step of a sequence; x is (T, B, D)."""
        if not self.training or not p:
            return x
        return x * _mask(x, (1, x.size(1), x.size(2)), p)

    def forward(
        self, tokens: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits, hidden, _, _ = self.forward_with_states(tokens, hidden)
        return logits, hidden

    def forward_with_states(
        self, tokens: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, hidden, the cell's outputs (T, B, H), those outputs after dropout): what
        activation regularisation (AR, on the dropped outputs) and temporal activation
        regularisation (TAR, on the outputs' change from step to step) penalise."""
        tokens = tokens.t()  # (T, B): the cell walks time
        if hidden is None:
            hidden = self.init_hidden(tokens.size(1))
        x = self._locked(self._embed(tokens), self.dropouti)
        out, hidden = self.cell(x, hidden)
        dropped = self._locked(out, self.dropout)
        return self.decoder(dropped).transpose(0, 1), hidden, out, dropped
