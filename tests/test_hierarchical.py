"""space=hierarchical: Liu et al.'s motifs of motifs, as text, as a flat DAG, and as a network."""

from __future__ import annotations

import random

import pytest
import torch

from nascli.core.space import ArchError
from nascli.spaces.hierarchical import HierarchicalSpace, alive
from tests.conftest import run_nas


def test_text_round_trips_and_bad_text_is_named():
    space = HierarchicalSpace()
    arch = space.sample(random.Random(0))
    assert space.canonical(arch) == arch and arch.count(";") == 6
    assert len(space.cardinalities) == 6 * 6 + 10
    for bad, named in [
        (arch.rsplit(";", 1)[0], "expected 7 parts"),
        (arch.replace("m2=", "m9=", 1), "should start 'm2='"),
        (arch.replace("cell=", "cell=m7,", 1), "cell has 11 edges"),
        (arch.replace("m1=", "m1=conv5x5,", 1), "m1 has 7 edges"),
    ]:
        with pytest.raises(ArchError, match=named):
            space.parse(bad)
    with pytest.raises(ArchError, match="'conv5x5' is not one of"):
        space.parse(arch.replace(arch.split("=")[1].split(",")[0], "conv5x5", 1))


def test_mutation_reaches_both_levels():
    space, rng = HierarchicalSpace(), random.Random(1)
    arch, levels = space.sample(rng), set()
    motif_part = len(space.cardinalities) - len(space.cell_edges)
    for _ in range(60):
        child = space.mutate(arch, rng)
        changed = [
            k
            for k, (a, b) in enumerate(zip(space.encode(arch), space.encode(child), strict=True))
            if a != b
        ]
        assert len(changed) == 1
        levels.add(2 if changed[0] < motif_part else 3)
    assert levels == {2, 3}


def test_the_flat_dag_expands_each_motif_copy_in_topological_order():
    space = HierarchicalSpace(motifs=2, motif_nodes=3, cell_nodes=3, channels=4, stages=1)
    # m1 is sep3x3 then id; the cell is m1 then m1 again (its (0, 2) edge is none).
    arch = "m1=sep3x3,none,id;m2=id,id,id;cell=m1,none,m1"
    assert space.flat_text(arch) == "0>1:sep3x3 1>2:id 2>3:sep3x3 3>4:id"
    assert space.describe(arch) == {"flat": space.flat_text(arch), "flat_nodes": 5, "flat_edges": 4}
    # Renaming the motifs changes the text, not the network.
    renamed = "m1=id,id,id;m2=sep3x3,none,id;cell=m2,none,m2"
    assert space.iso_key(renamed) == space.iso_key(arch) and renamed != arch


def test_edges_off_every_input_to_output_path_are_not_built():
    assert alive([(0, 1), (0, 2), (1, 2)], ["id", "none", "id"], 3) == [True, False, True]
    assert alive([(0, 1), (0, 2), (1, 2)], ["none", "id", "id"], 3) == [False, True, False]
    space = HierarchicalSpace(motifs=2, motif_nodes=3, cell_nodes=3, channels=4, stages=1)
    # m2 never reaches its output: the cell's edge that uses it computes nothing.
    dead = "m1=sep3x3,none,id;m2=conv1x1,none,none;cell=m1,m2,m1"
    plain = "m1=sep3x3,none,id;m2=conv1x1,none,none;cell=m1,none,m1"
    assert space.flat(dead) == space.flat(plain)
    params = [
        sum(p.numel() for p in space.build(a, (1, 8, 8), 10).parameters()) for a in (dead, plain)
    ]
    assert params[0] == params[1]
    torch.manual_seed(0)
    a = space.build(dead, (1, 8, 8), 10).eval()
    torch.manual_seed(0)
    b = space.build(plain, (1, 8, 8), 10).eval()
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(a(x), b(x))
    nothing = "m1=none,none,none;m2=none,none,none;cell=m1,m2,m1"
    net = space.build(nothing, (1, 8, 8), 10)
    assert net(x).shape == (2, 10) and space.flat(nothing) == []


def test_a_search_trains_hierarchical_networks(tmp_path):
    out = run_nas(
        "search", "space=hierarchical", "space.channels=4", "space.stages=2", "strategy=evolution",
        "strategy.population=2", "strategy.sample_size=1", "search.trials=3", "estimator.epochs=1",
        "logger=none", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "run" / "best.json").is_file()
