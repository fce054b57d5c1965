"""Function-preserving morphisms of the chain space, on its text and on its networks.

On the text, a morphism changes one slot: deepen (`id` -> the smallest kernel at the width of
the layer's input), widen (a larger width), skip (add `s`), kernel (a larger kernel). On a
network, each has an operator that leaves the function unchanged (in eval mode; up to float
rounding):

- deepen: a layer whose conv is the identity (the centre tap of each channel's own kernel is
  1) and whose batch-norm passes its input through (running mean 0, running variance 1 - eps,
  weight 1, bias 0); its ReLU changes nothing, since every layer's input is non-negative.
- widen (Net2WiderNet, Chen et al. 2016): the new units copy randomly chosen old ones (conv
  filters, batch-norm statistics and affine parameters, skip projection); the next layer (or
  the classifier) divides each old unit's outgoing weights among its copies, plus noise that
  sums to zero over the copies, which breaks their symmetry and cancels in the output.
- skip: a 1x1 projection initialised to zero.
- kernel: the kernel zero-padded to the larger size.

`grow` takes a trained parent network to any child its morphisms reach: first every deepening
(at the parent's widths), then kernels and skips, then widening from the input side on. Which
order a strategy drew its morphisms in does not matter: they reach the same architecture, and
the network computes the parent's function either way.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from nascli.core.space import ArchError
from nascli.spaces.chain.net import ChainLayer, ChainNetwork
from nascli.spaces.chain.slot import Slot

KINDS = ("deepen", "widen", "skip", "kernel")


@dataclass(frozen=True)
class Morphism:
    kind: str
    stage: int
    slot: int
    becomes: Slot


def morphisms(space: Any, arch: str) -> list[Morphism]:
    """Every single morphism that applies to `arch`."""
    out: list[Morphism] = []
    width = space.stem  # the width of the input of the slot being looked at
    for s, stage in enumerate(space.layout(arch)):
        for i, slot in enumerate(stage):
            if slot is None:
                out.append(Morphism("deepen", s, i, Slot(space.kernels[0], width)))
                continue
            out += [
                Morphism("widen", s, i, replace(slot, width=w))
                for w in space.widths
                if w > slot.width
            ]
            if not slot.skip:
                out.append(Morphism("skip", s, i, replace(slot, skip=True)))
            out += [
                Morphism("kernel", s, i, replace(slot, kernel=k))
                for k in space.kernels
                if k > slot.kernel
            ]
            width = slot.width
    return out


def apply(space: Any, arch: str, morphism: Morphism) -> str:
    layout = space.layout(arch)
    layout[morphism.stage][morphism.slot] = morphism.becomes
    return space.format([space.options.index(slot) for stage in layout for slot in stage])


def random_morphism(space: Any, arch: str, rng: random.Random) -> str:
    """A kind of morphism that applies, uniformly, then one of that kind, uniformly."""
    found = morphisms(space, arch)
    kinds = [k for k in KINDS if any(m.kind == k for m in found)]
    if not kinds:
        return arch
    kind = rng.choice(kinds)
    return apply(space, arch, rng.choice([m for m in found if m.kind == kind]))


# -- the operators on networks -------------------------------------------------------------
def identity_layer(channels: int, kernel: int) -> ChainLayer:
    layer = ChainLayer(channels, channels, kernel, skip=False)
    with torch.no_grad():
        layer.conv.weight.zero_()
        centre = kernel // 2
        for c in range(channels):
            layer.conv.weight[c, c, centre, centre] = 1.0
        layer.bn.weight.fill_(1.0)
        layer.bn.bias.zero_()
        layer.bn.running_mean.zero_()
        layer.bn.running_var.fill_(1.0 - layer.bn.eps)
    return layer


def add_skip(layer: ChainLayer) -> None:
    layer.proj = nn.Conv2d(layer.conv.in_channels, layer.width, 1, bias=False)
    nn.init.zeros_(layer.proj.weight)


def enlarge_kernel(layer: ChainLayer, kernel: int) -> None:
    old, pad = layer.conv, (kernel - layer.kernel) // 2
    conv = nn.Conv2d(old.in_channels, old.out_channels, kernel, padding=kernel // 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(nn.functional.pad(old.weight, (pad, pad, pad, pad)))
    layer.conv = conv


def _rows(module: nn.Module, name: str, idx: torch.Tensor) -> None:
    """Replace `module.<name>` (a parameter or buffer) by its rows `idx`."""
    value = getattr(module, name)
    picked = value.detach()[idx].clone()
    if isinstance(value, nn.Parameter):
        setattr(module, name, nn.Parameter(picked))
    else:
        module.register_buffer(name, picked)


def _divide_inputs(
    module: nn.Conv2d | nn.Linear, idx: torch.Tensor, gen: torch.Generator, noise: float
) -> nn.Conv2d | nn.Linear:
    """`module`'s input columns for the widened units: each old column divided among its copies,
    plus noise that sums to zero over each old unit's copies."""
    w = module.weight.detach()
    counts = torch.bincount(idx, minlength=w.shape[1]).to(w.dtype)
    shape = [1, -1] + [1] * (w.dim() - 2)
    new = w[:, idx] / counts[idx].view(shape)
    jitter = torch.randn(new.shape, generator=gen, dtype=w.dtype) * noise * float(w.std())
    means = torch.zeros_like(w).index_add_(1, idx, jitter) / counts.view(shape)
    new = new + jitter - means[:, idx]
    if isinstance(module, nn.Linear):
        out = nn.Linear(new.shape[1], module.out_features, bias=module.bias is not None)
    else:
        out = nn.Conv2d(
            new.shape[1],
            module.out_channels,
            module.kernel_size,
            padding=module.padding,
            bias=False,
        )
    with torch.no_grad():
        out.weight.copy_(new)
        if module.bias is not None:
            out.bias.copy_(module.bias.detach())
    return out


