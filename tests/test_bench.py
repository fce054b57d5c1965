"""Benchmark mode: `nas bench build` tables and `estimator=table` searches, on digits."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from nascli.benchmarks.table import BenchTable
from nascli.spaces.nb201 import NB201Space
from nascli.strategies.evolution import RegularizedEvolution
from tests.conftest import NAS, assert_one_line_error, run_nas

BUILD = ["estimator.epochs=2", "bench.file=t.sqlite", "format=json"]


def _json(out):
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_nb201_has_the_published_6466_unique_cells():
    space = NB201Space(channels=16, cells_per_stage=1)
    assert space.size == 15_625
    assert len({space.iso_key(a) for a in space.enumerate()}) == 6_466


def test_iso_key_merges_what_a_zero_node_feeds_and_nothing_else():
    space = NB201Space()
    tail = "|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    a = "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1" + tail
    b = "|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1" + tail
    c = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1" + tail
    assert space.iso_key(a) == space.iso_key(b)  # node 1 is zero: what it feeds does not matter
    assert space.iso_key(a) != space.iso_key(c)


def test_evolution_fills_its_population_with_finished_children_only():
    space = NB201Space()
    evo = RegularizedEvolution(space, seed=0, population=4, sample_size=3)
    for _ in range(10):  # ten rejected proposals: nothing joins, and asking must go on working
        evo.tell(evo.ask(), None)
    for k in range(4):
        evo.tell(evo.ask(), {"val_acc": k / 10})
    assert len(evo.population) == 4
    child = evo.ask()  # a mutation of a tournament winner, no longer random
    assert any(
        sum(x != y for x, y in zip(space.parse(child), space.parse(m), strict=True)) == 1
        for m, _ in evo.population
    )


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    summary = _json(run_nas("bench", "build", "bench.limit=6", *BUILD, cwd=root))
    assert summary["rows"] == 6 and summary["trained_now"] == 6 and summary["failed"] == 0
    return root / "t.sqlite"


@pytest.mark.slow
def test_a_built_table_holds_curves_costs_and_seconds(table):
    rows = BenchTable(table).rows()
    meta = BenchTable(table).meta()
    assert meta["epochs"] == 2 and meta["space_name"] == "nb201" and meta["dataset"] == "digits"
    space = NB201Space(channels=16, cells_per_stage=1)
    for key, row in rows.items():
        assert space.iso_key(row["arch"]) == key and row["status"] == "ok"
        for curve in ("val_acc", "test_acc", "val_loss", "train_loss"):
            assert len(row["curves"][curve]) == 2
        assert all(0 <= a <= 1 for a in row["curves"]["val_acc"] + row["curves"]["test_acc"])
        assert row["params"] > 0 and row["flops"] > 0 and row["train_seconds"] > 0


@pytest.mark.slow
def test_the_build_resumes_and_refuses_other_settings(table):
    root = table.parent
    more = _json(run_nas("bench", "build", "bench.limit=8", *BUILD, "bench.workers=2", cwd=root))
    assert more["rows"] == 8 and more["trained_now"] == 2  # the first six are kept, not retrained
    out = run_nas(
        "bench", "build", "bench.limit=8", "estimator.epochs=3", "bench.file=t.sqlite", cwd=root
    )
    assert_one_line_error(out, "epochs")
    assert len(BenchTable(table).rows()) == 8


@pytest.mark.slow
def test_a_table_search_looks_up_and_charges_the_recorded_seconds(table):
    root = table.parent
    rows = BenchTable(table).rows()
    summary = _json(
        run_nas(
            "search",
            "strategy=random",
            "estimator=table",
            f"bench.file={table}",
            "search.trials=5",
            "hydra.run.dir=s",
            "format=json",
            cwd=root,
        )
    )
    history = [json.loads(line) for line in (root / "s" / "history.jsonl").read_text().splitlines()]
    space = NB201Space()
    assert len(history) == 5 and all(r["status"] == "ok" for r in history)
    for r in history:
        row = rows[space.iso_key(r["arch"])]
        assert r["metrics"]["val_acc"] == row["curves"]["val_acc"][-1]
        assert r["metrics"]["test_acc"] == row["curves"]["test_acc"][-1]
        assert r["seconds"] == pytest.approx(row["train_seconds"], abs=1e-4)
        assert r["metrics"]["params"] == row["params"]
    assert summary["simulated_seconds"] == pytest.approx(
        sum(r["seconds"] for r in history), abs=1e-3
    )
    # A sampled table of 8 of 15,625 cells: most proposals miss it, and they are misses.
    assert summary["missing_from_table"] > 0 and summary["rejected_by_constraints"] == 0
    # One epoch of the two: the first point of the curve, half the seconds.
    _json(
        run_nas(
            "search",
            "estimator=table",
            f"bench.file={table}",
            "estimator.epochs=1",
            "search.trials=2",
            "hydra.run.dir=s1",
            "format=json",
            cwd=root,
        )
    )
    first = json.loads((root / "s1" / "history.jsonl").read_text().splitlines()[0])
    row = rows[space.iso_key(first["arch"])]
    assert first["metrics"]["val_acc"] == row["curves"]["val_acc"][0]
    assert first["seconds"] == pytest.approx(row["train_seconds"] / 2, abs=1e-4)


@pytest.mark.slow
def test_search_seconds_counts_simulated_time(table):
    rows = BenchTable(table).rows()
    budget = 2.5 * min(r["train_seconds"] for r in rows.values())
    summary = _json(
        run_nas(
            "search",
            "estimator=table",
            f"bench.file={table}",
            "search.trials=1000",
            f"search.seconds={budget}",
            "hydra.run.dir=sb",
            "format=json",
            cwd=table.parent,
        )
    )
    assert summary["stop_reason"] == "seconds"
    longest = max(r["train_seconds"] for r in rows.values())
    assert budget <= summary["simulated_seconds"] < budget + longest
    assert summary["trials"] < 1000


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,named",
    [
        (["estimator=table", "space=macro"], "bench.file"),
        (["estimator=table", "bench.file=nowhere.sqlite"], "nowhere.sqlite"),
        (
            ["estimator=table", "bench.file=t.sqlite", "space.cells_per_stage=2"],
            "space.cells_per_stage",
        ),
        (["estimator=table", "bench.file=t.sqlite", "estimator.epochs=5"], "estimator.epochs"),
        (["estimator=table", "bench.file=t.sqlite", "space=darts"], "space"),
        (["estimator=table", "bench.file=garbage.txt"], "garbage.txt"),
    ],
)
def test_table_search_bad_input(table, args, named):
    (table.parent / "garbage.txt").write_text("not a database " * 100)
    out = run_nas("search", *args, cwd=table.parent)
    assert_one_line_error(out, named)


def test_table_rows_survive_reopening(tmp_path):
    t = BenchTable(tmp_path / "x.sqlite", create=True)
    t.set_meta({"epochs": 3})
    t.put({"key": "k", "arch": "a", "status": "ok", "params": 1, "curves": {"val_acc": [0.5]}})
    t.close()
    again = BenchTable(tmp_path / "x.sqlite")
    assert again.meta() == {"epochs": 3} and again.rows()["k"]["curves"] == {"val_acc": [0.5]}
    with sqlite3.connect(tmp_path / "x.sqlite") as db:  # a plain SQLite file any tool can read
        assert db.execute("SELECT arch FROM archs").fetchall() == [("a",)]


@pytest.mark.slow
def test_report_gives_the_chosen_archs_test_accuracy_and_regret_per_budget(table):
    root = table.parent
    out = run_nas(
        "search",
        "-m",
        "strategy=random,evolution",
        "estimator=table",
        f"bench.file={table}",
        "search.trials=4",
        "hydra.sweep.dir=rsw",
        cwd=root,
    )
    assert out.returncode == 0, out.stderr
    rows = BenchTable(table).rows()
    optimum = max(r["curves"]["test_acc"][-1] for r in rows.values())
    budget = min(r["train_seconds"] for r in rows.values()) * 1.5
    report = _json(
        run_nas(
            "report",
            "rsw",
            f"budgets=[{budget}]",
            "group_by=[strategy]",
            "format=json",
            "hydra.run.dir=rrep",
            cwd=root,
        )
    )
    for row in report["rows"]:
        history = [
            json.loads(x) for x in (root / row["dir"] / "history.jsonl").read_text().splitlines()
        ]
        chosen = max(history, key=lambda r: (r["metrics"]["val_acc"], -r["trial"]))
        m = row["metrics"]
        assert m["table_optimum"] == optimum
        assert m["test_acc@final"] == chosen["metrics"]["test_acc"]
        assert m["regret@final"] == pytest.approx(optimum - chosen["metrics"]["test_acc"])
        # Within the budget only the trials whose seconds fit count.
        spent, fits = 0.0, []
        for r in history:
            spent += r["seconds"]
            if spent > budget:
                break
            fits.append(r)
        if fits:
            early = max(fits, key=lambda r: (r["metrics"]["val_acc"], -r["trial"]))
            assert m[f"test_acc@{budget:g}s"] == early["metrics"]["test_acc"]
        else:  # the first trial alone costs more than the budget: nothing chosen yet
            assert m[f"test_acc@{budget:g}s"] is None and m[f"regret@{budget:g}s"] is None
    assert {g["strategy"] for g in report["groups"]} == {"random", "evolution"}
    assert all("regret@final_std" in g for g in report["groups"])


def test_ctrl_c_during_a_build_says_how_to_continue_and_keeps_the_rows(tmp_path):
    args = ["bench", "build", "bench.limit=6", "estimator.epochs=1", "bench.file=t.sqlite"]
    proc = subprocess.Popen(
        [NAS, *args], cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    table = tmp_path / "t.sqlite"
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline:
        if table.is_file() and len(BenchTable(table).rows()) >= 1:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    kept = len(BenchTable(table).rows())
    assert proc.returncode == 130 and 1 <= kept < 6, err[-2000:]
    assert "the same command continues: nas bench build bench.limit=6" in err
    again = _json(run_nas(*args, "format=json", cwd=tmp_path))
    assert again["rows"] == 6 and again["trained_now"] == 6 - kept
