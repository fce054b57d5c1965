"""NAS-Bench-Graph: the space's canonical forms, the restricted unpickler, and searches on the
tables the nas-bench-graph package ships."""

from __future__ import annotations

import itertools
import json
import os
import pickle
import random

import numpy as np
import pytest

from nascli.core import safe_pickle
from nascli.core.errors import NascliError
from nascli.core.space import ArchError
from nascli.estimators.nbgraph import NBGraphEstimator, read_table, table_file
from nascli.spaces.nbgraph import OPS, PROTEINS_OPS, NBGraphSpace, canonical, row_number
from tests.conftest import assert_one_line_error

SAMPLE_BASED = ("random", "evolution", "local", "bo", "reinforce", "qlearning")


@pytest.fixture(scope="module")
def space():
    return NBGraphSpace()


@pytest.fixture(scope="module")
def cora():
    return read_table("cora")


def test_every_text_canonicalises_as_the_benchmark_itself_does():
    """All 157,440 texts (24 link patterns x 9^4 ops, less four skips) against the package's
    own hashing of the same network."""
    from nas_bench_graph.architecture import Arch

    links_all = list(itertools.product(range(1), range(2), range(3), range(4)))
    for links in links_all:
        for ops in itertools.product(OPS, repeat=4):
            if set(ops) == {"skip"}:
                continue
            theirs = Arch(list(links), list(ops)).valid_hash()
            assert row_number(*canonical(links, ops)) == theirs, (links, ops)


@pytest.mark.parametrize("ops, count", [(None, 26_206), (PROTEINS_OPS, 2_021)])
def test_the_unique_networks_are_exactly_the_rows_of_the_tables(ops, count):
    space = NBGraphSpace(ops=ops)
    unique = list(space.enumerate())
    assert len(unique) == count == space.count_unique()
    rows = read_table("proteins" if ops else "cora")
    assert {space.table_key(a) for a in unique} == set(rows)
    assert all(space.canonical(a) == a for a in unique[::97])


def test_two_orderings_of_one_network_are_one_text_and_one_row(space, cora):
    # gcn, skip and fc read the input, gat reads gcn -- then the same nodes numbered 2, 1, 4, 3
    a = space.canonical("0010:gcn-skip-gat-fc")
    b = space.canonical("0002:skip-gcn-fc-gat")
    assert a == b
    assert space.table_key("0010:gcn-skip-gat-fc") == space.table_key("0002:skip-gcn-fc-gat")
    assert space.table_key(a) in cora
    # a chain differs from two branches
    assert space.canonical("0123:gcn-gat-fc-sage") != space.canonical("0000:gcn-gat-fc-sage")


@pytest.mark.parametrize(
    "text, says",
    [
        ("0123:fc-gat-fc", "four input indices"),
        ("0133:fc-gat-fc-gin", "node 3 reads node 3"),
        ("0123:fc-gat-fc-gpt", "unknown op 'gpt'"),
        ("0123:skip-skip-skip-skip", "four skips"),
        ("x" * 10_000, "expected four input indices"),
    ],
)
def test_bad_texts_are_refused_naming_the_part(space, text, says):
    with pytest.raises(ArchError, match=says) as err:
        space.canonical(text)  # what every command reads an arch= with
    assert len(str(err.value)) < 300


def test_proteins_ops_refuse_the_other_ops():
    with pytest.raises(ArchError, match="unknown op 'gat'"):
        NBGraphSpace(ops=PROTEINS_OPS).parse("0123:gat-gcn-fc-skip")


def test_moves_stay_in_the_benchmark_and_change_the_network(space, cora):
    rng = random.Random(0)
    arch = space.sample(rng)
    for _ in range(300):
        child = space.mutate(arch, rng)
        assert child != arch and space.table_key(child) in cora
        other = space.sample(rng)
        assert space.table_key(other) in cora
        assert space.table_key(space.crossover(child, other, rng)) in cora
        arch = child
    near = space.neighbours(arch)
    assert len(near) == len(set(near)) and arch not in near
    assert all(space.canonical(n) == n for n in near)
    assert len(space.vector(arch)) == 1 + 2 + 3 + 4 + 4 * len(OPS)


