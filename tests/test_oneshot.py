"""One-shot search: supernets, the bilevel update, derivation rules, and `nas search` end to end."""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import subprocess
import time

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from nascli.oneshot.module import BilevelModule, EnasModule, unrolled_backward
from nascli.spaces.darts import CHOICE_OPS, PRIMITIVES, DartsSpace
from nascli.spaces.darts.genotype import parse_genotype
from nascli.spaces.nb201 import OPS as NB201_OPS
from nascli.spaces.nb201 import NB201Space
from tests.conftest import NAS, assert_one_line_error

# The smallest settings that still run every op of each space.
SMALL_DARTS = ["space.search_channels=4", "space.search_layers=3"]
FAST = ["logger=none", "strategy.batch_size=128"]


def _tiny(space_name: str):
    if space_name == "darts":
        space = DartsSpace(search_channels=4, search_layers=3)
    else:
        space = NB201Space(channels=4, cells_per_stage=1)
    return space


def _batches(seed: int = 0, n: int = 8):
    g = torch.Generator().manual_seed(seed)
    make = lambda: (torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))  # noqa: E731
    return make(), make()


def _loss(net, batch):
    logits = net(batch[0])
    return F.cross_entropy(logits, batch[1]), logits


@pytest.mark.parametrize("space_name", ["darts", "nb201"])
@pytest.mark.parametrize("method,partial", [("softmax", 1), ("softmax", 2), ("gumbel", 1)])
def test_the_architecture_gradient_reaches_every_alpha_and_never_the_weight_optimiser(
    space_name, method, partial
):
    torch.manual_seed(0)
    space = _tiny(space_name)
    net = space.supernet((1, 8, 8), 10, partial)
    net.method = method
    weights_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1)
    arch_ids = {id(p) for p in net.arch_parameters()}
    held = {id(p) for group in weights_opt.param_groups for p in group["params"]}
    assert arch_ids and not arch_ids & held
    assert len(held) + len(arch_ids) == len(list(net.parameters()))
    before = [a.detach().clone() for a in net.arch_parameters()]
    arch_opt = torch.optim.Adam(net.arch_parameters(), lr=0.1)
    train, val = _batches()
    loss, _ = _loss(net, val)
    loss.backward()
    for a in net.arch_parameters():
        assert a.grad is not None and a.grad.abs().sum() > 0
    arch_opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(net.arch_parameters(), before, strict=True))


def test_second_order_step_matches_the_exact_unrolled_gradient_and_differs_from_first_order():
    torch.manual_seed(0)
    space = NB201Space(channels=4, cells_per_stage=1)
    net = space.supernet((1, 8, 8), 10).double()
    net.lean = False  # the exact reference below differentiates through a gradient
    train, val = ((x.double(), y) for x, y in _batches(1, 16))
    xi, decay = 0.5, 3e-4
    opt = torch.optim.SGD(net.weight_parameters(), lr=xi, weight_decay=decay)
    loss_fn = functools.partial(_loss, net)

    # Exact: differentiate L_val(w - xi * (dL_train/dw + decay * w), alpha) through the step.
    params = dict(net.named_parameters())
    names = [n for n in params if not n.startswith(("alphas.", "betas."))]

    def loss_at(p, batch):
        return F.cross_entropy(functional_call(net, p, (batch[0],)), batch[1])

    grads = torch.autograd.grad(
        loss_at(params, train), [params[n] for n in names], create_graph=True
    )
    stepped = {
        **params,
        **{n: params[n] - xi * (g + decay * params[n]) for n, g in zip(names, grads, strict=True)},
    }
    (exact,) = torch.autograd.grad(loss_at(stepped, val), [params["alphas.cell"]])
    first = torch.autograd.grad(loss_at(params, val), [params["alphas.cell"]])[0]

    saved = [p.detach().clone() for p in net.parameters()]
    # The paper's finite-difference step (epsilon 0.01) is coarse on a net this small; a fine one
    # shows that the formula is the exact gradient of the unrolled objective.
    unrolled_backward(net, loss_fn, opt, train, val, epsilon=1e-5)
    second = net.alphas["cell"].grad.clone()
    assert all(torch.equal(p, s) for p, s in zip(net.parameters(), saved, strict=True))
    assert torch.allclose(second, exact, rtol=1e-4, atol=1e-8)
    assert (second - first).abs().max() > 100 * (second - exact).abs().max()
    unrolled_backward(net, loss_fn, opt, train, val)  # the paper's epsilon: still not first order
    assert not torch.allclose(net.alphas["cell"].grad, first, rtol=1e-2)


