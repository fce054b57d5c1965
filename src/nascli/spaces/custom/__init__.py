"""The user's own space: a builder function that declares its choices while it builds a network.

    def build(choose: nascli.Choices, input_shape, num_classes) -> nn.Module:
        width = choose.value("width", [16, 32, 64])                 # a value choice
        op = choose.layer("op", {"conv3": lambda: nn.Conv2d(...),   # a layer choice: only the
                                 "conv5": lambda: nn.Conv2d(...)})  # chosen candidate is built
        skip = choose.input("skip", 3)                              # an input choice: an index
        ...

`space=custom space.builder=my_pkg.my_space:build` (or `path/to/file.py:build`). nascli calls
the builder once to discover the choices (label, options) in declaration order; an architecture
is then one option per label, written `width=32,op=conv5,skip=2`. Every label must be declared
on every build, whatever was chosen before it (declare first, then branch on the values).
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nascli.core.errors import NascliError
from nascli.core.space import ArchError, Space


class Choices:
    """What a builder receives. `fixed` maps label -> option index; labels it lacks take option 0
    and are recorded in `declared` (how the space discovers them)."""

    def __init__(self, fixed: dict[str, int] | None = None) -> None:
        self.fixed = fixed or {}
        self.declared: dict[str, tuple[str, ...]] = {}
        self._values: dict[str, tuple[Any, ...]] = {}

    def _pick(self, label: str, options: Sequence[Any], names: Sequence[str]) -> int:
        if not isinstance(label, str) or not label.isidentifier():
            raise ArchError(f"custom space: choice label {label!r} must be an identifier")
        if label in self.declared:
            raise ArchError(f"custom space: the label '{label}' is declared twice")
        if len(options) < 1:
            raise ArchError(f"custom space: choice '{label}' has no options")
        self.declared[label] = tuple(names)
        self._values[label] = tuple(options)
        return self.fixed.get(label, 0)

    def value(self, label: str, options: Sequence[Any]) -> Any:
        """One of `options` (widths, kernel sizes, ...)."""
        return options[self._pick(label, options, [str(o) for o in options])]

    def layer(self, label: str, candidates: dict[str, Callable[[], Any]]) -> Any:
        """The module built by the chosen factory among `candidates` (name -> factory)."""
        names = list(candidates)
        return candidates[names[self._pick(label, names, names)]]()

    def input(self, label: str, n_candidates: int, n_chosen: int = 1) -> int | tuple[int, ...]:
        """Which of `n_candidates` earlier tensors to use: an index, or a sorted tuple of
        `n_chosen` indices."""
        if n_chosen == 1:
            return self._pick(label, range(n_candidates), [str(i) for i in range(n_candidates)])
        combos = list(itertools.combinations(range(n_candidates), n_chosen))
        return combos[self._pick(label, combos, ["+".join(map(str, c)) for c in combos])]


class SupernetChoices(Choices):
    """What a builder receives when nascli builds its weight-sharing supernet: every layer choice
    holds all its candidates (a MixedLayer); value and input choices cannot share weights."""

    def __init__(self) -> None:
        super().__init__()
        self.layers: list[Any] = []

    def layer(self, label: str, candidates: dict[str, Callable[[], Any]]) -> Any:
        from nascli.nn.supernet import MixedLayer

        names = list(candidates)
        self._pick(label, names, names)
        self.layers.append(MixedLayer(label, [candidates[n]() for n in names]))
        return self.layers[-1]

    def _no_sharing(self, label: str, kind: str) -> None:
        raise NascliError(
            f"space=custom: one-shot strategies share weights across layer choices only; "
            f"'{label}' is {kind} choice: fix it in the builder or use a sample-based strategy"
        )

    def value(self, label: str, options: Sequence[Any]) -> Any:
        self._no_sharing(label, "a value")

    def input(self, label: str, n_candidates: int, n_chosen: int = 1) -> int | tuple[int, ...]:
        self._no_sharing(label, "an input")
        raise AssertionError  # unreachable


def load_builder(spec: str) -> Callable[..., Any]:
    """`package.module:function` or `path/to/file.py:function`."""
    module_name, sep, attr = str(spec).rpartition(":")
    if not sep or not module_name or not attr:
        raise NascliError(
            f"space.builder={spec}: write module:function or path/to/file.py:function"
        )
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).expanduser().resolve()
            if not path.is_file():
                raise NascliError(f"space.builder={spec}: {path} is not a file")
            loader = importlib.util.spec_from_file_location(f"nascli_custom_{path.stem}", path)
            assert loader is not None and loader.loader is not None
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except NascliError:
        raise
    except Exception as exc:
        raise NascliError(
            f"space.builder={spec}: cannot import {module_name} ({type(exc).__name__}: {exc})"
        ) from exc
    builder = getattr(module, attr, None)
    if not callable(builder):
        raise NascliError(f"space.builder={spec}: {module_name} has no function {attr}")
    return builder


class CustomSpace(Space):
    """Args: builder (module:function or file.py:function); input_shape and num_classes used
    to discover the choices (any shape the builder accepts)."""

    name = "custom"
    runs_code = True

    def __init__(
        self,
        builder: str,
        probe_shape: Sequence[int] = (3, 32, 32),
        probe_classes: int = 10,
    ) -> None:
        self.builder_spec = builder
        self.builder = load_builder(builder)
        probe = Choices()
        self._call(probe, probe_shape, probe_classes)
        if not probe.declared:
            raise NascliError(f"space.builder={builder} declares no choices; nothing to search")
        self.labels = list(probe.declared)
        self.options = [probe.declared[label] for label in self.labels]

    def _call(self, choices: Choices, input_shape: Sequence[int], num_classes: int) -> Any:
        try:
            return self.builder(choices, tuple(input_shape), num_classes)
        except (ArchError, NascliError):
            raise
        except Exception as exc:
            raise NascliError(
                f"space.builder={self.builder_spec} failed: {type(exc).__name__}: {exc}"
            ) from exc

    @property
    def cardinalities(self) -> Sequence[int]:
        return [len(o) for o in self.options]

    def parse(self, text: str) -> tuple[int, ...]:
        if not isinstance(text, str):
            raise ArchError(f"custom arch must be a string, got {type(text).__name__}")
        pairs = [p for p in text.strip().split(",")] if text.strip() else []
        if len(pairs) != len(self.labels):
            raise ArchError(
                f"custom arch '{text}': expected {len(self.labels)} label=option pairs "
                f"({', '.join(self.labels)}), found {len(pairs)}"
            )
        out = []
        for label, names, pair in zip(self.labels, self.options, pairs, strict=True):
            key, sep, value = pair.partition("=")
            if key != label or not sep:
                raise ArchError(
                    f"custom arch: '{pair}' should be {label}=<one of {', '.join(names)}>"
                )
            if value not in names:
                raise ArchError(f"custom arch: {label}={value} is not one of {', '.join(names)}")
            out.append(names.index(value))
        return tuple(out)

    def format(self, indices: Sequence[int]) -> str:
        return ",".join(
            f"{label}={names[i]}"
            for label, names, i in zip(self.labels, self.options, indices, strict=True)
        )

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        fixed = dict(zip(self.labels, self.parse(arch), strict=True))
        choices = Choices(fixed)
        net = self._call(choices, input_shape, num_classes)
        if list(choices.declared) != self.labels:
            raise ArchError(
                f"space.builder={self.builder_spec} declared {list(choices.declared)} for {arch}, "
                f"but {self.labels} when discovered: declare every choice on every build"
            )
        return net

    # -- weight sharing: layer choices mixed (DARTS, GDAS) or sampled (SPOS, ENAS) ------------
    def supernet(self, input_shape: Sequence[int], num_classes: int, partial: int = 1) -> Any:
        from nascli.spaces.custom.supernet import CustomSupernet

        if partial != 1:
            raise NascliError(
                "space=custom has no partial-channel supernet (strategy=pcdarts); use darts, gdas, spos or enas"
            )
        choices = SupernetChoices()
        body = self._call(choices, input_shape, num_classes)
        return CustomSupernet(body, choices.layers, input_shape, num_classes)

    def derive(self, weights: dict[str, list[list[float]]], max_skip: int | None = None) -> str:
        """The strongest candidate of every layer choice."""
        return self.format(
            [
                max(range(len(weights[label][0])), key=weights[label][0].__getitem__)
                for label in self.labels
            ]
        )

    def path(self, arch: str) -> dict[str, list[list[int]]]:
        return {label: [[i]] for label, i in zip(self.labels, self.parse(arch), strict=True)}

    def normal_ops(self, arch: str) -> list[str]:
        return [names[i] for names, i in zip(self.options, self.parse(arch), strict=True)]