def test_the_unpickler_refuses_any_other_class(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    bad = tmp_path / "cora.bench"
    bad.write_bytes(pickle.dumps({0: {"valid_perf": Payload()}}))
    with pytest.raises(safe_pickle.RefusedPickle, match="builtins.print") as err:
        safe_pickle.load(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    # numpy arrays and object scalars are not table contents either
    with pytest.raises(safe_pickle.RefusedPickle):
        safe_pickle.loads(pickle.dumps(np.zeros(2)), "array")
    with pytest.raises(safe_pickle.RefusedPickle):
        safe_pickle.loads(pickle.dumps(np.dtype(object)), "dtype")
    kept = {"a": np.float64(0.5), "b": np.int32(3), "c": {1, 2}, "d": (1.5, "x", None)}
    assert safe_pickle.loads(pickle.dumps(kept), "ok") == kept


def test_a_tampered_table_is_refused_by_the_estimator(tmp_path):
    bad = tmp_path / "cora.bench"
    bad.write_bytes(pickle.dumps({0: {"valid_perf": ValueError("x")}}))
    with pytest.raises(NascliError, match="refused to unpickle builtins.ValueError"):
        NBGraphEstimator("cora", file=str(bad))


def test_a_table_is_parsed_once_and_again_when_its_file_changes(tmp_path):
    """Jobs of one sweep share a parse; a rewritten file is read anew, and callers get copies."""
    path = tmp_path / "cora.bench"

    def write(val):
        row = {"valid_perf": val, "perf": 0.5, "latency": 0.002, "para": np.float64(0.1)}
        path.write_bytes(pickle.dumps({0: row}))

    write(0.25)
    first = read_table("cora", str(path))
    first[0]["val_acc"] = -1.0  # a caller's change stays its own
    assert read_table("cora", str(path))[0]["val_acc"] == 0.25
    write(0.75)
    os.utime(path, ns=(1, 1))  # surely another mtime (and here the same size): parsed anew
    assert read_table("cora", str(path))[0]["val_acc"] == 0.75


def test_estimates_are_the_tables_values_in_nasclis_units(space, cora):
    raw = safe_pickle.load(table_file("cora"))
    est = NBGraphEstimator("cora")
    arch = "0123:fc-gat-fc-gin"
    row = raw[space.table_key(arch)]
    metrics = est.estimate(arch, None, None, 0, space=space)
    assert metrics == {
        "val_acc": float(row["valid_perf"]),
        "test_acc": float(row["perf"]),
        "latency_ms": round(float(row["latency"]) * 1000, 6),
        "params": round(float(row["para"]) * 1e6),
    }
    assert NBGraphEstimator.optimum({"dataset": "cora"}) == max(
        r["test_acc"] for r in cora.values()
    )
    assert est.oracle() == max(cora.values(), key=lambda r: r["val_acc"])


def test_the_estimator_refuses_other_spaces_and_datasets():
    with pytest.raises(NascliError, match="add dataset=cora"):
        NBGraphEstimator("digits")
    with pytest.raises(NascliError, match="add space=nbgraph"):
        NBGraphEstimator("cora").check_space("nb201", {}, "cora")
    with pytest.raises(NascliError, match="drop space.ops"):
        NBGraphEstimator("proteins").check_space("nbgraph", {"ops": None}, "proteins")


@pytest.mark.slow
def test_every_sample_based_strategy_searches_cora_and_best_json_is_the_tables(nas, tmp_path):
    sweep = tmp_path / "sweep"
    out = nas(
        "search",
        "-m",
        f"strategy={','.join(SAMPLE_BASED)}",
        "space=nbgraph",
        "dataset=cora",
        "estimator=nbgraph",
        "search.trials=50",
        "logger=none",
        f"hydra.sweep.dir={sweep}",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    space, est = NBGraphSpace(), NBGraphEstimator("cora")
    for job in range(len(SAMPLE_BASED)):
        run = sweep / str(job)
        history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
        keys = [space.table_key(r["arch"]) for r in history]
        assert len(history) == 50 and len(set(keys)) == 50, "a repeat cost a trial"
        best = json.loads((run / "best.json").read_text())
        assert best["metrics"] == est.estimate(best["arch"], None, None, 0, space=space)
        top = max(r["metrics"]["val_acc"] for r in history if r["status"] == "ok")
        assert best["metrics"]["val_acc"] == top


def test_inspect_counts_the_unique_networks(nas, tmp_path):
    for extra, count in (((), 26_206), (("dataset=proteins",), 2_021)):
        out = nas(
            "inspect",
            "space=nbgraph",
            *extra,
            "format=json",
            f"hydra.run.dir={tmp_path / str(count)}",
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["unique_architectures"] == count


def test_a_search_on_another_dataset_names_the_fix(nas, tmp_path):
    out = nas("search", "space=nbgraph", "estimator=nbgraph", f"hydra.run.dir={tmp_path / 'r'}")
    assert_one_line_error(out, "dataset=cora")
    out = nas("search", "dataset=cora", "estimator=nbgraph", f"hydra.run.dir={tmp_path / 'r2'}")
    assert_one_line_error(out, "space=nbgraph")


@pytest.mark.slow
def test_a_resumed_search_with_free_repeats_equals_an_uninterrupted_one(nas, tmp_path):
    """Evolution repeats itself often on a table; a repeat costs no trial, and the answers it
    was told are rebuilt on resume, from the saved state or by replaying the history."""
    args = ["space=nbgraph", "dataset=citeseer", "estimator=nbgraph", "strategy=evolution"]
    args += ["strategy.population=10", "strategy.sample_size=5", "logger=none"]
    whole = tmp_path / "whole"
    assert nas("search", *args, "search.trials=60", f"hydra.run.dir={whole}").returncode == 0
    for name, drop_state in (("saved", False), ("replayed", True)):
        part = tmp_path / name
        first = nas("search", *args, "search.trials=25", f"hydra.run.dir={part}")
        assert first.returncode == 0, first.stderr
        if drop_state:
            (part / "strategy_state.json").unlink()
        again = nas("search", f"resume={part}", "search.trials=60")
        assert again.returncode == 0, again.stderr
        archs = [
            [json.loads(line)["arch"] for line in (d / "history.jsonl").read_text().splitlines()]
            for d in (whole, part)
        ]
        assert archs[0] == archs[1] and len(set(archs[0])) == 60
        summaries = [json.loads((d / "summary.json").read_text()) for d in (whole, part)]
        assert summaries[0]["repeats_answered"] == summaries[1]["repeats_answered"] > 0


def test_a_proposal_outside_the_benchmark_is_rejected_at_no_trials_cost():
    """Strategies that compose texts choice by choice (qlearning, reinforce, bo) can propose four
    skips, which the benchmark lacks: the proposer tells the strategy it failed and asks again."""
    from nascli.hardware.constraints import ConstrainedProposer

    class Stubborn:
        def __init__(self):
            self.told, self.queue = [], ["0123:skip-skip-skip-skip", "0123:fc-gat-fc-gin"]

        def ask(self):
            return self.queue.pop(0)

        def tell(self, arch, metrics):
            self.told.append((arch, metrics))

    space, est, strategy = NBGraphSpace(), NBGraphEstimator("cora"), Stubborn()
    proposer = ConstrainedProposer(
        strategy, space, (1433,), 7, {}, admit=lambda a: est.missing(a, space), answers_repeats=True
    )
    assert proposer.propose() == "0123:fc-gat-fc-gin"
    assert strategy.told == [("0123:skip-skip-skip-skip", None)]
    assert proposer.missing == 1 and proposer.rejected == 0  # not a constraint's rejection
