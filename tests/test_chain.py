"""space=chain and its morphisms: the text, and that every morphism keeps the network's function."""

from __future__ import annotations

import random

import pytest
import torch

from nascli.core.space import ArchError
from nascli.spaces.chain import ChainSpace
from nascli.spaces.chain.morphism import KINDS, apply, grow, morphisms
from nascli.trials.weights import inherited_network, save_weights, weights_file

SHAPE = (3, 8, 8)


def _space() -> ChainSpace:
    return ChainSpace(stages=2, slots=3, kernels=[3, 5], widths=[4, 8, 16], stem=4)


def _trained(space: ChainSpace, arch: str) -> torch.nn.Module:
    """A network of `arch` after a few steps, so that its batch-norm statistics are not the
    defaults (an identity batch-norm must hold for any statistics)."""
    torch.manual_seed(0)
    net = space.build(arch, SHAPE, 10)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x = torch.rand(16, *SHAPE)
    for _ in range(3):
        loss = net(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def _same_function(a: torch.nn.Module, b: torch.nn.Module) -> float:
    x = torch.rand(8, *SHAPE)
    with torch.no_grad():
        return (a.eval()(x) - b.eval()(x)).abs().max().item()


def test_text_round_trips_and_iso_key_drops_the_id_slots():
    space = _space()
    arch = "k3w4,id,k5w8s|id,k3w16,id"
    assert space.canonical(f" {arch} ") == arch
    assert space.cardinalities == [1 + 2 * 3 * 2] * 6
    assert space.iso_key(arch) == space.iso_key("k3w4,k5w8s,id|k3w16,id,id") == "k3w4,k5w8s|k3w16"
    assert space.iso_key(arch) != space.iso_key("k3w4,k5w8s,id|id,id,k3w16s")
    for bad, named in [
        ("k3w4,id|id,id,id", "stage 0 has 2 slots"),
        ("k3w4,id,id", "expected 2 stages"),
        ("k3w4,id,id|k7w4,id,id", "kernel 7"),
        ("k3w4,id,id|k3w32,id,id", "width 32"),
        ("k3w4,id,id|conv,id,id", "'conv'"),
    ]:
        with pytest.raises(ArchError, match=named):
            space.parse(bad)
    with pytest.raises(ArchError, match="space.stem"):
        ChainSpace(widths=[8, 16], stem=4)
    with pytest.raises(ArchError, match="odd"):
        ChainSpace(kernels=[2, 3])


def test_a_network_is_built_with_the_layers_its_text_names():
    space = _space()
    net = space.build("k3w4,id,k5w8s|id,k3w16,id", SHAPE, 10)
    layers = [layer for stage in net.stages for layer in stage]
    assert [(la.kernel, la.width, la.proj is not None) for la in layers] == [
        (3, 4, False),
        (5, 8, True),
        (3, 16, False),
    ]
    assert net(torch.rand(2, *SHAPE)).shape == (2, 10)
    assert net.classifier.in_features == 16


@pytest.mark.parametrize("kind", KINDS)
def test_every_morphism_keeps_the_function(kind):
    """Each operator, at every slot it applies to, on a trained network with skips (whose
    widening divides a projection's inputs too) and the classifier as the last consumer."""
    space = _space()
    parent = "k3w4s,id,k3w8|id,k5w8s,id"
    net = _trained(space, parent)
    found = [m for m in morphisms(space, parent) if m.kind == kind]
    assert found
    for m in found:
        child = apply(space, parent, m)
        grown = grow(space, parent, net, child, random.Random(1))
        assert _same_function(net, grown) < 1e-5, (m, child)
        # The grown network is the child's, parameter for parameter.
        fresh = space.build(child, SHAPE, 10)
        fresh.load_state_dict(grown.state_dict())
        assert _same_function(fresh, grown) == 0.0


def test_a_sequence_of_morphisms_in_any_order_keeps_the_function():
    space, rng = _space(), random.Random(3)
    for _ in range(5):
        parent = space.morphism_start()
        for _ in range(rng.randint(1, 4)):
            parent = space.morph(parent, rng)
        child = parent
        for _ in range(rng.randint(1, 5)):
            child = space.morph(child, rng)
        net = _trained(space, parent)
        assert _same_function(net, space.inherit(parent, net, child, rng)) < 1e-5, (parent, child)


def test_widening_breaks_the_symmetry_of_the_copies():
    """The copies' outgoing weights differ (noise that cancels in the output), so training can
    tell them apart."""
    space = _space()
    parent, child = "k3w4,id,id|k3w4,id,id", "k3w16,id,id|k3w4,id,id"
    grown = grow(space, parent, _trained(space, parent), child, random.Random(0))
    incoming = grown.stages[1][0].conv.weight.detach()  # [4 out, 16 in, 3, 3]
    columns = incoming.transpose(0, 1).flatten(1)  # what each of the 16 units feeds forward
    assert len({tuple(c.tolist()) for c in columns}) == 16


def test_a_child_that_shrinks_is_refused_and_nothing_grows_past_the_largest():
    space = _space()
    net = _trained(space, "k5w8,id,id|k3w8,id,id")
    for child, named in [
        ("k3w8,id,id|k3w8,id,id", "shrinks"),
        ("id,id,id|k3w8,id,id", "loses its layer"),
        ("k5w8,k3w4,id|k3w8,id,id", "narrower than its input"),
    ]:
        with pytest.raises(ArchError, match=named):
            space.inherit("k5w8,id,id|k3w8,id,id", net, child, random.Random(0))
    largest = "|".join([",".join(["k5w16s"] * 3)] * 2)
    assert morphisms(space, largest) == []
    assert space.morph(largest, random.Random(0)) == largest


def test_weights_are_kept_per_function_and_a_child_grows_from_them(tmp_path):
    space = _space()
    parent, child = "k3w4,id,id|k3w8,id,id", "k3w4,k3w4,id|k5w8s,id,id"
    assert weights_file(tmp_path, space, parent) == weights_file(
        tmp_path, space, "id,k3w4,id|id,id,k3w8"
    )
    net = _trained(space, parent)
    save_weights(tmp_path, space, parent, net)
    grown = inherited_network(space, parent, child, tmp_path, SHAPE, 10, seed=0)
    assert _same_function(net, grown) < 1e-5


def test_weights_that_are_not_a_state_dict_of_tensors_are_refused(tmp_path):
    """The weights folder is read from a run directory: a pickle that would run code is refused."""
    from nascli.core.errors import NascliError

    space = _space()
    parent = "k3w4,id,id|k3w8,id,id"

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"x": Payload()}, weights_file(tmp_path, space, parent))
    with pytest.raises(NascliError, match="not a state dict of tensors"):
        inherited_network(space, parent, "k3w8,id,id|k3w8,id,id", tmp_path, SHAPE, 10, seed=0)
    with pytest.raises(NascliError, match="is missing"):
        inherited_network(space, "k5w4,id,id|k3w8,id,id", parent, tmp_path, SHAPE, 10, seed=0)
