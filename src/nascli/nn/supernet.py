"""The machinery of weight-sharing supernets, for any space: mixed edges, search cells, the
Supernet base. Each space builds its own supernet from these (nascli.spaces.<name>.supernet).

Every edge of a cell holds every candidate op.

One supernet serves every one-shot method; `method` says how an edge combines its ops:
- "softmax" (DARTS, PC-DARTS): the softmax(alpha)-weighted sum of all ops. `none` is skipped
  (its output is zero, so skipping it is exact and saves a strided copy per edge).
- "gumbel" (GDAS): one op per edge, drawn by hard Gumbel-softmax; the straight-through weight
  carries the gradient to every alpha of the edge.
- "path" (SPOS, ENAS, and scoring a sampled architecture): the ops of `path` only, unweighted.

`partial=K` (PC-DARTS) sends 1/K of the channels through the edge's ops, passes the rest by, and
shuffles channels; each node then weighs its incoming edges by softmax(beta) (edge normalisation).
Architecture parameters live in `alphas`/`betas`; `weight_parameters()` never contains them.

Training passes run the convolution and pool ops as memory-lean stages (nascli.nn.lean):
the same values and gradients, with less kept for backward. `Supernet.lean = False` turns that off.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from nascli.nn.lean import memory_format, run_stages, shared_relu, stages_of, weighted_sum

METHODS = ("softmax", "gumbel", "path")


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


@dataclass
class CellPlan:
    """How the edges of one cell type run in this forward pass.

    weights: (edges, ops) op weights (softmax or straight-through one-hot), or None.
    choices: per edge, the op indices to run (hard methods); an empty tuple leaves the edge out.
    betas: per edge, the edge-normalisation weight (PC-DARTS), or None.
    """

    weights: torch.Tensor | None = None
    choices: Sequence[Sequence[int]] | None = None
    betas: torch.Tensor | None = None


def _split_relu(op: nn.Module) -> tuple[nn.Module, bool]:
    """An op that starts with ReLU, without it (the edge applies one ReLU for all such ops).
    Only a Sequential that runs its children in order (no forward of its own) is split."""
    plain = isinstance(op, nn.Sequential) and type(op).forward is nn.Sequential.forward
    if plain and len(op) > 1 and type(op[0]) is nn.ReLU:
        return nn.Sequential(*list(op)[1:]), True
    return op, False


def use_stages(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether `module` (lean, in training) runs its ops as lean stages: only in a pass that
    will go backward."""
    return module.lean and module.training and torch.is_grad_enabled()


class MixedEdge(nn.Module):
    """All candidate ops of one edge. The ops that begin with ReLU (the convolutions) share one
    ReLU of the input, computed once: the same result, with one activation kept for backward
    instead of one per op."""

    def __init__(self, ops: Sequence[nn.Module], none: int, partial: int = 1, stride: int = 1):
        super().__init__()
        split = [_split_relu(op) for op in ops]
        self.ops = nn.ModuleList(op for op, _ in split)
        self.relu_first = [flag for _, flag in split]
        # The ops as lean stages where they match a known pattern (None: run as modules).
        self.stages = [stages_of(op, relu) for op, relu in split]
        self.lean = True
        self.none, self.partial, self.stride = none, partial, stride
        self.bypass = nn.MaxPool2d(2, 2) if partial > 1 and stride == 2 else None

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor | None, choices: Sequence[int] | None
    ) -> torch.Tensor:
        if self.partial == 1:
            return self._mix(x, weights, choices)
        c = x.shape[1] // self.partial
        tail = x[:, c:]
        if self.bypass is not None:
            tail = self.bypass(tail)
        # The ops get their channels as a tensor of their own, in x's layout: the lean stages
        # hand what they keep to ATen's backward kernels directly, which never see a slice.
        head = x[:, :c].contiguous(memory_format=memory_format(x))
        out = torch.cat([self._mix(head, weights, choices), tail], dim=1)
        return channel_shuffle(out, self.partial)

    def _mix(
        self, x: torch.Tensor, weights: torch.Tensor | None, choices: Sequence[int] | None
    ) -> torch.Tensor:
        run = [i for i in range(len(self.ops)) if i != self.none] if choices is None else choices
        lean = use_stages(self, x)
        staged = [lean and self.stages[i] is not None for i in run]
        needs_relu = any(self.relu_first[i] and not s for i, s in zip(run, staged, strict=True))
        relu = F.relu(x) if needs_relu else None
        # The ReLU stages of one input share one ReLU (and its gradient).
        relu_stages = sum(s and self.stages[i][0].relu for i, s in zip(run, staged, strict=True))
        shared = shared_relu(x) if relu_stages > 1 else None
        # Lean training passes sum the weighted outputs in one node (see lean._WeightedSum),
        # others add each output as it comes (an eval pass keeps no more than two alive).
        one_node = weights is not None and any(staged)
        total, outs = None, []
        for i, as_stages in zip(run, staged, strict=True):
            if as_stages:
                out = run_stages(self.stages[i], x, shared)
            else:
                out = self.ops[i](relu if self.relu_first[i] else x)
            if one_node:
                outs.append(out)
                continue
            if weights is not None:
                out = weights[i] * out
            total = out if total is None else total + out
        if one_node:
            if len({(o.shape, o.device) for o in outs}) == 1:
                return weighted_sum(weights, run, outs)
            total = sum(weights[i] * out for i, out in zip(run, outs, strict=True))
        assert total is not None
        return total


