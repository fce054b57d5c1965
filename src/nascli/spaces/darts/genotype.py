"""DARTS genotypes as text: the DARTS code base's `Genotype(normal=[...], ...)` repr, read strictly.

The text is parsed as a Python expression tree and walked; nothing in it is ever evaluated.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass

from nascli.core.space import ArchError

# Every op the DARTS code base can build; the searchable DARTS space uses a subset.
ALL_OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "sep_conv_7x7",
    "conv_7x1_1x7",
)
FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")

Edge = tuple[str, int]


@dataclass(frozen=True)
class Genotype:
    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    @property
    def steps(self) -> int:
        return len(self.normal) // 2

    def cell(self, reduction: bool) -> tuple[tuple[Edge, ...], tuple[int, ...]]:
        return (self.reduce, self.reduce_concat) if reduction else (self.normal, self.normal_concat)


def format_genotype(g: Genotype) -> str:
    def edges(es: tuple[Edge, ...]) -> str:
        return "[" + ", ".join(f"('{op}', {i})" for op, i in es) + "]"

    def ints(xs: tuple[int, ...]) -> str:
        return "[" + ", ".join(str(x) for x in xs) + "]"

    return (
        f"Genotype(normal={edges(g.normal)}, normal_concat={ints(g.normal_concat)}, "
        f"reduce={edges(g.reduce)}, reduce_concat={ints(g.reduce_concat)})"
    )


def _edges(node: ast.expr, field: str) -> tuple[Edge, ...]:
    if not isinstance(node, ast.List | ast.Tuple) or not node.elts:
        raise ArchError(f"genotype {field}: expected a non-empty list of ('op', input) pairs")
    out = []
    for k, item in enumerate(node.elts):
        try:
            op, src = ast.literal_eval(item)
        except (ValueError, TypeError, SyntaxError) as exc:
            raise ArchError(
                f"genotype {field}[{k}]: expected ('op', input), got {ast.unparse(item)}"
            ) from exc
        if not isinstance(op, str) or op not in ALL_OPS:
            raise ArchError(
                f"genotype {field}[{k}]: unknown op {op!r}; ops are {', '.join(ALL_OPS)}"
            )
        if not isinstance(src, int) or isinstance(src, bool):
            raise ArchError(f"genotype {field}[{k}]: input {src!r} must be an integer")
        out.append((op, src))
    if len(out) % 2:
        raise ArchError(f"genotype {field}: {len(out)} edges; every node takes exactly 2")
    for k, (op, src) in enumerate(out):
        node_index = k // 2
        if not 0 <= src < node_index + 2:
            raise ArchError(
                f"genotype {field}[{k}] ('{op}', {src}): node {node_index + 2} can take inputs 0..{node_index + 1}"
            )
    return tuple(out)


def _concat(node: ast.expr, field: str, steps: int) -> tuple[int, ...]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        try:
            values = tuple(range(*[ast.literal_eval(a) for a in node.args]))
        except (ValueError, TypeError) as exc:
            raise ArchError(f"genotype {field}: bad range {ast.unparse(node)}") from exc
    else:
        try:
            values = tuple(ast.literal_eval(node))
        except (ValueError, TypeError, SyntaxError) as exc:
            raise ArchError(
                f"genotype {field}: expected a list of node indices, got {ast.unparse(node)}"
            ) from exc
    if not values or not all(isinstance(v, int) and 0 <= v < steps + 2 for v in values):
        raise ArchError(f"genotype {field}={list(values)}: node indices must be in 0..{steps + 1}")
    return values


def genotype_fields(text: str, space: str, form: str) -> dict[str | None, ast.expr]:
    """`Genotype(name=value, ...)` text -> {name: the value's syntax tree}, nothing evaluated.
    An ArchError names `space` and shows `form`, the text expected."""
    if not isinstance(text, str):
        raise ArchError(f"{space} arch must be a string, got {type(text).__name__}")
    try:
        # Python warns about odd literals (`1e`, `0x`) on stderr; the ArchError says enough.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ArchError(
            f"{space} arch is not Genotype(...) text: {exc.msg} at column {exc.offset}"
        ) from exc
    if not (
        isinstance(tree, ast.Call)
        and isinstance(tree.func, ast.Name)
        and tree.func.id == "Genotype"
    ):
        raise ArchError(f"{space} arch must look like {form}")
    if tree.args:
        raise ArchError(f"{space} arch: write Genotype's fields by name, as {form}")
    return {kw.arg: kw.value for kw in tree.keywords}


def parse_genotype(text: str) -> Genotype:
    """Read `Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])`."""
    given = genotype_fields(
        text,
        "darts",
        "Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])",
    )
    missing = [f for f in FIELDS if f not in given]
    extra = [f for f in given if f not in FIELDS]
    if missing or extra:
        raise ArchError(
            f"darts arch: missing fields {missing} / unknown fields {extra}; expected {', '.join(FIELDS)}"
        )
    normal, reduce = _edges(given["normal"], "normal"), _edges(given["reduce"], "reduce")
    return Genotype(
        normal,
        _concat(given["normal_concat"], "normal_concat", len(normal) // 2),
        reduce,
        _concat(given["reduce_concat"], "reduce_concat", len(reduce) // 2),
    )
