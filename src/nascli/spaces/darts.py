"""The DARTS cell space (Liu et al., ICLR 2019): a normal and a reduction cell, 4 intermediate
nodes each summing two ops applied to earlier nodes, outputs concatenated.

Architectures are the DARTS code base's `Genotype(...)` text; published cells are accepted by
name (DARTS_V2, PC_DARTS, ...). The searchable space excludes `none` (the DARTS derivation never
keeps it) and concatenates nodes 2..5; named cells outside it (NASNet, AmoebaNet) still build.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nascli.spaces.base import ArchError, Space
from nascli.spaces.darts_genotypes import NAMED
from nascli.spaces.genotype import ALL_OPS, Genotype, format_genotype, parse_genotype

# The DARTS search primitives are the first eight ops the code base can build, in its order.
PRIMITIVES = ALL_OPS[:8]
CHOICE_OPS = PRIMITIVES[1:]
STEPS = 4
CONCAT = (2, 3, 4, 5)


def resolve(arch: str) -> Genotype:
    """A genotype from its text or from a published name (case-insensitive)."""
    if isinstance(arch, str):
        named = NAMED.get(arch.strip().upper())
        if named is not None:
            return parse_genotype(named)
    try:
        return parse_genotype(arch)
    except ArchError as exc:
        if isinstance(arch, str) and "(" not in arch:
            raise ArchError(
                f"darts arch '{arch}' is neither Genotype(...) text nor a known name ({', '.join(sorted(NAMED))})"
            ) from exc
        raise


class DartsSpace(Space):
    """Evaluation network settings: `channels` C, `layers` cells, `auxiliary` head, and the
    ImageNet-mobile stem when `imagenet_stem` (C=48, 14 cells in the paper)."""

    name = "darts"

    def __init__(
        self,
        channels: int = 36,
        layers: int = 20,
        auxiliary: bool = True,
        imagenet_stem: bool = False,
    ) -> None:
        self.channels, self.layers = channels, layers
        self.auxiliary, self.imagenet_stem = auxiliary, imagenet_stem

    @property
    def cardinalities(self) -> Sequence[int]:
        # Per cell, per node k: (input a, op a, input b, op b); node k chooses among 2 + k inputs.
        per_cell = [
            n for k in range(STEPS) for n in (2 + k, len(CHOICE_OPS), 2 + k, len(CHOICE_OPS))
        ]
        return per_cell * 2

    def parse(self, text: str) -> tuple[int, ...]:
        g = resolve(text)
        indices: list[int] = []
        for field, (edges, concat) in (("normal", g.cell(False)), ("reduce", g.cell(True))):
            if len(edges) != 2 * STEPS or tuple(concat) != CONCAT:
                raise ArchError(
                    f"darts arch: the {field} cell has {len(edges) // 2} nodes concatenated as {list(concat)}; the searchable "
                    f"space has {STEPS} nodes concatenated as {list(CONCAT)} (it still builds: nas inspect/train accept it)"
                )
            for op, src in edges:
                if op not in CHOICE_OPS:
                    raise ArchError(
                        f"darts arch: op '{op}' in the {field} cell is outside the searchable ops {', '.join(CHOICE_OPS)}"
                    )
                indices += [src, CHOICE_OPS.index(op)]
        return tuple(indices)

    def format(self, indices: Sequence[int]) -> str:
        half = len(indices) // 2
        cells = []
        for part in (indices[:half], indices[half:]):
            cells.append(
                tuple((CHOICE_OPS[part[k + 1]], int(part[k])) for k in range(0, len(part), 2))
            )
        return format_genotype(Genotype(cells[0], CONCAT, cells[1], CONCAT))

    def canonical(self, text: str) -> str:
        """Names and any valid genotype (inside the searchable space or not) become Genotype text."""
        return format_genotype(resolve(text))

    def graphs(self, arch: str) -> list[dict[str, Any]]:
        g = resolve(arch)
        out = []
        for title, reduction in (("normal cell", False), ("reduction cell", True)):
            edges, concat = g.cell(reduction)
            names = ["c_{k-2}", "c_{k-1}"] + [str(i) for i in range(len(edges) // 2)] + ["c_{k}"]
            drawn = [(names[src], names[2 + k // 2], op) for k, (op, src) in enumerate(edges)]
            drawn += [(names[i], "c_{k}", "") for i in concat]
            kinds = {"c_{k-2}": "input", "c_{k-1}": "input", "c_{k}": "output"}
            out.append({"title": title, "nodes": names, "edges": drawn, "kinds": kinds})
        return out

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        from nascli.spaces.darts_net import build_network

        return build_network(
            resolve(arch),
            input_shape,
            num_classes,
            channels=self.channels,
            layers=self.layers,
            auxiliary=self.auxiliary,
            imagenet_stem=self.imagenet_stem,
        )
