"""A search space written as a context-free grammar (after Schrodi et al., NeurIPS 2023).

The grammar (YAML under `space.grammar`) names a start symbol and, per nonterminal, its
alternatives. An alternative is a primitive (an op), another nonterminal, or a combinator
applied to symbols, nested as deep as wanted:

    grammar:
      start: block
      rules:
        block: ["sequential(motif, motif)", "residual(motif)"]
        motif: ["branch(op, op)", "sequential(op, op)", op]
        op: [conv3x3, sep3x3, max3x3, id]

Combinators (every one keeps the channels and the resolution): `sequential(a, b, ...)` applies
its arguments in turn; `branch(a, b, ...)` sums them applied to the same input; `residual(a,
...)` adds its input to `sequential(a, ...)`; `cell4(e1, ..., e6)` is NAS-Bench-201's cell, a
DAG of four nodes whose six edges are its arguments, in the order of NAS-Bench-201's text.
Primitives: `conv1x1`, `conv3x3` (conv-BN-ReLU), `dw3x3`, `sep3x3`, `max3x3`, `avg3x3`, `id`,
`zero`, and NAS-Bench-201's `none`, `skip_connect`, `nor_conv_1x1`, `nor_conv_3x3`,
`avg_pool_3x3` (built exactly as there).

An architecture is a derivation, written as the expression it derives
(`sequential(branch(conv3x3, id), residual(max3x3))`). Inside, it is a fixed-length list of
choices (one per expansion of a nonterminal with more than one alternative, in preorder,
padded with zeros; choice c of a nonterminal picks its (c mod n)-th alternative), so that the
generic operators and every model-based strategy apply. Derivations are at most `max_depth`
expansions deep: deeper, only alternatives that end soonest are allowed. Sampling chooses among
a nonterminal's alternatives uniformly; a mutation re-derives one subtree from its nonterminal.

The network is the derived module inside a skeleton: `nb201` (NAS-Bench-201's stem, three
stages of `cells_per_stage` copies at C, 2C, 4C with residual reductions, and head), or
`plain` (a conv 3x3 stem, `stages` copies with a stride-2 separable conv doubling the channels
between them, a global pool and a linear classifier).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nascli.core.space import ArchError, Space

COMBINATORS = {"sequential": (1, None), "branch": (1, None), "residual": (1, None), "cell4": (6, 6)}
NB201_PRIMITIVES = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
PRIMITIVES = (
    "conv1x1", "conv3x3", "dw3x3", "sep3x3", "max3x3", "avg3x3", "id", "zero", *NB201_PRIMITIVES,
)  # fmt: skip
SKELETONS = ("nb201", "plain")
# Bounds on an expression read from text (a run directory's, say): beyond them it is refused.
MAX_TEXT, MAX_NESTING = 20_000, 100

# A tree: a primitive's or a symbol's name (a leaf), or (combinator, children).
Tree = Any
_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|[(),])")


def read_tree(text: str, where: str) -> Tree:
    """`name` or `comb(arg, ...)` (nested) -> a tree; ArchError naming `where` otherwise."""
    pos, tokens = 0, []
    text = str(text)
    if len(text) > MAX_TEXT:
        raise ArchError(
            f"{where}: {len(text):,} characters, more than an expression may have ({MAX_TEXT:,})"
        )
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            if text[pos:].strip() == "":
                break
            raise ArchError(f"{where}: cannot read '{text[pos : pos + 20]}' in '{text[:80]}'")
        tokens.append(m.group(1))
        pos = m.end()
    if not tokens:
        raise ArchError(f"{where}: empty expression")

    def node(i: int, depth: int = 0) -> tuple[Tree, int]:
        if depth > MAX_NESTING:
            raise ArchError(f"{where}: nested deeper than {MAX_NESTING} combinators")
        if i >= len(tokens):
            raise ArchError(f"{where}: '(' without ')' in '{text[:80]}'")
        name = tokens[i]
        if not re.match(r"[A-Za-z_]", name):
            raise ArchError(f"{where}: expected a name at '{name}' in '{text[:80]}'")
        if i + 1 < len(tokens) and tokens[i + 1] == "(":
            children, i = [], i + 2
            while True:
                child, i = node(i, depth + 1)
                children.append(child)
                if i >= len(tokens):
                    raise ArchError(f"{where}: '(' without ')' in '{text[:80]}'")
                if tokens[i] == ")":
                    return (name, children), i + 1
                if tokens[i] != ",":
                    raise ArchError(
                        f"{where}: expected ',' or ')' at '{tokens[i]}' in '{text[:80]}'"
                    )
                i += 1
        return name, i + 1

    tree, end = node(0)
    if end != len(tokens):
        raise ArchError(
            f"{where}: unexpected '{tokens[end]}' after the expression in '{text[:80]}'"
        )
    return tree


def write_tree(tree: Tree) -> str:
    if isinstance(tree, str):
        return tree
    name, children = tree
    return f"{name}({', '.join(write_tree(c) for c in children)})"


@dataclass
class _Choice:
    """One expansion of a nonterminal in a derivation: where its subtree is, and its depth."""

    symbol: str
    depth: int
    path: tuple[int, ...]  # child indices from the root to the subtree


class GrammarSpace(Space):
    """Args: grammar ({start, rules}), file (a YAML file holding the grammar instead, read as
    data), skeleton (nb201 or plain), channels, cells_per_stage (nb201), stages (plain),
    max_depth."""

    name = "grammar"

    def __init__(
        self,
        grammar: dict[str, Any] | None = None,
        file: str | None = None,
        skeleton: str = "plain",
        channels: int = 16,
        cells_per_stage: int = 1,
        stages: int = 3,
        max_depth: int = 6,
    ) -> None:
        if file:
            grammar = _read_grammar(file)
        grammar = dict(grammar or {})
        rules = dict(grammar.get("rules") or {})
        self.start = str(grammar.get("start") or "")
        if not rules or self.start not in rules:
            raise ArchError(
                f"space.grammar needs rules and a start symbol among them (start={self.start or '?'}); "
                "e.g. {start: block, rules: {block: ['sequential(op, op)'], op: [conv3x3, id]}}"
            )
        if skeleton not in SKELETONS:
            raise ArchError(f"space.skeleton={skeleton} is not one of {', '.join(SKELETONS)}")
        self.skeleton, self.channels = skeleton, int(channels)
        self.cells_per_stage, self.stages, self.max_depth = (
            int(cells_per_stage),
            int(stages),
            int(max_depth),
        )
        self.rules: dict[str, list[Tree]] = {}
        for symbol, alternatives in rules.items():
            if isinstance(alternatives, str) or not alternatives:
                raise ArchError(f"space.grammar.rules.{symbol} must be a list of alternatives")
            self.rules[str(symbol)] = [
                read_tree(a, f"space.grammar.rules.{symbol}") for a in alternatives
            ]
        for symbol, alternatives in self.rules.items():
            for alt in alternatives:
                self._check(alt, f"space.grammar.rules.{symbol}")
        self._min_depth = self._minimal_depths()
        for symbol, d in self._min_depth.items():
            if d > self.max_depth:
                raise ArchError(
                    f"space.grammar.rules.{symbol} cannot end within space.max_depth={self.max_depth} "
                    f"expansions (it needs {d if d < math.inf else 'infinitely many'})"
                )
        self.width = max(len(a) for a in self.rules.values())
        self.length = self._most_choices(self.start, self.max_depth)

    # -- the grammar -----------------------------------------------------------------------
    def _check(self, tree: Tree, where: str) -> None:
        if isinstance(tree, str):
            if tree not in self.rules and tree not in PRIMITIVES:
                raise ArchError(
                    f"{where}: '{tree}' is neither a rule nor a primitive ({', '.join(PRIMITIVES)})"
                )
            return
        name, children = tree
        if name not in COMBINATORS:
            raise ArchError(f"{where}: '{name}' is not a combinator ({', '.join(COMBINATORS)})")
        low, high = COMBINATORS[name]
        if len(children) < low or (high is not None and len(children) > high):
            want = f"{low}" if low == high else f"{low} or more"
            raise ArchError(f"{where}: {name} takes {want} arguments, got {len(children)}")
        for child in children:
            self._check(child, where)

    def _symbols(self, tree: Tree) -> list[str]:
        """The nonterminals of a template tree, in preorder."""
        if isinstance(tree, str):
            return [tree] if tree in self.rules else []
        return [s for child in tree[1] for s in self._symbols(child)]

    def _minimal_depths(self) -> dict[str, float]:
        """Per nonterminal, the fewest nested expansions that end in primitives."""
        depth = {s: math.inf for s in self.rules}
        for _ in range(len(self.rules) + 1):
            for s, alternatives in self.rules.items():
                for alt in alternatives:
                    inner = [depth[t] for t in self._symbols(alt)]
                    depth[s] = min(depth[s], 1 + max(inner, default=0))
        return depth

    def _allowed(self, symbol: str, left: int) -> list[Tree]:
        """The alternatives of `symbol` that can end within `left` expansions (this one included)."""
        return [
            alt
            for alt in self.rules[symbol]
            if 1 + max((self._min_depth[t] for t in self._symbols(alt)), default=0) <= left
        ]

    def _most_choices(self, symbol: str, left: int, memo: dict | None = None) -> int:
        memo = {} if memo is None else memo
        if (symbol, left) not in memo:
            allowed = self._allowed(symbol, left)
            own = 1 if len(allowed) > 1 else 0
            memo[symbol, left] = own + max(
                sum(self._most_choices(t, left - 1, memo) for t in self._symbols(alt))
                for alt in allowed
            )
        return memo[symbol, left]

    # -- derivations -----------------------------------------------------------------------
    def _derive(self, symbol: str, left: int, pick) -> Tree:
        allowed = self._allowed(symbol, left)
        alt = allowed[pick(len(allowed)) if len(allowed) > 1 else 0]
        return self._fill(alt, left - 1, pick)

    def _fill(self, template: Tree, left: int, pick) -> Tree:
        if isinstance(template, str):
            return self._derive(template, left, pick) if template in self.rules else template
        name, children = template
        return name, [self._fill(c, left, pick) for c in children]

    def _match(self, symbol: str, tree: Tree, left: int, path: tuple[int, ...], out: list) -> bool:
        """Whether `symbol` derives `tree` within `left` expansions; appends (choice, _Choice)
        per expansion (the first alternative that matches, so the choices are canonical)."""
        if left < 1:
            return False
        allowed = self._allowed(symbol, left)
        for k, alt in enumerate(allowed):
            trial: list = []
            if self._match_template(alt, tree, left - 1, path, trial):
                if len(allowed) > 1:
                    out.append((k, _Choice(symbol, left, path)))
                else:
                    out.append((None, _Choice(symbol, left, path)))
                out.extend(trial)
                return True
        return False

    def _match_template(self, template: Tree, tree: Tree, left: int, path, out: list) -> bool:
        if isinstance(template, str):
            if template in self.rules:
                return self._match(template, tree, left, path, out)
            return tree == template
        if isinstance(tree, str) or tree[0] != template[0] or len(tree[1]) != len(template[1]):
            return False
        return all(
            self._match_template(t, c, left, (*path, i), out)
            for i, (t, c) in enumerate(zip(template[1], tree[1], strict=True))
        )

    def _choices(self, tree: Tree) -> list[tuple[int | None, _Choice]]:
        out: list = []
        if not self._match(self.start, tree, self.max_depth, (), out):
            raise ArchError(
                f"grammar arch: '{write_tree(tree)[:80]}' is not derived by space.grammar "
                f"from {self.start} within space.max_depth={self.max_depth}"
            )
        return out

    # -- the Space interface ---------------------------------------------------------------
    @property
    def cardinalities(self) -> Sequence[int]:
        return [self.width] * self.length

    def parse(self, text: str) -> tuple[int, ...]:
        if not isinstance(text, str):
            raise ArchError(f"grammar arch must be a string, got {type(text).__name__}")
        picks = [k for k, _ in self._choices(read_tree(text, "grammar arch")) if k is not None]
        return tuple(picks + [0] * (self.length - len(picks)))

    def format(self, indices: Sequence[int]) -> str:
        codons = iter(indices)
        return write_tree(self._derive(self.start, self.max_depth, lambda n: next(codons, 0) % n))

    def sample(self, rng: random.Random) -> str:
        return write_tree(self._derive(self.start, self.max_depth, rng.randrange))

    def mutate(self, arch: str, rng: random.Random) -> str:
        """Re-derive one subtree (chosen uniformly among the expansions with a choice) from its
        nonterminal; a different architecture, where the grammar has one."""
        tree = read_tree(arch, "grammar arch")
        places = [c for k, c in self._choices(tree) if self._allowed(c.symbol, c.depth)[1:]]
        for _ in range(100):
            if not places:
                break
            place = rng.choice(places)
            fresh = self._derive(place.symbol, place.depth, rng.randrange)
            child = write_tree(_replace(tree, place.path, fresh))
            if child != arch:
                return child
        return arch

    def neighbours(self, arch: str) -> list[str]:
        """Every architecture one choice away (the later choices read as they stand)."""
        base = list(self.parse(arch))
        used = sum(1 for k, _ in self._choices(read_tree(arch, "grammar arch")) if k is not None)
        out: dict[str, None] = {}
        for pos in range(used):
            for j in range(self.width):
                if j != base[pos]:
                    text = self.format(base[:pos] + [j] + base[pos + 1 :])
                    if text != arch:
                        out[text] = None
        return list(out)

    def graphs(self, arch: str) -> list[dict[str, Any]]:
        return []

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        from nascli.spaces.grammar.net import GrammarNetwork

        tree = read_tree(arch, "grammar arch")
        self._choices(tree)  # derivable, or ArchError
        return GrammarNetwork(
            tree, self.skeleton, input_shape[0], num_classes, self.channels,
            self.cells_per_stage, self.stages,
        )  # fmt: skip


def _read_grammar(file: str) -> dict[str, Any]:
    """A grammar from a YAML file ({start, rules}), read as plain data (no tags, nothing run)."""
    from pathlib import Path

    import yaml

    path = Path(file).expanduser()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ArchError(f"space.file={file} cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ArchError(f"space.file={file} is not YAML ({str(exc).splitlines()[0]})") from None
    if isinstance(data, dict) and "grammar" in data:
        data = data["grammar"]
    if not isinstance(data, dict):
        raise ArchError(f"space.file={file} must hold a grammar: {{start: ..., rules: {{...}}}}")
    return data


def _replace(tree: Tree, path: tuple[int, ...], new: Tree) -> Tree:
    if not path:
        return new
    name, children = tree
    children = list(children)
    children[path[0]] = _replace(children[path[0]], path[1:], new)
    return name, children
