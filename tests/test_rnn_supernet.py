"""Weight-sharing search of recurrent cells: the supernet, its derivation, and the searches."""

from __future__ import annotations

import json
import random

import pytest
import torch
from torch import nn

from nascli.data.text import TextDataModule
from nascli.oneshot.tasks import LanguageModelling
from nascli.spaces.rnn_cell import RNNCellSpace
from nascli.spaces.rnn_cell.genotype import parse_genotype
from tests.conftest import assert_one_line_error, run_nas

VOCAB = 11


def _with_model_weights(space: RNNCellSpace, arch: str):
    """A supernet and a built model of `arch` with the same weights, both in eval mode, the
    supernet's batch norm taken out (the model has none)."""
    torch.manual_seed(0)
    net = space.supernet((7,), VOCAB)
    model = space.build(arch, (7,), VOCAB)
    with torch.no_grad():
        net.encoder.weight.copy_(model.encoder.weight)
        net.w0.copy_(model.cell.w0)
        for mine, theirs in zip(net.ws, model.cell.ws, strict=True):
            mine.copy_(theirs)
    net.bn = nn.Identity()
    return net.eval(), model.eval()


@pytest.mark.parametrize("seed", [None, 1, 2])
def test_a_path_and_peaked_alphas_compute_the_cell_they_name(seed):
    space = RNNCellSpace(hidden=16, search_hidden=16)
    arch = space.canonical("DARTS_V2") if seed is None else space.sample(random.Random(seed))
    net, model = _with_model_weights(space, arch)
    tokens = torch.randint(0, VOCAB, (3, 7))
    expected, h_expected = model(tokens)
    net.method, net.path = "path", space.path(arch)
    got, h = net(tokens)
    assert torch.allclose(got, expected, atol=1e-5) and torch.allclose(h, h_expected, atol=1e-5)
    # softmax over alphas that put (almost) all weight on the path's op, and on `none` elsewhere
    alphas = torch.full((36, 5), -40.0)
    for e, ops in enumerate(space.path(arch)["recurrent"]):
        alphas[e, ops[0] if ops else 0] = 40.0
    with torch.no_grad():
        net.alphas["recurrent"].copy_(alphas)
    net.method = "softmax"
    assert torch.allclose(net(tokens)[0], expected, atol=1e-5)
    assert space.derive({"recurrent": alphas.softmax(-1).tolist()}) == arch
    # the supernet's weights are those of any one cell: nothing of them is left unused
    assert sum(p.numel() for p in net.weight_parameters()) == sum(
        p.numel() for p in model.parameters()
    )


def test_derivation_takes_the_best_input_and_op_other_than_none():
    space = RNNCellSpace(hidden=8, search_hidden=8)
    rows = [[0.2] * 5 for _ in range(36)]
    for k in range(1, 9):
        first = k * (k - 1) // 2
        rows[first][0] = 0.99  # a heavy `none` on the edge from node 0: never chosen
        rows[first + k - 1][2] = 0.5  # relu on the edge from node k-1
    genotype = parse_genotype(space.derive({"recurrent": rows}))
    assert genotype.recurrent == tuple(("relu", k - 1) for k in range(1, 9))


def test_gradients_reach_every_alpha_and_weight_in_a_mixed_pass():
    space = RNNCellSpace(hidden=8, search_hidden=8)
    torch.manual_seed(0)
    net = space.supernet((5,), VOCAB).train()
    logits, _ = net(torch.randint(0, VOCAB, (4, 5)))
    logits.logsumexp(-1).sum().backward()
    grad = net.alphas["recurrent"].grad
    assert grad is not None and bool((grad[:, 1:] != 0).all())  # none's column has no effect
    assert all(p.grad is not None for p in net.weight_parameters())


