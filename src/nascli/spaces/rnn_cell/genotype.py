"""Recurrent-cell genotypes as text: `Genotype(recurrent=[('op', input), ...], concat=[...])`,
the form the DARTS code base prints, read by walking its expression tree (nothing is evaluated).

Node 0 is the cell's first state, computed from the input and the previous hidden state; node
k (1-based) takes one earlier node through its activation; the cell's output is the mean of the
`concat` nodes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from nascli.core.space import ArchError
from nascli.spaces.darts.genotype import genotype_fields

OPS = ("tanh", "relu", "sigmoid", "identity")


@dataclass(frozen=True)
class RecurrentGenotype:
    recurrent: tuple[tuple[str, int], ...]
    concat: tuple[int, ...]

    @property
    def steps(self) -> int:
        return len(self.recurrent)


def format_genotype(g: RecurrentGenotype) -> str:
    edges = ", ".join(f"('{op}', {i})" for op, i in g.recurrent)
    return f"Genotype(recurrent=[{edges}], concat=[{', '.join(map(str, g.concat))}])"


# Published cells (the DARTS paper's two recurrent cells, and ENAS's, as the DARTS code base
# states them: ENAS's has 11 nodes and averages six of them).
NAMED = {
    "DARTS_V1": RecurrentGenotype(
        (
            ("relu", 0),
            ("relu", 1),
            ("tanh", 2),
            ("relu", 3),
            ("relu", 4),
            ("identity", 1),
            ("relu", 5),
            ("relu", 1),
        ),
        tuple(range(1, 9)),
    ),  # fmt: skip
    "DARTS_V2": RecurrentGenotype(
        (
            ("sigmoid", 0),
            ("relu", 1),
            ("relu", 1),
            ("identity", 1),
            ("tanh", 2),
            ("sigmoid", 5),
            ("tanh", 3),
            ("relu", 5),
        ),
        tuple(range(1, 9)),
    ),  # fmt: skip
    "ENAS": RecurrentGenotype(
        (
            ("tanh", 0),
            ("tanh", 1),
            ("relu", 1),
            ("tanh", 3),
            ("tanh", 3),
            ("relu", 3),
            ("relu", 4),
            ("relu", 7),
            ("relu", 8),
            ("relu", 8),
            ("relu", 8),
        ),
        (2, 5, 6, 9, 10, 11),
    ),  # fmt: skip
}
NAMED["DARTS"] = NAMED["DARTS_V2"]


def _ints(node: ast.expr, field: str) -> tuple[int, ...]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        try:
            return tuple(range(*[int(ast.literal_eval(a)) for a in node.args]))
        except (ValueError, TypeError, SyntaxError) as exc:
            raise ArchError(f"rnn_cell genotype {field}: bad range {ast.unparse(node)}") from exc
    try:
        values = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError) as exc:
        raise ArchError(
            f"rnn_cell genotype {field}: expected a list of node indices, got {ast.unparse(node)}"
        ) from exc
    if not isinstance(values, list | tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise ArchError(f"rnn_cell genotype {field}: expected a list of node indices")
    return tuple(values)


def parse_genotype(text: str) -> RecurrentGenotype:
    """Read `Genotype(recurrent=[...], concat=[...])`; an ArchError names the bad part."""
    form = "Genotype(recurrent=[...], concat=[...])"
    fields = genotype_fields(text, "rnn_cell", form)
    if sorted(k or "" for k in fields) != ["concat", "recurrent"]:
        raise ArchError(f"rnn_cell arch must be {form}")
    node = fields["recurrent"]
    if not isinstance(node, ast.List | ast.Tuple) or not node.elts:
        raise ArchError("rnn_cell genotype recurrent: expected a non-empty list of ('op', input)")
    edges = []
    for k, item in enumerate(node.elts, start=1):
        try:
            op, src = ast.literal_eval(item)
        except (ValueError, TypeError, SyntaxError) as exc:
            raise ArchError(
                f"rnn_cell genotype recurrent[{k - 1}]: expected ('op', input), got {ast.unparse(item)}"
            ) from exc
        if op not in OPS:
            raise ArchError(
                f"rnn_cell genotype recurrent[{k - 1}]: unknown op {op!r}; ops are {', '.join(OPS)}"
            )
        if not isinstance(src, int) or isinstance(src, bool) or not 0 <= src < k:
            raise ArchError(
                f"rnn_cell genotype recurrent[{k - 1}] ('{op}', {src!r}): node {k} takes one of "
                f"nodes 0..{k - 1}"
            )
        edges.append((op, src))
    concat = _ints(fields["concat"], "concat")
    if (
        not concat
        or not all(1 <= c <= len(edges) for c in concat)
        or len(set(concat)) != len(concat)
    ):
        raise ArchError(
            f"rnn_cell genotype concat={list(concat)}: distinct nodes in 1..{len(edges)}"
        )
    return RecurrentGenotype(tuple(edges), concat)


def resolve(arch: str) -> RecurrentGenotype:
    """A genotype from its text or a published name (DARTS_V1, DARTS_V2, ENAS; any case)."""
    if isinstance(arch, str) and arch.strip().upper() in NAMED:
        return NAMED[arch.strip().upper()]
    if isinstance(arch, str) and "(" not in arch:
        raise ArchError(
            f"rnn_cell arch '{arch}' is neither Genotype(...) text nor a known name "
            f"({', '.join(sorted(NAMED))})"
        )
    return parse_genotype(arch)