def widen(
    layer: ChainLayer,
    consumer: ChainLayer | nn.Linear,
    width: int,
    rng: random.Random,
    noise: float = 0.01,
) -> nn.Linear | None:
    """Widen `layer` to `width` units and `consumer` (the next layer or the classifier) to
    match; returns the classifier's replacement when the consumer is the classifier."""
    old = layer.width
    idx = torch.tensor(list(range(old)) + [rng.randrange(old) for _ in range(width - old)])
    gen = torch.Generator().manual_seed(rng.randrange(2**31))
    layer.conv.out_channels = width
    _rows(layer.conv, "weight", idx)
    for name in ("weight", "bias", "running_mean", "running_var"):
        _rows(layer.bn, name, idx)
    layer.bn.num_features = width
    if layer.proj is not None:
        _rows(layer.proj, "weight", idx)
        layer.proj.out_channels = width
    if isinstance(consumer, nn.Linear):
        return _divide_inputs(consumer, idx, gen, noise)
    for name in ("conv", "proj"):
        if (module := getattr(consumer, name)) is not None:
            setattr(consumer, name, _divide_inputs(module, idx, gen, noise))
    return None


def grow(
    space: Any, parent: str, parent_net: ChainNetwork, child: str, rng: random.Random
) -> ChainNetwork:
    """`child`'s network from `parent_net` (left as it is), computing the same function."""
    net = copy.deepcopy(parent_net)
    targets: list[tuple[ChainLayer, Slot]] = []
    width = space.stem
    for s, (was, becomes) in enumerate(zip(space.layout(parent), space.layout(child), strict=True)):
        kept = iter(net.stages[s])
        layers = []
        for i, (a, b) in enumerate(zip(was, becomes, strict=True)):
            where = f"stage {s} slot {i}"
            if b is None:
                if a is not None:
                    raise ArchError(f"{child} does not grow from {parent}: {where} loses its layer")
                continue
            if a is None:
                if b.width < width:
                    raise ArchError(
                        f"{child} does not grow from {parent}: {where} is narrower than its input"
                    )
                layer = identity_layer(width, space.kernels[0])
            else:
                if b.kernel < a.kernel or b.width < a.width or (a.skip and not b.skip):
                    raise ArchError(
                        f"{child} does not grow from {parent}: {where} {a} -> {b} shrinks"
                    )
                layer, width = next(kept), a.width
            layers.append(layer)
            targets.append((layer, b))
        net.stages[s] = nn.ModuleList(layers)
    for layer, slot in targets:
        if layer.kernel < slot.kernel:
            enlarge_kernel(layer, slot.kernel)
        if slot.skip and layer.proj is None:
            add_skip(layer)
    for i, (layer, slot) in enumerate(targets):
        if layer.width < slot.width:
            consumer = targets[i + 1][0] if i + 1 < len(targets) else net.classifier
            classifier = widen(layer, consumer, slot.width, rng)
            if classifier is not None:
                net.classifier = classifier
    return net
