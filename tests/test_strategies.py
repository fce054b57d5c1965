"""Strategy mechanics (sample-based, ask/tell)."""

from __future__ import annotations

import json

from nascli.spaces.nb201 import NB201Space
from nascli.strategies.random import RandomSearch


def test_random_search_proposes_no_duplicate_while_unseen_remain():
    strategy = RandomSearch(NB201Space(), seed=0)
    proposed = [strategy.ask() for _ in range(500)]
    assert len(set(proposed)) == 500


def test_random_search_is_seeded():
    a = [RandomSearch(NB201Space(), seed=1).ask() for _ in range(3)]
    b = [RandomSearch(NB201Space(), seed=1).ask() for _ in range(3)]
    c = [RandomSearch(NB201Space(), seed=2).ask() for _ in range(3)]
    assert a == b != c


def test_state_dict_is_json_and_resumes_the_same_sequence():
    strategy = RandomSearch(NB201Space(), seed=5)
    for _ in range(4):
        strategy.tell(strategy.ask(), {"val_acc": 0.5})
    state = json.loads(json.dumps(strategy.state_dict()))
    expected = [strategy.ask() for _ in range(5)]
    resumed = RandomSearch(NB201Space(), seed=999)
    resumed.load_state_dict(state)
    assert [resumed.ask() for _ in range(5)] == expected
