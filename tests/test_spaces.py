"""Properties every search space keeps (add each new space to SPACES)."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nascli.core.space import ArchError
from nascli.spaces.attention import AttentionSpace
from nascli.spaces.chain import ChainSpace
from nascli.spaces.custom import CustomSpace
from nascli.spaces.darts import DartsSpace
from nascli.spaces.hierarchical import HierarchicalSpace
from nascli.spaces.macro import MacroSpace
from nascli.spaces.mobilenet import MobileNetSpace
from nascli.spaces.nb201 import NB201Space

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "tiny_space.py") + ":build"
SPACES = [
    NB201Space(),
    DartsSpace(),
    MobileNetSpace(),
    MacroSpace(),
    ChainSpace(),
    HierarchicalSpace(),
    CustomSpace(EXAMPLE, (1, 8, 8), 10),
    AttentionSpace(mixers=("attention", "conv", "identity")),
]


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
@settings(max_examples=150, deadline=None)
@given(seed_a=st.integers(0, 2**32), seed_b=st.integers(0, 2**32), seed=st.integers(0, 2**32))
def test_text_round_trips_and_operators_stay_in_the_space(space, seed_a, seed_b, seed):
    rng = random.Random(seed)
    a, b = space.sample(random.Random(seed_a)), space.sample(random.Random(seed_b))
    assert space.canonical(a) == a == space.decode(space.encode(a))
    vector = space.vector(a)
    assert len(vector) == sum(space.cardinalities) and sum(vector) == len(space.cardinalities)
    mutant = space.mutate(a, rng)
    assert sum(x != y for x, y in zip(space.encode(a), space.encode(mutant), strict=True)) == 1
    assert mutant in space.neighbours(a)
    child = space.crossover(a, b, rng)
    assert all(
        c in (x, y)
        for c, x, y in zip(space.encode(child), space.encode(a), space.encode(b), strict=True)
    )


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), noise=st.text(max_size=8), where=st.floats(0, 1))
def test_parsers_raise_only_arch_error_on_damaged_text(space, seed, noise, where):
    """A valid text with a random stretch replaced: parsed, or refused with ArchError only."""
    text = space.sample(random.Random(seed))
    cut = int(where * len(text))
    damaged = text[:cut] + noise + text[cut + len(noise) // 2 + 1 :]
    for candidate in (damaged, noise, damaged.upper()):
        with contextlib.suppress(ArchError):  # any other exception fails the test
            space.parse(candidate)