@contextmanager
def _frozen_bn_statistics(module: nn.Module) -> Iterator[None]:
    """Batch-norms that normalise by batch statistics as usual but leave their running
    statistics and step count unchanged (momentum 0 keeps them exactly; the same saved tensors
    as the first pass, which checkpoint's recomputation requires)."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked) for m in norms]
    for m in norms:
        m.momentum = 0.0
        if m.num_batches_tracked is not None:
            m.num_batches_tracked = m.num_batches_tracked.clone()
    try:
        yield
    finally:
        for m, (momentum, count) in zip(norms, saved, strict=True):
            m.momentum, m.num_batches_tracked = momentum, count


def _node_edges(targets: Sequence[int]) -> list[list[int]]:
    """Edge indices grouped by target node, in node order."""
    nodes: dict[int, list[int]] = {}
    for e, t in enumerate(targets):
        nodes.setdefault(t, []).append(e)
    return [nodes[t] for t in sorted(nodes)]


class SearchCell(nn.Module):
    """A cell whose edge e runs from node `sources[e]` to node `targets[e]`; nodes sum their edges."""

    def __init__(self, edges: Sequence[MixedEdge], sources: Sequence[int], targets: Sequence[int]):
        super().__init__()
        self.edges = nn.ModuleList(edges)
        self.sources, self.targets = list(sources), list(targets)
        # Whether the cell's own ops outside its edges (a preprocessing, say) run as lean stages.
        self.lean = True

    def run(self, states: list[torch.Tensor], plan: CellPlan) -> list[torch.Tensor]:
        n_inputs = len(states)
        for node in _node_edges(self.targets):
            total = None
            for e in node:
                choices = plan.choices[e] if plan.choices is not None else None
                if choices is not None and len(choices) == 0:
                    continue
                w = plan.weights[e] if plan.weights is not None else None
                h = self.edges[e](states[self.sources[e]], w, choices)
                if plan.betas is not None:
                    h = plan.betas[e] * h
                total = h if total is None else total + h
            if total is None:  # a node with no chosen edge outputs zeros of its inputs' shape
                total = torch.zeros_like(states[n_inputs - 1])
            states.append(total)
        return states


class Supernet(nn.Module):
    """The parts every supernet shares: architecture parameters and the per-method plans."""

    cell_types: tuple[str, ...] = ()
    n_ops = 0
    none = 0

    def _init_arch(
        self, shapes: dict[str, tuple[int, int]], targets: Sequence[int], partial: int
    ) -> None:
        """Alphas of `shapes` {cell type: (edges, ops)}, betas per edge when `partial` > 1."""
        self.alphas = nn.ParameterDict(
            {t: nn.Parameter(1e-3 * torch.randn(*shape)) for t, shape in shapes.items()}
        )
        self.betas = nn.ParameterDict(
            {t: nn.Parameter(1e-3 * torch.randn(shape[0])) for t, shape in shapes.items()}
            if partial > 1
            else {}
        )
        self.node_edges = _node_edges(targets)
        self.method = "softmax"
        # Recompute each cell's activations in backward instead of keeping them (less memory,
        # about one more forward pass of compute): for supernets that do not fit otherwise.
        self.recompute = False
        self.tau = 1.0
        self.path: dict[str, list[list[int]]] | None = None

    @property
    def lean(self) -> bool:
        return all(m.lean for m in self.modules() if isinstance(m, MixedEdge | SearchCell))

    @lean.setter
    def lean(self, value: bool) -> None:
        for m in self.modules():
            if isinstance(m, MixedEdge | SearchCell):
                m.lean = value

    def run_cell(self, cell: nn.Module, *args: object) -> torch.Tensor:
        if self.recompute and self.training and torch.is_grad_enabled():
            forward_done = False

            def run(*inputs: object) -> torch.Tensor:
                nonlocal forward_done
                if forward_done:  # backward's recomputation: statistics were counted already
                    with _frozen_bn_statistics(cell):
                        return cell(*inputs)
                forward_done = True
                return cell(*inputs)

            return checkpoint(run, *args, use_reentrant=False)
        return cell(*args)

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas.values()) + list(self.betas.values())

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith(("alphas.", "betas."))]

    def edge_betas(self, cell_type: str) -> torch.Tensor | None:
        """Softmax of beta over each node's incoming edges (PC-DARTS edge normalisation)."""
        if cell_type not in self.betas:
            return None
        beta = self.betas[cell_type]
        out = torch.empty_like(beta)
        for edges in self.node_edges:
            out[edges] = F.softmax(beta[edges], dim=-1)
        return out

    def edge_rows(self) -> list[tuple[MixedEdge, str, int]]:
        """Every mixed edge with the alpha and row that weigh its ops."""
        raise NotImplementedError

    def expected_latency(self, table: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sum over alphas of softmax(alpha) x table: the latency the distribution expects."""
        return sum(
            (F.softmax(self.alphas[t], dim=-1) * lat.to(self.alphas[t].device)).sum()
            for t, lat in table.items()
        )

    def plans(self) -> dict[str, CellPlan]:
        if self.method == "path":
            if self.path is None:
                raise RuntimeError("method 'path' needs supernet.path set (see Space.path)")
            return {t: CellPlan(choices=self.path[t]) for t in self.cell_types}
        plans = {}
        for t in self.cell_types:
            alpha, betas = self.alphas[t], self.edge_betas(t)
            if self.method == "softmax":
                plans[t] = CellPlan(weights=F.softmax(alpha, dim=-1), betas=betas)
            elif self.method == "gumbel":
                hard, index = gumbel_hard(alpha, self.tau)
                plans[t] = CellPlan(weights=hard, choices=[[i] for i in index], betas=betas)
            else:
                raise ValueError(f"unknown supernet method {self.method}; choose from {METHODS}")
        return plans


def gumbel_hard(alpha: torch.Tensor, tau: float) -> tuple[torch.Tensor, list[int]]:
    """GDAS sampling: one op per edge from softmax((log_softmax(alpha) + Gumbel) / tau); the
    returned weights equal the one-hot choice in value and carry the soft gradient."""
    while True:
        gumbel = -torch.empty_like(alpha).exponential_().log()
        soft = F.softmax((F.log_softmax(alpha, dim=-1) + gumbel) / tau, dim=-1)
        if torch.isfinite(soft).all():
            break
    index = soft.argmax(dim=-1)
    one_hot = F.one_hot(index, alpha.shape[-1]).to(soft.dtype)
    return one_hot - soft.detach() + soft, index.tolist()


class MixedLayer(MixedEdge):
    """A layer choice of a custom space holding every candidate. The user's network calls it
    like any module; the supernet hands it its plan (weights or chosen index) before each pass."""

    def __init__(self, label: str, candidates: Sequence[nn.Module]) -> None:
        super().__init__(candidates, -1)
        self.label = label
        self.plan: CellPlan | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        plan = self.plan
        assert plan is not None, "MixedLayer runs inside its CustomSupernet"
        weights = plan.weights[0] if plan.weights is not None else None
        choices = plan.choices[0] if plan.choices is not None else None
        out = self._mix(x, weights, choices)
        if weights is None and use_stages(self, x):
            # A lone lean stage returns the output its backward needs; the user's network may
            # change what a layer returns in place (ReLU(inplace=True)), so it gets a copy.
            out = out.clone()
        return out
