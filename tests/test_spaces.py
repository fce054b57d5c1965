"""Properties every search space keeps (add each new space to SPACES)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nascli.spaces.darts import DartsSpace
from nascli.spaces.macro import MacroSpace
from nascli.spaces.mobilenet import MobileNetSpace
from nascli.spaces.nb201 import NB201Space

SPACES = [NB201Space(), DartsSpace(), MobileNetSpace(), MacroSpace()]


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