def _weights(
    picks: dict[int, tuple[int, float]], n_edges: int = 14, n_ops: int = 8, rest: float = 0.01
):
    """Op weights where edge e's op j weighs w for {e: (j, w)}; other entries weigh `rest`."""
    w = [[rest] * n_ops for _ in range(n_edges)]
    for e, (j, value) in picks.items():
        w[e][j] = value
    return w


def test_darts_derivation_keeps_the_two_strongest_edges_per_node_and_never_none():
    none, skip = PRIMITIVES.index("none"), PRIMITIVES.index("skip_connect")
    sep3, sep5 = PRIMITIVES.index("sep_conv_3x3"), PRIMITIVES.index("sep_conv_5x5")
    dil3, maxp = PRIMITIVES.index("dil_conv_3x3"), PRIMITIVES.index("max_pool_3x3")
    # Node 0: edges 0-1; node 1: edges 2-4; node 2: edges 5-8; node 3: edges 9-13.
    normal = _weights(
        {
            0: (none, 0.9),  # `none` dominates edge 0, but only non-none ops count
            1: (sep5, 0.5),
            2: (dil3, 0.4),
            3: (maxp, 0.3),
            4: (skip, 0.6),
            5: (sep3, 0.7),
            8: (sep5, 0.8),
            11: (skip, 0.2),
            13: (dil3, 0.25),
        }
    )
    normal[0][sep3] = 0.05
    reduce = _weights(
        {
            1: (maxp, 0.9),
            0: (maxp, 0.8),
            2: (sep3, 0.9),
            4: (sep3, 0.8),
            5: (skip, 0.9),
            6: (skip, 0.8),
            9: (sep5, 0.9),
            10: (sep5, 0.8),
        }
    )
    got = parse_genotype(DartsSpace().derive({"normal": normal, "reduce": reduce}))
    assert got.normal == (
        ("sep_conv_5x5", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 2),
        ("dil_conv_3x3", 0),
        ("sep_conv_5x5", 3),
        ("sep_conv_3x3", 0),
        ("dil_conv_3x3", 4),
        ("skip_connect", 2),
    )
    assert got.reduce[:2] == (("max_pool_3x3", 1), ("max_pool_3x3", 0))
    # P-DARTS cap: with max_skip=1 the weaker skip (edge 11, 0.2) yields; edge 13 and the next
    # strongest edge of node 3 are kept instead.
    capped = parse_genotype(DartsSpace().derive({"normal": normal, "reduce": reduce}, max_skip=1))
    assert [op for op, _ in capped.normal].count("skip_connect") == 1
    assert capped.normal[4:6] == got.normal[4:6]
    assert capped.normal[6] == ("dil_conv_3x3", 4)
    assert capped.normal[7][0] != "skip_connect"


def test_nb201_derivation_is_argmax_per_edge_and_caps_skips():
    space = NB201Space()
    ops = ["nor_conv_3x3", "skip_connect", "none", "skip_connect", "avg_pool_3x3", "skip_connect"]
    w = [[0.1] * 5 for _ in range(6)]
    for e, op in enumerate(ops):
        w[e][NB201_OPS.index(op)] = 0.5 + 0.01 * e
    w[1][NB201_OPS.index("nor_conv_1x1")] = 0.3  # edge 1's runner-up
    assert space.normal_ops(space.derive({"cell": w})) == ops
    capped = space.normal_ops(space.derive({"cell": w}, max_skip=2))
    assert capped.count("skip_connect") == 2 and capped[1] == "nor_conv_1x1"


@pytest.mark.parametrize("space_name", ["darts", "nb201"])
def test_a_single_path_runs_exactly_the_ops_of_its_architecture(space_name):
    torch.manual_seed(0)
    space = _tiny(space_name)
    net = space.supernet((1, 8, 8), 10)
    arch = space.sample(random.Random(3))
    net.method, net.path = "path", space.path(arch)
    x, _ = _batches()[0]
    net(x).sum().backward()
    cell = net.cells[0]
    used = {
        (e, i)
        for e, edge in enumerate(cell.edges)
        for i, op in enumerate(edge.ops)
        if any(p.grad is not None for p in op.parameters())
    }
    cell_type = "normal" if space_name == "darts" else "cell"
    wanted = {(e, i) for e, ops in enumerate(net.path[cell_type]) for i in ops}
    parametric = {(e, i) for e, i in wanted if any(True for _ in cell.edges[e].ops[i].parameters())}
    assert used == parametric
    if space_name == "darts":
        assert sum(len(ops) for ops in net.path["normal"]) == 8
        assert all(PRIMITIVES[i] in CHOICE_OPS for ops in net.path["normal"] for i in ops)