def test_streams_keep_their_own_state_and_a_look_ahead_leaves_it(tmp_path):
    data = TextDataModule(source="reber", strings=[200, 20, 20], batch_size=4, bptt=6)
    halves = data.halves_dataloader()
    (w, wy), (a, ay) = next(iter(halves))
    assert w.shape == a.shape == (4, 6) and torch.equal(w[:, 1:], wy[:, :-1])
    ids = data.ids["train"]
    assert torch.equal(w[0], ids[:6]) and torch.equal(a[0], ids[len(ids) // 2 :][:6])
    with pytest.raises(Exception, match="trainer.devices=1"):
        halves.shard(0, 2)
    space = RNNCellSpace(hidden=8, search_hidden=8)
    net = space.supernet((6,), data.num_classes)
    task = LanguageModelling()
    task.forward(net, (w, wy), "weights")
    kept = task.hidden["weights"].clone()
    task.forward(net, (w, wy), "weights", carry=False)
    assert torch.equal(task.hidden["weights"], kept) and "arch" not in task.hidden
    task.forward(net, (a, ay), "arch")
    assert not torch.equal(task.hidden["arch"], kept)
    task.reset()
    assert task.hidden == {}


SMALL = ["space=rnn_cell", "dataset=reber", "dataset.strings=[300,60,60]", "logger=none"]
FLOOR = 1.4524  # the grammar's perplexity floor: no model scores below it
# Twice a uniform guess over the grammar's 8 tokens: two epochs on 300 strings score about 8.5
# (measured, close to that guess); a supernet whose training diverged scores far more.
CEILING = 16.0


def plausible(ppl: float) -> bool:
    return FLOOR < ppl < CEILING


@pytest.mark.slow
def test_darts_searches_a_recurrent_cell_that_nas_train_retrains(tmp_path):
    """Two epochs of second-order DARTS on the grammar: every epoch scored by validation
    perplexity, the derived cell in best.json scored on its own path, and retrained by name of
    the run."""
    out = run_nas(
        "search", *SMALL, "strategy=darts", "strategy.order=2", "strategy.epochs=2",
        "hydra.run.dir=s", "format=json", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "perplexity floor (what a perfect model scores): 1.4524" in out.stderr
    run = tmp_path / "s"
    epochs = [json.loads(line) for line in (run / "epochs.jsonl").open()]
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert all(plausible(e["val_ppl"]) and plausible(e["train_ppl"]) for e in epochs)
    assert all(len(e["alphas"]["recurrent"]) == 36 for e in epochs)
    best = json.loads((run / "best.json").read_text())
    assert best["arch"] == epochs[-1]["arch"] and parse_genotype(best["arch"]).steps == 8
    assert best["metrics"]["supernet_val_ppl"] == epochs[-1]["val_ppl"]
    assert plausible(best["metrics"]["val_ppl"]) and "val_acc" not in best["metrics"]
    train = run_nas(
        "train", "dataset=reber", "dataset.strings=[300,60,60]", f"arch={run}",
        "recipe.epochs=1", "logger=none", "hydra.run.dir=t", cwd=tmp_path,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    retrained = json.loads((tmp_path / "t" / "best.json").read_text())
    assert retrained["arch"] == best["arch"] and plausible(retrained["metrics"]["test_ppl"])


@pytest.mark.slow
def test_enas_searches_a_recurrent_cell(tmp_path):
    out = run_nas(
        "search", *SMALL, "strategy=enas", "strategy.epochs=2", "hydra.run.dir=s", "format=json",
        cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    epochs = [json.loads(line) for line in (tmp_path / "s" / "epochs.jsonl").open()]
    assert len(epochs) == 2 and all(plausible(e["val_ppl"]) for e in epochs)
    assert len(epochs[-1]["controller_probabilities"]) == 16  # per node: its op, its input
    best = json.loads((tmp_path / "s" / "best.json").read_text())
    assert parse_genotype(best["arch"]).steps == 8 and plausible(best["metrics"]["val_ppl"])


@pytest.mark.parametrize(
    "args, named",
    [
        (["strategy=pcdarts"], "strategy=darts"),
        (["strategy=darts", "strategy.max_skip=2"], "strategy.max_skip"),
    ],
)
def test_what_a_recurrent_search_cannot_do_is_refused(tmp_path, args, named):
    out = run_nas("search", *SMALL, *args, "hydra.run.dir=s", cwd=tmp_path)
    assert_one_line_error(out, named)
