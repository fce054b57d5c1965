"""nas report's statistics for comparing strategies on a benchmark: per query budget, the mean,
a bootstrap interval and a Mann-Whitney p-value against a baseline group."""

from __future__ import annotations

import json

import pytest
from scipy.stats import mannwhitneyu

from nascli.commands.report.run import bootstrap_ci
from tests.conftest import assert_one_line_error

SEEDS = 6


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    from tests.conftest import run_nas

    folder = tmp_path_factory.mktemp("stats") / "sweep"
    out = run_nas(
        "search", "-m", "strategy=random,evolution", f"seed={','.join(map(str, range(SEEDS)))}",
        "space=nbgraph", "dataset=cora", "estimator=nbgraph", "search.trials=30", "logger=none",
        f"hydra.sweep.dir={folder}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return folder


def _chosen(job, queries, metric="test_acc"):
    """`metric` of the architecture with the best val_acc among a job's first `queries`."""
    history = [json.loads(line) for line in (job / "history.jsonl").read_text().splitlines()]
    first = [r for r in history[:queries] if r["status"] == "ok"]
    return max(first, key=lambda r: r["metrics"]["val_acc"])["metrics"][metric]


def test_the_p_value_column_is_mann_whitney_against_the_baseline(nas, sweep, tmp_path):
    out = nas(
        "report", str(sweep), "group_by=[strategy]", "baseline=random", "queries=[10,30]",
        "plots=false", "format=json", f"hydra.run.dir={tmp_path}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    groups = {g["strategy"]: g for g in json.loads(out.stdout)["groups"]}
    jobs = {"random": [sweep / str(k) for k in range(SEEDS)]}
    jobs["evolution"] = [sweep / str(k) for k in range(SEEDS, 2 * SEEDS)]
    for q in (10, 30):
        values = {s: [_chosen(j, q) for j in js] for s, js in jobs.items()}
        key = f"test_acc@{q}q"
        for strategy in jobs:
            assert groups[strategy][key] == pytest.approx(sum(values[strategy]) / SEEDS)
            lo, hi = groups[strategy][f"{key}_ci"]
            assert lo <= groups[strategy][key] <= hi
        assert groups["random"][f"{key}_p"] is None
        expected = mannwhitneyu(values["evolution"], values["random"], alternative="two-sided")
        assert groups["evolution"][f"{key}_p"] == pytest.approx(expected.pvalue)
        regret = groups["random"][f"regret@{q}q"]
        assert regret >= 0  # against the best test score of the whole table
        # the validation score the search reached, with its own p-value
        chosen_val = {s: [_chosen(j, q, "val_acc") for j in js] for s, js in jobs.items()}
        for strategy in jobs:
            assert groups[strategy][f"val_acc@{q}q"] == pytest.approx(
                sum(chosen_val[strategy]) / SEEDS
            )
        expected = mannwhitneyu(chosen_val["evolution"], chosen_val["random"])
        assert groups["evolution"][f"val_acc@{q}q_p"] == pytest.approx(expected.pvalue)


def test_the_table_output_shows_the_statistics(nas, sweep, tmp_path):
    out = nas(
        "report", str(sweep), "group_by=[strategy]", "baseline=random", "queries=[30]",
        "plots=false", f"hydra.run.dir={tmp_path}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Mann-Whitney" in out.stdout and "95 % interval" in out.stdout


@pytest.mark.parametrize(
    "args, named",
    [
        (["baseline=random"], "group_by"),
        (["group_by=[strategy]", "baseline=grid"], "baseline=grid"),
    ],
)
def test_a_bad_baseline_is_one_line(nas, sweep, tmp_path, args, named):
    assert_one_line_error(nas("report", str(sweep), *args, f"hydra.run.dir={tmp_path}"), named)


def test_the_bootstrap_interval_narrows_with_more_data():
    few = bootstrap_ci([0.1, 0.5, 0.9, 0.3])
    many = bootstrap_ci([0.1, 0.5, 0.9, 0.3] * 25)
    assert few[0] < many[0] < many[1] < few[1]
    assert bootstrap_ci([0.4]) is None  # one value has no interval


def test_report_html_is_one_self_contained_page_that_renders_in_a_browser(nas, sweep, tmp_path):
    import re

    from tests.browser import browser

    out = nas(
        "report", str(sweep), "group_by=[strategy]", "baseline=random", "queries=[10,30]",
        "importance=true", f"hydra.run.dir={tmp_path / 'rep'}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    page = tmp_path / "rep" / "report.html"
    text = page.read_text()
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) >= 5 and all(s.startswith("data:image/") for s in sources)
    assert "http://" not in text and "https://" not in text  # nothing to fetch, nothing linked
    for heading in ("Jobs", "Groups", "Plots", "The best architectures", "What mattered"):
        assert f"<h2>{heading}" in text, heading
    assert "p (Mann-Whitney U, vs baseline)" in text
    with browser(tmp_path) as b:
        b.open(page.as_uri())
        assert b.run("return document.readyState") == "complete"
        images = b.wait_for(
            "const i = [...document.images]; "
            "return i.every(x => x.complete) && i.map(x => x.naturalWidth)"
        )
        assert len(images) == len(sources) and all(w > 0 for w in images), images
        fetched = b.run(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".filter(n => !n.startsWith('data:'))"
        )
        assert fetched == []
        errors = [m for m in b.console() if m["level"] == "SEVERE"]
        assert errors == [], errors
        links = b.run("return [...document.links].map(a => a.href)")
        assert {f"{(sweep / str(k)).as_uri()}" for k in range(2 * SEEDS)} <= set(links)
        b.screenshot(tmp_path / "report.png")
        assert (tmp_path / "report.png").stat().st_size > 10_000
