"""The weight-sharing supernet of the recurrent-cell space, as the DARTS recurrent search has it.

Node k (1..8) of the search cell takes every earlier node j < k: edge (j, k) runs the highway
step s_j + c * (f(h) - s_j), [c, h] = s_j W_k, through each op f of `none tanh relu sigmoid
identity`, and the node is the sum over its edges and ops weighted by the plan (softmax(alpha)
for DARTS; a single edge and op for a path: ENAS, SPOS, scoring). One matrix W_k per node is
shared by all its edges, so the supernet's weights have the shapes of any cell's. Every node's
state (and the first state's) goes through a batch norm without affine parameters, as in the
DARTS search cell, normalising by the batch's statistics in evaluation as well (DARTS keeps
running ones); the embedding, decoder and dropouts are those of the model nascli trains.

Edges are numbered node by node: node k's edges are k(k-1)/2 .. k(k+1)/2 - 1, from node 0 up.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nascli.nn.supernet import Supernet
from nascli.spaces.rnn_cell.genotype import OPS
from nascli.spaces.rnn_cell.net import ACTIVATIONS, INIT_RANGE, _mask

PRIMITIVES = ("none", *OPS)


def edge_offset(node: int) -> int:
    """Index of the first edge into node `node` (1-based): its edges come from nodes 0..node-1."""
    return node * (node - 1) // 2


class RNNCellSupernet(Supernet):
    """Embedding -> search cell over every (input, op) choice -> tied decoder."""

    cell_types = ("recurrent",)
    primitives = PRIMITIVES
    n_ops = len(PRIMITIVES)
    none = 0
    #: inputs are token ids (nascli.nn.inputs.example_input reads this)
    takes_tokens = True

    def __init__(
        self,
        vocabulary: int,
        steps: int,
        hidden: int = 300,
        dropout: float = 0.75,
        dropouth: float = 0.25,
        dropoutx: float = 0.75,
        dropouti: float = 0.2,
        dropoute: float = 0.0,
    ) -> None:
        super().__init__()
        self.steps, self.hidden = steps, hidden
        edges = edge_offset(steps + 1)
        targets = [k for k in range(1, steps + 1) for _ in range(k)]
        self._init_arch({"recurrent": (edges, self.n_ops)}, targets, partial=1)
        self.dropout, self.dropouth, self.dropoutx = dropout, dropouth, dropoutx
        self.dropouti, self.dropoute = dropouti, dropoute
        self.encoder = nn.Embedding(vocabulary, hidden)
        self.decoder = nn.Linear(hidden, vocabulary)
        self.decoder.weight = self.encoder.weight  # tied
        nn.init.uniform_(self.encoder.weight, -INIT_RANGE, INIT_RANGE)
        nn.init.zeros_(self.decoder.bias)
        self.w0 = nn.Parameter(
            torch.empty(2 * hidden, 2 * hidden).uniform_(-INIT_RANGE, INIT_RANGE)
        )
        self.ws = nn.ParameterList(
            nn.Parameter(torch.empty(hidden, 2 * hidden).uniform_(-INIT_RANGE, INIT_RANGE))
            for _ in range(steps)
        )
        # Batch statistics in evaluation too: running averages fit the mixture they were taken
        # on, and one path scored with them scales its state by a constant at every step, which
        # a recurrence compounds until it overflows.
        self.bn = nn.BatchNorm1d(hidden, affine=False, track_running_stats=False)
        self.acts = [ACTIVATIONS[op] for op in OPS]

    def init_hidden(self, batch: int) -> torch.Tensor:
        return self.encoder.weight.new_zeros(batch, self.hidden)

    def _node_mixed(
        self, k: int, states: list[torch.Tensor], h_mask, weights: torch.Tensor
    ) -> torch.Tensor:
        """Node k as the weighted sum over its edges (from every earlier node) and their ops."""
        prev = torch.stack(states)  # (k, B, H): nodes 0..k-1
        masked = prev if h_mask is None else prev * h_mask
        c, g = (masked @ self.ws[k - 1]).split(self.hidden, -1)
        c = c.sigmoid()
        w = weights[edge_offset(k) : edge_offset(k + 1)]  # (k, ops)
        total = None
        for i, act in enumerate(self.acts, start=1):  # `none` (0) adds nothing
            out = (w[:, i, None, None] * (prev + c * (act(g) - prev))).sum(0)
            total = out if total is None else total + out
        assert total is not None
        return total

    def _node_path(self, k: int, states: list[torch.Tensor], h_mask, choice) -> torch.Tensor:
        """Node k through its one chosen edge and op (`choice` = (source node, op index))."""
        src, op = choice
        prev = states[src]
        c, g = ((prev if h_mask is None else prev * h_mask) @ self.ws[k - 1]).split(self.hidden, -1)
        return prev + c.sigmoid() * (self.acts[op - 1](g) - prev)

    def _choices(self, path: list[list[int]]) -> list[tuple[int, int]]:
        """Per node, (source, op) from a path's per-edge op lists (one edge chosen per node)."""
        out = []
        for k in range(1, self.steps + 1):
            chosen = [
                (j, ops[0])
                for j, ops in enumerate(path[edge_offset(k) : edge_offset(k + 1)])
                if ops
            ]
            if len(chosen) != 1 or chosen[0][1] == self.none:
                raise ValueError(
                    f"a recurrent-cell path needs one op other than none into node {k}"
                )
            out.append(chosen[0])
        return out

    def _step(self, x, h, x_mask, h_mask, weights, choices) -> torch.Tensor:
        xh = torch.cat(
            [x if x_mask is None else x * x_mask, h if h_mask is None else h * h_mask], -1
        )
        c, g = (xh @ self.w0).split(self.hidden, -1)
        states = [self.bn(h + c.sigmoid() * (g.tanh() - h))]
        for k in range(1, self.steps + 1):
            if choices is not None:
                s = self._node_path(k, states, h_mask, choices[k - 1])
            else:
                s = self._node_mixed(k, states, h_mask, weights)
            states.append(self.bn(s))
        return torch.stack(states[1:]).mean(0)

    def forward(
        self, tokens: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch-first token ids (B, T) -> (logits (B, T, vocabulary), last hidden state)."""
        plan = self.plans()["recurrent"]
        choices = self._choices(plan.choices) if self.method == "path" else None
        tokens = tokens.t()
        h = self.init_hidden(tokens.size(1)) if hidden is None else hidden
        weight = self.encoder.weight
        if self.training and self.dropoute:
            weight = weight * _mask(weight, (weight.size(0), 1), self.dropoute)
        x = F.embedding(tokens, weight)
        x_mask = h_mask = None
        if self.training:
            if self.dropouti:
                x = x * _mask(x, (1, x.size(1), x.size(2)), self.dropouti)
            if self.dropoutx:
                x_mask = _mask(x, (x.size(1), x.size(2)), self.dropoutx)
            if self.dropouth:
                h_mask = _mask(h, tuple(h.shape), self.dropouth)
        outputs = []
        for x_t in x:
            h = self._step(x_t, h, x_mask, h_mask, plan.weights, choices)
            outputs.append(h)
        out = torch.stack(outputs)
        if self.training and self.dropout:
            out = out * _mask(out, (1, out.size(1), out.size(2)), self.dropout)
        return self.decoder(out).transpose(0, 1), h
