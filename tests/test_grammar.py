"""space=grammar: a context-free grammar as a search space; its NAS-Bench-201 grammar derives
exactly NAS-Bench-201's cells and networks."""

from __future__ import annotations

import contextlib
import random
import re
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nascli.core.space import ArchError
from nascli.spaces.grammar import GrammarSpace, read_tree
from nascli.spaces.nb201 import NB201Space
from tests.conftest import assert_one_line_error, run_nas

ROOT = Path(__file__).resolve().parents[1]
NB201_GRAMMAR = str(ROOT / "examples" / "grammars" / "nb201.yaml")
SMALL = {
    "start": "block",
    "rules": {
        "block": ["sequential(motif, motif)", "residual(motif)"],
        "motif": ["branch(op, op)", "sequential(op, op)", "op"],
        "op": ["conv3x3", "sep3x3", "max3x3", "id", "zero"],
    },
}


def _as_nb201(arch: str) -> str:
    """cell4(e1, ..., e6) as NAS-Bench-201's text."""
    e = [str(c) for c in read_tree(arch, "test")[1]]
    return f"|{e[0]}~0|+|{e[1]}~0|{e[2]}~1|+|{e[3]}~0|{e[4]}~1|{e[5]}~2|"


def test_the_nb201_grammar_derives_exactly_nb201s_cells_and_networks():
    grammar = GrammarSpace(file=NB201_GRAMMAR, skeleton="nb201", channels=8, cells_per_stage=2)
    nb201 = NB201Space(channels=8, cells_per_stage=2)
    assert list(grammar.cardinalities) == [5] * 6
    derived = [_as_nb201(a) for a in grammar.enumerate()]
    assert len(derived) == len(set(derived)) == 15625
    assert set(derived) == set(nb201.enumerate())
    x = torch.rand(2, 3, 8, 8)
    for arch in random.Random(0).sample(list(grammar.enumerate()), 4):
        ours, theirs = (
            grammar.build(arch, (3, 8, 8), 10),
            nb201.build(_as_nb201(arch), (3, 8, 8), 10),
        )
        assert {k: v.shape for k, v in ours.state_dict().items()} == {
            k: v.shape for k, v in theirs.state_dict().items()
        }
        ours.load_state_dict(theirs.state_dict())
        assert torch.equal(ours.eval()(x), theirs.eval()(x))


def test_derivations_round_trip_mutate_by_subtree_and_stay_in_the_grammar():
    space, rng = GrammarSpace(SMALL, channels=4, stages=2), random.Random(0)
    seen = set()
    for _ in range(40):
        arch = space.sample(rng)
        seen.add(arch)
        assert space.canonical(arch) == arch == space.decode(space.encode(arch))
        child = space.mutate(arch, rng)
        assert child != arch and space.canonical(child) == child
        for n in space.neighbours(arch)[:5]:
            assert space.canonical(n) == n != arch
        assert space.build(arch, (1, 8, 8), 10)(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    assert len(seen) > 20
    # Choices past a nonterminal's alternatives wrap around: any choice list is an architecture.
    wrapped = space.format([4] * len(space.cardinalities))
    assert space.canonical(wrapped) == wrapped
    with pytest.raises(ArchError, match="nested deeper"):
        space.parse("residual(" * 200 + "id" + ")" * 200)


def test_zero_makes_a_path_nothing():
    space = GrammarSpace(SMALL, channels=4, stages=1)
    x = torch.rand(2, 1, 8, 8)
    net = space.build("sequential(sequential(zero, conv3x3), branch(id, zero))", (1, 8, 8), 10)
    assert torch.allclose(net.eval()(x), net.classifier.bias.expand(2, 10))
    residual = space.build("residual(sequential(zero, id))", (1, 8, 8), 10)
    assert sum(p.numel() for p in residual.cells.parameters()) == 0


@pytest.mark.parametrize(
    "grammar, named",
    [
        ({"start": "a", "rules": {"b": ["id"]}}, "start symbol"),
        ({"start": "a", "rules": {"a": ["conv9x9"]}}, "'conv9x9' is neither"),
        ({"start": "a", "rules": {"a": ["cell4(id, id)"]}}, "cell4 takes 6 arguments"),
        ({"start": "a", "rules": {"a": ["wrap(id)"]}}, "'wrap' is not a combinator"),
        ({"start": "a", "rules": {"a": ["sequential(a, a)"]}}, "cannot end"),
        ({"start": "a", "rules": {"a": ["sequential(id,"]}}, "'(' without ')'"),
    ],
)
def test_a_bad_grammar_is_named(grammar, named):
    with pytest.raises(ArchError, match=re.escape(named)):
        GrammarSpace(grammar)


def test_text_the_grammar_does_not_derive_is_refused():
    space = GrammarSpace(SMALL)
    for bad in ("conv3x3", "residual(conv3x3, id)", "sequential(branch(id, id), zero, id)"):
        with pytest.raises(ArchError, match="is not derived by space.grammar"):
            space.parse(bad)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), noise=st.text(max_size=8), where=st.floats(0, 1))
def test_the_parser_raises_only_arch_error_on_damaged_text(seed, noise, where):
    space = GrammarSpace(SMALL)
    text = space.sample(random.Random(seed))
    cut = int(where * len(text))
    for candidate in (text[:cut] + noise + text[cut + 1 :], noise):
        with contextlib.suppress(ArchError):
            space.parse(candidate)


def test_a_grammar_file_is_read_as_data(tmp_path):
    (tmp_path / "tagged.yaml").write_text("start: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ArchError, match="is not YAML"):
        GrammarSpace(file=str(tmp_path / "tagged.yaml"))
    with pytest.raises(ArchError, match="cannot be read"):
        GrammarSpace(file=str(tmp_path / "missing.yaml"))


def test_searches_on_grammar_spaces(tmp_path):
    out = run_nas(
        "search", "space=grammar", "space.channels=4", "space.stages=2", "strategy=evolution",
        "strategy.population=2", "strategy.sample_size=1", "search.trials=3",
        "estimator.epochs=1", "logger=none", f"hydra.run.dir={tmp_path}/a", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = run_nas(
        "search", "space=grammar", f"space.file={NB201_GRAMMAR}", "space.skeleton=nb201",
        "space.channels=4", "estimator=zerocost", "search.trials=3", "logger=none",
        f"hydra.run.dir={tmp_path}/b", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = run_nas("search", "space=grammar", "space.file=/nonexistent.yaml", cwd=tmp_path)
    assert_one_line_error(out, "space.file=/nonexistent.yaml")