def test_gdas_temperature_anneals_linearly_from_tau_max_to_tau_min():
    space = _tiny("nb201")
    net = space.supernet((1, 8, 8), 10)
    sgd = functools.partial(torch.optim.SGD, lr=0.1)
    module = BilevelModule(
        net, space, sgd, None, sgd, method="gumbel", epochs=5, tau_max=10, tau_min=0.1
    )
    taus = [round(module.tau_at(epoch), 6) for epoch in range(5)]
    assert taus == [10.0, 7.525, 5.05, 2.575, 0.1]


def test_enas_keeps_the_controller_out_of_the_weight_optimiser():
    space = _tiny("nb201")
    net = space.supernet((1, 8, 8), 10)
    module = EnasModule(
        net,
        space,
        functools.partial(torch.optim.SGD, lr=0.1),
        None,
        functools.partial(torch.optim.Adam, lr=1e-3),
    )
    weights, controller = module.configure_optimizers()
    held = {id(p) for g in weights.param_groups for p in g["params"]}
    assert not held & {id(p) for p in module.controller.parameters()}
    assert {id(p) for g in controller.param_groups for p in g["params"]} == {
        id(p) for p in module.controller.parameters()
    }
    assert len(space.normal_ops(module.derive())) == 6


# -- end to end ---------------------------------------------------------------------------------


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    "strategy,extra",
    [
        ("darts", ["strategy.warmup_epochs=0"]),
        (
            "darts",
            ["strategy.order=2", "strategy.warmup_epochs=0", "space=nb201", "space.channels=4"],
        ),
        ("gdas", []),
        ("pcdarts", ["strategy.warmup_epochs=0"]),
        ("spos", ["strategy.search_trials=6", "strategy.population=3", "strategy.sample_size=2"]),
        ("enas", []),
    ],
)
def test_one_shot_search_writes_epochs_history_checkpoint_and_best(nas, tmp_path, strategy, extra):
    run = tmp_path / "run"
    args = [f"strategy={strategy}", "strategy.epochs=2", *FAST, f"hydra.run.dir={run}"]
    args += extra if "space=nb201" in extra else [*SMALL_DARTS, *extra]
    if "space=nb201" in extra:
        args.append("space.cells_per_stage=1")
    mirrored = strategy in ("gdas", "spos")  # each derived architecture into an Optuna study
    if mirrored:
        args.append(f"search.storage=sqlite:///{tmp_path}/s.db")
    if strategy == "enas":  # the parent run and the supernet's child in MLflow
        args.append("logger=mlflow")
    result = nas("search", *args, "format=json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["stop_reason"] == "epochs"
    epochs = _lines(run / "epochs.jsonl")
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert all(e["train_loss"] > 0 for e in epochs)
    history = _lines(run / "history.jsonl")
    best = json.loads((run / "best.json").read_text())
    space = best["space"]
    assert space == ("nb201" if "space=nb201" in extra else "darts")
    assert best["metrics"]["params"] > 0 and 0 <= best["metrics"]["val_acc"] <= 1
    assert (run / "checkpoints" / "last.ckpt").is_file()
    if strategy == "spos":
        assert len(history) == 6 and best["arch"] in {r["arch"] for r in history}
    else:
        assert [r["trial"] for r in history] == [0, 1] and best["arch"] == history[-1]["arch"]
        assert epochs[-1]["arch"] == best["arch"]
        assert "skip_connect" in epochs[-1] and "entropy" in epochs[-1]
    if strategy in ("darts", "gdas", "pcdarts"):
        assert len(epochs[-1]["alphas"]["normal" if space == "darts" else "cell"]) == (
            14 if space == "darts" else 6
        )
        assert epochs[0]["arch_loss"] > 0  # the architecture steps ran
    if strategy == "pcdarts":
        assert "betas" in epochs[-1]
    if strategy == "gdas":
        assert epochs[0]["tau"] == 10.0 and epochs[1]["tau"] == 0.1
    if strategy == "enas":
        assert len(epochs[-1]["controller_probabilities"]) == 32
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=f"sqlite:///{run / 'mlruns' / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("nascli")
        runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
        assert set(runs) == {"run", "supernet"}
        curve = client.get_metric_history(runs["supernet"].info.run_id, "train_loss")
        assert sorted(m.step for m in curve) == [0, 1]
    if mirrored:
        import optuna

        study = optuna.load_study(
            study_name=str(run.resolve()), storage=f"sqlite:///{tmp_path}/s.db"
        )
        assert [t.user_attrs["arch"] for t in study.trials] == [r["arch"] for r in history]
        assert [t.values[0] for t in study.trials] == [r["metrics"]["val_acc"] for r in history]


def test_one_shot_resume_continues_from_the_last_epoch_checkpoint(nas, tmp_path):
    run = tmp_path / "run"
    base = ["strategy=gdas", "strategy.epochs=3", *SMALL_DARTS, *FAST]
    first = nas("search", *base, "search.seconds=0.001", f"hydra.run.dir={run}", "format=json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["stop_reason"] == "seconds"
    epoch0 = _lines(run / "epochs.jsonl")
    assert len(epoch0) == 1
    second = nas("search", f"resume={run}", "search.seconds=null", "format=json")
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["resumed"] and summary["stop_reason"] == "epochs"
    epochs = _lines(run / "epochs.jsonl")
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    assert epochs[0] == epoch0[0]  # the finished epoch was not trained again
    assert [e["tau"] for e in epochs] == [10.0, 5.05, 0.1]  # the schedule went on where it was
    assert [r["trial"] for r in _lines(run / "history.jsonl")] == [0, 1, 2]


def test_a_resumed_one_shot_search_keeps_the_learning_rate_schedule(nas, tmp_path):
    """The checkpoint is written after the epoch's schedule step: a resumed DARTS search trains
    its next epoch at the next rate, as an uninterrupted one does (it once repeated a rate)."""
    base = ["strategy=darts", "strategy.epochs=3", "strategy.warmup_epochs=0", *SMALL_DARTS, *FAST]
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert nas("search", *base, f"hydra.run.dir={whole}").returncode == 0
    first = nas("search", *base, "search.seconds=0.001", f"hydra.run.dir={part}")
    assert first.returncode == 0, first.stderr
    assert nas("search", f"resume={part}", "search.seconds=null").returncode == 0
    rates = [[e["lr"] for e in _lines(d / "epochs.jsonl")] for d in (whole, part)]
    assert len(rates[0]) == 3 and rates[0][0] > rates[0][1] > rates[0][2]
    assert rates[1] == pytest.approx(rates[0], rel=1e-12)


def test_strategy_brings_its_space_but_a_named_space_wins(nas):
    darts = nas("search", "strategy=darts", "--cfg", "job")
    assert "nascli.spaces.darts.DartsSpace" in darts.stdout
    assert "epochs: 12" in darts.stdout  # the digits preset of the one-shot schedule
    nb201 = nas("search", "strategy=darts", "space=nb201", "--cfg", "job")
    assert "nascli.spaces.nb201.NB201Space" in nb201.stdout


@pytest.mark.parametrize(
    "args,names",
    [
        (["strategy=darts", "strategy.order=3"], "strategy.order"),
        (["strategy=darts", "strategy.epochs=3"], "strategy.warmup_epochs"),
        (["strategy=darts", "strategy.early_stop_skip=true"], "strategy.max_skip"),
        (["strategy=gdas", "strategy.order=2"], "strategy.order"),
        (["strategy=gdas", "strategy.tau_min=0"], "strategy.tau_min"),
        (["strategy=enas", "strategy.max_skip=2"], "max_skip"),
        (["strategy=pcdarts", "space.search_channels=6"], "strategy.partial=4"),
        (["strategy=pcdarts", "space=mobilenet"], "no partial-channel supernet"),
    ],
)
def test_one_shot_bad_settings_are_one_line_errors(nas, tmp_path, args, names):
    result = nas("search", *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert names in result.stderr and "Traceback" not in result.stderr


def test_supernet_estimator_scores_sample_based_trials_on_inherited_weights(nas, tmp_path):
    spos = tmp_path / "spos"
    first = nas(
        "search",
        "strategy=spos",
        "strategy.epochs=1",
        "strategy.search_trials=2",
        "strategy.population=2",
        "strategy.sample_size=1",
        *SMALL_DARTS,
        *FAST,
        f"hydra.run.dir={spos}",
        "format=json",
    )
    assert first.returncode == 0, first.stderr
    run = tmp_path / "evo"
    result = nas(
        "search",
        "space=darts",
        *SMALL_DARTS,
        "strategy=evolution",
        "search.trials=4",
        "estimator=supernet",
        f"estimator.checkpoint={spos}",
        "logger=none",
        f"hydra.run.dir={run}",
        "format=json",
    )
    assert result.returncode == 0, result.stderr
    history = _lines(run / "history.jsonl")
    assert len(history) == 4 and all(r["status"] == "ok" for r in history)
    assert all(r["metrics"]["epochs"] == 0 and 0 <= r["metrics"]["val_acc"] <= 1 for r in history)
    assert not (run / "supernet.ckpt").exists()  # loaded, not trained
    own = tmp_path / "own"
    trained = nas(
        "search",
        "space=nb201",
        "space.channels=4",
        "space.cells_per_stage=1",
        "search.trials=2",
        "estimator=supernet",
        "estimator.epochs=1",
        "logger=none",
        f"hydra.run.dir={own}",
    )
    assert trained.returncode == 0, trained.stderr
    assert (own / "supernet.ckpt").is_file()
    wrong = nas(
        "search",
        "space=nb201",
        "search.trials=1",
        "estimator=supernet",
        f"estimator.checkpoint={spos}",
        f"hydra.run.dir={tmp_path / 'wrong'}",
    )
    assert wrong.returncode != 0 and "same space settings" in wrong.stderr
    assert "Traceback" not in wrong.stderr


@pytest.mark.parametrize("space_name", ["darts", "nb201"])
def test_recomputing_cells_gives_the_same_gradients(space_name):
    grads = []
    for recompute in (False, True):
        torch.manual_seed(0)
        net = _tiny(space_name).supernet((1, 8, 8), 10)
        net.recompute = recompute
        x, y = _batches()[0]
        F.cross_entropy(net(x), y).backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_collapse_warning_names_its_cause_and_the_remedies_that_apply():
    from omegaconf import OmegaConf

    from nascli.commands.search.oneshot import _collapse_warnings

    nb201 = NB201Space()
    darts = OmegaConf.create(
        {
            "strategy": {
                **{"epochs": 12, "warmup_epochs": 4, "order": 1},
                **{"max_skip": None, "early_stop_skip": False},
            }
        }
    )
    # ENAS's config has max_skip (refused when set): its controller caps nothing.
    enas = OmegaConf.create({"strategy": {"epochs": 150, "max_skip": None}})
    fine = {"val_acc": 0.9}
    skips = (
        "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    )
    (w,) = _collapse_warnings(darts, nb201, skips, fine, 10)
    assert "4 skip connections or none" in w and "strategy.max_skip=2" in w
    assert "strategy=pcdarts" in w and "warmup" not in w
    pools = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"
    (w,) = _collapse_warnings(darts, nb201, pools, fine, 10)
    assert "4 pooling ops" in w and "strategy.warmup_epochs above 4" in w and "max_skip" not in w
    (w,) = _collapse_warnings(enas, nb201, skips, fine, 10)  # ENAS has no skip cap to offer
    assert "max_skip" not in w and "strategy.epochs above 150" in w
    convs = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert not _collapse_warnings(darts, nb201, convs, fine, 10)
    assert not _collapse_warnings(darts, DartsSpace(), "DARTS_V2", fine, 10)
    (w,) = _collapse_warnings(darts, nb201, convs, {"val_acc": 0.11}, 10)
    assert "near chance" in w and "nas train" in w


def test_early_stop_skip_ends_the_search_when_the_cap_is_reached(nas, tmp_path):
    run = tmp_path / "run"
    args = [
        "strategy=darts",
        "strategy.epochs=3",
        "strategy.warmup_epochs=0",
        "strategy.max_skip=0",
        "strategy.early_stop_skip=true",
    ]
    result = nas("search", *args, *SMALL_DARTS, *FAST, f"hydra.run.dir={run}", "format=json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["stop_reason"] == "early_stop_skip" and summary["trials"] == 1
    best = json.loads((run / "best.json").read_text())
    assert "skip_connect" not in DartsSpace().normal_ops(best["arch"])  # the cap holds


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_one_shot_search_stopped_mid_training_resumes_from_its_checkpoint(nas, tmp_path, sig):
    run = tmp_path / "run"
    args = ["strategy=darts", "strategy.epochs=4", "strategy.warmup_epochs=1"]
    args += [*SMALL_DARTS, *FAST, f"hydra.run.dir={run}"]
    proc = subprocess.Popen(
        [NAS, "search", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    ckpt = run / "checkpoints" / "last.ckpt"
    while time.monotonic() < deadline and not ckpt.exists():
        time.sleep(0.05)
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=60) == (130 if sig == signal.SIGTERM else -signal.SIGKILL)
    if sig == signal.SIGTERM:
        assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    done = [e["epoch"] for e in _lines(run / "epochs.jsonl")]
    assert done and done == list(range(len(done))) and len(done) < 4
    result = nas("search", f"resume={run}", "format=json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "completed"
    assert [e["epoch"] for e in _lines(run / "epochs.jsonl")] == [0, 1, 2, 3]
    assert [r["trial"] for r in _lines(run / "history.jsonl")] == [0, 1, 2, 3]


class _Payload:
    """A pickle that runs a command when loaded without weights_only."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("damage", ["truncated", "code"])
def test_resume_refuses_a_damaged_checkpoint_and_changes_nothing(nas, tmp_path, damage):
    run = tmp_path / "run"
    args = ["strategy=gdas", "strategy.epochs=2", *SMALL_DARTS, *FAST, "search.seconds=0.001"]
    first = nas("search", *args, f"hydra.run.dir={run}")
    assert first.returncode == 0, first.stderr
    ckpt = run / "checkpoints" / "last.ckpt"
    marker = tmp_path / "pwned"
    if damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:1000])
    else:
        torch.save({"epoch": 0, "state_dict": {}, "x": _Payload(marker)}, ckpt)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.suffix != ".log"}
    out = nas("search", f"resume={run}", "search.seconds=null")
    assert out.returncode == 2 and "last.ckpt" in out.stderr and "delete it" in out.stderr
    assert_one_line_error(out, "last.ckpt")
    assert not marker.exists()  # weights_only refused to run the pickled command
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.suffix != ".log"}
    assert {p: b for p, b in after.items() if ".hydra" not in str(p)} == {
        p: b for p, b in before.items() if ".hydra" not in str(p)
    }


def test_mobilenet_single_path_trains_only_its_variants_and_its_depth():
    from nascli.spaces.mobilenet import MobileNetSpace

    torch.manual_seed(0)
    space = MobileNetSpace(width_mult=0.25, stem_stride=1)
    net = space.supernet((1, 8, 8), 10)
    arch = "|".join(["d2:k3e3-k5e4-k7e6-k7e6"] + ["d4:k7e6-k3e3-k3e4-k5e6"] * 4)
    net.method, net.path = "path", space.path(arch)
    net(torch.randn(2, 1, 8, 8)).sum().backward()
    trained = {
        (s, i, v)
        for s, stage in enumerate(net.stages)
        for i, edge in enumerate(stage)
        for v, op in enumerate(edge.ops)
        if any(p.grad is not None for p in op.parameters())
    }
    first = {(0, 0, space.VARIANTS.index((3, 3))), (0, 1, space.VARIANTS.index((5, 4)))}
    assert {t for t in trained if t[0] == 0} == first  # depth 2: blocks 3 and 4 never ran
    assert len(trained) == 2 + 4 * 4
    weights = {"blocks": [[0.0] * 9 for _ in range(20)], "depth": [[0.0, 0.0, 1.0]] * 5}
    for b in range(20):
        weights["blocks"][b][space.VARIANTS.index((5, 6))] = 1.0
    assert space.derive(weights) == "|".join(["d4:k5e6-k5e6-k5e6-k5e6"] * 5)


@pytest.mark.parametrize("strategy", ["gdas", "spos"])
def test_one_shot_search_on_the_mobilenet_space(nas, tmp_path, strategy):
    run = tmp_path / "run"
    args = [f"strategy={strategy}", "space=mobilenet", "strategy.epochs=1", *FAST]
    if strategy == "spos":
        args += ["strategy.search_trials=3", "strategy.population=2", "strategy.sample_size=1"]
    result = nas("search", *args, f"hydra.run.dir={run}", "format=json")
    assert result.returncode == 0, result.stderr
    best = json.loads((run / "best.json").read_text())
    assert best["space"] == "mobilenet" and best["arch"].count("|") == 4
