"""Memory-lean supernet training: lean stages and pruned steps change nothing but what is kept."""

from __future__ import annotations

import contextlib
import copy
import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nascli.nn import supernet
from nascli.nn.lean import (
    _bn_backward,
    _bn_forward,
    _pool,
    _pool_backward,
    conv_backward,
    memory_format,
    stages_of,
    weighted_sum,
)
from nascli.oneshot import module as oneshot_module
from nascli.oneshot.module import BilevelModule, no_grad_for
from nascli.spaces.darts import DartsSpace
from nascli.spaces.darts.ops import OPS, FactorizedReduce
from nascli.spaces.mobilenet.net import MBConv
from nascli.spaces.nb201 import NB201Space


def _supernet(name: str):
    if name == "darts":
        return DartsSpace(search_channels=4, search_layers=3).supernet((3, 12, 12), 10)
    if name == "pcdarts":
        return DartsSpace(search_channels=4, search_layers=3).supernet((3, 12, 12), 10, 2)
    return NB201Space(channels=4, cells_per_stage=1).supernet((3, 12, 12), 10)


def _pass(net, x, y):
    F.cross_entropy(net(x), y).backward()
    grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in net.parameters()]
    return grads, [b.clone() for b in net.buffers()]


@pytest.mark.parametrize("name", ["darts", "pcdarts", "nb201"])
@pytest.mark.parametrize("method", ["softmax", "gumbel"])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_lean_stages_give_the_same_gradients_and_statistics_as_plain_modules(name, method, layout):
    torch.manual_seed(0)
    base = _supernet(name).double().to(memory_format=layout)
    x = torch.randn(6, 3, 12, 12, dtype=torch.double).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (6,))
    results = []
    for lean in (True, False):
        net = copy.deepcopy(base)
        net.lean, net.method, net.tau = lean, method, 1.0
        torch.manual_seed(1)  # the same Gumbel draws
        results.append(_pass(net, x, y))
    (g_lean, b_lean), (g_plain, b_plain) = results
    assert any(g.abs().sum() > 0 for g in g_lean)
    for a, b in zip(g_lean, g_plain, strict=True):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    for a, b in zip(b_lean, b_plain, strict=True):  # running means, variances and step counts
        assert torch.allclose(a.double(), b.double(), rtol=1e-12, atol=1e-15)


def _saved_bytes(net, x, y) -> int:
    storages: dict[int, int] = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(net(x), y)
    loss.backward()
    return sum(storages.values())


def test_lean_stages_keep_less_than_half_for_backward():
    torch.manual_seed(0)
    net = DartsSpace(search_channels=8, search_layers=3).supernet((3, 16, 16), 10)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    lean = _saved_bytes(net, x, y)
    net.lean = False
    plain = _saved_bytes(net, x, y)
    assert lean < 0.5 * plain, (lean, plain)


def test_a_shared_relu_keeps_nothing_more(monkeypatch):
    """An edge's ReLU stages share one ReLU, which keeps the input the edge keeps anyway."""
    torch.manual_seed(0)
    net = DartsSpace(search_channels=8, search_layers=3).supernet((3, 16, 16), 10)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    shared = _saved_bytes(net, x, y)
    monkeypatch.setattr(supernet, "shared_relu", lambda x: None)  # a ReLU in every stage
    assert shared <= _saved_bytes(net, x, y)


@pytest.mark.parametrize("layouts", [("cl", "cl"), ("nchw", "nchw"), ("cl", "nchw")])
def test_a_weighted_sum_is_autograds(layouts):
    """A mixed edge's weighted sum: autograd's values and gradients, whatever the layouts
    (a dot of memory where they match); without weight gradients it keeps no op output."""
    torch.manual_seed(0)
    fmt = {"cl": torch.channels_last, "nchw": torch.contiguous_format}
    outs = [
        torch.randn(2, 3, 4, 5, dtype=torch.double).contiguous(memory_format=fmt[f])
        for f in (*layouts, layouts[0])
    ]
    outs = [o.requires_grad_(True) for o in outs]
    weights = torch.randn(5, dtype=torch.double, requires_grad=True)
    index = [4, 0, 2]
    want = sum(weights[i] * o for i, o in zip(index, outs, strict=True))
    got = weighted_sum(weights, index, outs)
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-14)
    g = torch.randn_like(want)
    want_grads = torch.autograd.grad(want, [weights, *outs], g)
    got_grads = torch.autograd.grad(got, [weights, *outs], g)
    for a, b in zip(got_grads, want_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)
    mixed = [outs[0].float(), outs[1]]  # outputs of two dtypes: promoted as autograd does
    got = weighted_sum(weights, [0, 1], mixed)
    assert got.dtype == torch.double
    got.backward(torch.ones_like(got))
    kept = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t, lambda t: t):
        weighted_sum(weights.detach(), index, outs)
    assert len(kept) == 1  # the weights alone


def test_pruned_steps_keep_less_than_full_ones():
    torch.manual_seed(0)
    net = DartsSpace(search_channels=8, search_layers=3).supernet((3, 16, 16), 10)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    full = _saved_bytes(net, x, y)
    with no_grad_for(net.weight_parameters()):
        arch_step = _saved_bytes(net, x, y)
    with no_grad_for(net.arch_parameters()):
        weight_step = _saved_bytes(net, x, y)
    assert arch_step < full and weight_step < full
    assert all(p.requires_grad for p in net.parameters())  # restored


# (channels in, out, groups, kernel, stride, padding, dilation): the depthwise shapes that take
# the even-grid and flipped-kernel paths, near misses that must not, and plain convolutions.
CONVS = [
    (4, 4, 4, 3, 2, 2, 2),  # dil_conv_3x3 on a reduction edge: the even grid
    (4, 4, 4, 5, 2, 4, 2),  # dil_conv_5x5 on a reduction edge
    (4, 4, 4, 3, 2, 1, 2),  # odd padding: reads odd rows too
    (4, 4, 4, 3, 2, 1, 1),  # sep_conv on a reduction edge
    (4, 4, 4, 3, 1, 1, 1),  # stride 1: the flipped kernel
    (4, 4, 4, 5, 1, 4, 2),  # dilated, stride 1: the four sub-grids for the weight gradient
    (4, 4, 4, 3, 1, 2, 2),
    (4, 4, 4, 4, 1, 3, 2),  # dilated with odd padding: no sub-grids
    (4, 4, 4, 3, 1, 0, 1),  # not "same": ATen's
    (4, 4, 4, 2, 1, 1, 1),  # even kernel
    (4, 8, 4, 3, 1, 1, 1),  # a channel multiplier: not depthwise
    (4, 6, 1, 1, 1, 0, 1),  # pointwise
    (4, 4, 2, 3, 2, 2, 2),  # grouped, not depthwise
]


@pytest.mark.parametrize("spec", CONVS)
@pytest.mark.parametrize("size", [(7, 9), (8, 8)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_conv_backward_is_atens_on_every_path(spec, size, layout):
    """The lean stages' convolution backward, whatever path it takes, gives autograd's
    gradients of F.conv2d: on odd and even input sizes, in both layouts, asked for either."""
    cin, cout, groups, k, stride, padding, dilation = spec
    conv = nn.Conv2d(cin, cout, k, stride, padding, dilation, groups, bias=False).double()
    torch.manual_seed(0)
    x = torch.randn(3, cin, *size, dtype=torch.double).contiguous(memory_format=layout)
    x.requires_grad_(True)
    y = F.conv2d(x, conv.weight, None, stride, padding, dilation, groups)
    g = torch.randn_like(y)
    want_x, want_w = torch.autograd.grad(y, (x, conv.weight), g)
    w = conv.weight.detach()
    got_x, got_w = conv_backward(g, x.detach(), w, conv, True, True)
    assert got_x.shape == x.shape and torch.allclose(got_x, want_x, rtol=1e-10, atol=1e-12)
    assert torch.allclose(got_w, want_w, rtol=1e-10, atol=1e-12)
    # The input gradient alone reads only x's shape: an architecture step passes no values.
    unset = torch.full_like(x.detach(), float("nan"))
    only_x, none_w = conv_backward(g, unset, w, conv, True, False)
    none_x, only_w = conv_backward(g, x.detach(), w, conv, False, True)
    assert none_w is None and none_x is None
    assert torch.equal(only_x, got_x) and torch.equal(only_w, got_w)


POOLS = [
    nn.MaxPool2d(3, 1, 1),  # the search pools: the flat-row path
    nn.AvgPool2d(3, 1, 1, count_include_pad=False),
    nn.AvgPool2d(3, 1, 1),
    nn.MaxPool2d(5, 1, 2),
    nn.AvgPool2d((3, 5), 1, (1, 2), count_include_pad=False),
    nn.MaxPool2d(3, 2, 1),  # reduction edges: ATen's
    nn.AvgPool2d(3, 2, 1, count_include_pad=False),
    nn.MaxPool2d(3, 1, 1, dilation=2),
    nn.AvgPool2d(3, 1, 1, divisor_override=4),
]


@pytest.mark.parametrize("pool", POOLS, ids=repr)
# Average pools are flat from 256 pixels; (1, 7) is narrower than a 5x5 window's radius.
@pytest.mark.parametrize("size", [(16, 16), (17, 19), (5, 7), (1, 7), (2, 130)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_stage_pools_are_torch_pools(pool, size, layout):
    """The stages' pooling forward and backward, on whichever path, give torch's pool's output
    and gradient, ties in a max pool's window included (for the values: its gradient is
    ATen's)."""
    torch.manual_seed(0)
    x = torch.randn(3, 5, *size, dtype=torch.double)
    x[0, :, :4, :4] = 0.5  # ties
    x = x.contiguous(memory_format=layout).requires_grad_(True)
    if getattr(pool, "dilation", 1) == 2 and min(size) < 3:
        pytest.skip("too small for torch's dilated pool itself")
    want = pool(x)
    g = torch.randn_like(want)
    (want_grad,) = torch.autograd.grad(want, x, g)
    got = _pool(x.detach(), pool)
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-14)
    if isinstance(pool, nn.MaxPool2d):
        assert torch.equal(got, want)
    grad = _pool_backward(g.contiguous(memory_format=layout), x.detach(), pool)
    assert torch.allclose(grad, want_grad, rtol=1e-12, atol=1e-14)
    assert memory_format(grad) == layout == memory_format(got)


@pytest.mark.parametrize("channels", [2, 4, 8, 12, 16, 24, 36])
@pytest.mark.parametrize("shape", [(4, 8, 8), (3, 5, 7)])  # 256 pixels; 105, prime to most k
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_batch_norm_passes_are_nn_batch_norms(channels, shape, layout):
    """The stages' batch-norm forward and backward (rows of several pixels for channels-last
    tensors of few channels) give nn.BatchNorm2d's output, gradient and running statistics."""
    n, h, w = shape
    torch.manual_seed(0)
    x = torch.randn(n, channels, h, w, dtype=torch.double).contiguous(memory_format=layout)
    x = (3 * x + 1).requires_grad_(True)
    plain = nn.BatchNorm2d(channels, affine=False, momentum=0.3).double()
    mine = copy.deepcopy(plain)
    for _ in range(2):  # a second step starts from updated statistics
        want = plain(x)
        got, invstd = _bn_forward(x.detach(), mine)
    g = torch.randn_like(want)
    (want_grad,) = torch.autograd.grad(want, x, g)
    assert torch.allclose(got, want, rtol=1e-10, atol=1e-12)
    grad = _bn_backward(g.contiguous(memory_format=layout), got, invstd, mine.eps)
    assert torch.allclose(grad, want_grad, rtol=1e-9, atol=1e-11)
    for a, b in zip(mine.buffers(), plain.buffers(), strict=True):
        assert torch.allclose(a.double(), b.double(), rtol=1e-12, atol=1e-14)


def test_stages_cover_the_darts_and_nb201_ops_and_nothing_else():
    def stages(op):
        first = isinstance(op, nn.Sequential) and isinstance(op[0], nn.ReLU)
        return stages_of(nn.Sequential(*list(op)[1:]) if first else op, first)

    assert len(stages(OPS["sep_conv_3x3"](4, 1, False))) == 2
    assert len(stages(OPS["dil_conv_5x5"](4, 2, False))) == 1
    assert len(stages(OPS["conv_7x1_1x7"](4, 1, False))[0].convs) == 2
    pool = nn.Sequential(OPS["max_pool_3x3"](4, 1, False), nn.BatchNorm2d(4, affine=False))
    assert stages(pool)[0].pool is not None
    # Affine batch-norms (child networks), skips, reductions and MBConv blocks run as modules.
    assert stages(OPS["sep_conv_3x3"](4, 1, True)) is None
    assert stages(nn.Identity()) is None
    assert stages(FactorizedReduce(4, 4, affine=False)) is None
    assert stages(MBConv(4, 4, 3, 3, 1)) is None
    assert stages(OPS["max_pool_3x3"](4, 1, False)) is None  # no batch-norm after it

    # Modules that compute something else than the plain torch ones keep their own forward.
    class Residual(nn.Sequential):
        def forward(self, x):
            return x + super().forward(x)

    def conv_bn():
        return [nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4, affine=False)]

    assert stages_of(nn.Sequential(*conv_bn()), False) is not None
    assert stages_of(Residual(*conv_bn()), False) is None
    hooked = nn.Sequential(*conv_bn())
    hooked[0].register_forward_hook(lambda m, i, o: o * 2)
    assert stages_of(hooked, False) is None
    weighted = nn.Sequential(*conv_bn())
    torch.nn.utils.parametrizations.weight_norm(weighted[0])
    assert stages_of(weighted, False) is None


def test_a_lone_lean_layer_choice_may_be_changed_in_place_by_the_network_around_it():
    from nascli.nn.supernet import CellPlan, MixedLayer

    layer = MixedLayer(
        "conv",
        [
            nn.Sequential(
                nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4, affine=False)
            ),
            nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4, affine=False)),
        ],
    )
    assert all(s is not None for s in layer.stages)
    layer.plan = CellPlan(choices=[[0]])  # a single path (SPOS), as the user's network sees it
    out = torch.relu_(layer(torch.randn(2, 3, 6, 6)))  # the user's ReLU(inplace=True)
    out.sum().backward()
    assert layer.ops[0][0].weight.grad is not None


@pytest.mark.parametrize("name", ["darts", "nb201"])
def test_lean_stages_under_bf16_autocast_are_as_close_to_fp32_as_plain_modules(name):
    torch.manual_seed(0)
    base = _supernet(name).to(memory_format=torch.channels_last)
    x, y = torch.randn(8, 3, 12, 12), torch.randint(0, 10, (8,))
    grads = {}
    for tag, lean, bf16 in (("fp32", False, False), ("plain", False, True), ("lean", True, True)):
        net = copy.deepcopy(base)
        net.lean = lean
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        assert all(
            p.grad is not None and p.grad.dtype == torch.float32 for p in net.alphas.values()
        )
        grads[tag] = torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None])
    error = {t: float((grads[t] - grads["fp32"]).norm() / grads["fp32"].norm()) for t in grads}
    assert 0 < error["lean"] <= 1.1 * error["plain"], error


def test_lean_stages_step_aside_in_eval():
    torch.manual_seed(0)
    net = _supernet("darts")
    x = torch.randn(4, 3, 12, 12)
    net.eval()
    with torch.no_grad():
        out = net(x)
    net.lean = False
    with torch.no_grad():
        assert torch.equal(out, net(x))


@pytest.mark.parametrize("name", ["darts", "nb201"])
def test_recomputed_cells_count_batch_norm_statistics_once(name):
    results = []
    for recompute in (False, True):
        torch.manual_seed(0)
        net = _supernet(name)
        net.recompute = recompute
        x, y = torch.randn(4, 3, 12, 12), torch.randint(0, 10, (4,))
        results.append(_pass(net, x, y))
    (g_a, b_a), (g_b, b_b) = results
    for a, b in zip(g_a, g_b, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    for a, b in zip(b_a, b_b, strict=True):
        assert torch.allclose(a.double(), b.double(), atol=1e-6)


def _train_bilevel(monkeypatch, prune: bool, method: str):
    """Three first-order bilevel steps through Lightning: (parameters and buffers before, after)."""
    import pytorch_lightning as pl

    if not prune:
        monkeypatch.setattr(oneshot_module, "no_grad_for", lambda params: contextlib.nullcontext())
    torch.manual_seed(0)
    space = DartsSpace(search_channels=4, search_layers=3)
    net = space.supernet((1, 8, 8), 10).double()
    module = BilevelModule(
        net,
        space,
        functools.partial(torch.optim.SGD, lr=0.05, momentum=0.9, weight_decay=3e-4),
        None,
        functools.partial(torch.optim.Adam, lr=0.01, betas=(0.5, 0.999), weight_decay=1e-3),
        method=method,
    )
    g = torch.Generator().manual_seed(0)

    def batch():
        return torch.randn(8, 1, 8, 8, generator=g, dtype=torch.double), torch.randint(
            0, 10, (8,), generator=g
        )

    class Batches:  # an iterable of (weight batch, architecture batch) pairs, like PairedLoader
        pairs = [(batch(), batch()) for _ in range(3)]

        def __iter__(self):
            return iter(self.pairs)

        def __len__(self):
            return len(self.pairs)

    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        precision="64-true",
    )
    start = [t.detach().clone() for t in (*net.parameters(), *net.buffers())]
    torch.manual_seed(3)
    trainer.fit(module, train_dataloaders=Batches())
    return start, [t.detach().clone() for t in (*net.parameters(), *net.buffers())]


@pytest.mark.parametrize("method", ["softmax", "gumbel"])
def test_pruned_bilevel_steps_end_where_full_gradient_steps_do(monkeypatch, method):
    pruned = _train_bilevel(monkeypatch, True, method)
    full = _train_bilevel(monkeypatch, False, method)
    for a, b in zip(pruned[1], full[1], strict=True):
        assert torch.allclose(a.double(), b.double(), rtol=1e-9, atol=1e-12)
    start, end = pruned
    assert not torch.equal(start[0], end[0])  # the weights moved
    alphas = [i for i, p in enumerate(start) if p.dim() == 2 and p.shape[-1] == 8]
    assert alphas and all(not torch.equal(start[i], end[i]) for i in alphas)


def test_the_unrolled_second_order_step_is_the_same_with_lean_stages():
    from nascli.oneshot.module import unrolled_backward

    torch.manual_seed(0)
    base = NB201Space(channels=4, cells_per_stage=1).supernet((1, 8, 8), 10).double()
    g = torch.Generator().manual_seed(0)
    train, val = (
        (torch.randn(8, 1, 8, 8, generator=g, dtype=torch.double), torch.randint(0, 10, (8,)))
        for _ in range(2)
    )
    grads = []
    for lean in (True, False):
        net = copy.deepcopy(base)
        net.lean = lean
        opt = torch.optim.SGD(net.weight_parameters(), lr=0.5, momentum=0.9, weight_decay=3e-4)

        def loss_fn(batch, net=net):
            logits = net(batch[0])
            return F.cross_entropy(logits, batch[1]), logits

        unrolled_backward(net, loss_fn, opt, train, val)
        grads.append(net.alphas["cell"].grad.clone())
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], grads[1], rtol=1e-8, atol=1e-12)


def test_a_gradient_of_a_lean_gradient_is_an_error_not_a_wrong_number():
    torch.manual_seed(0)
    net = _supernet("nb201")
    x, y = torch.randn(4, 3, 12, 12), torch.randint(0, 10, (4,))
    edge = next(m for m in net.modules() if isinstance(m, supernet.MixedEdge))
    weight = next(p for p in edge.parameters() if p.dim() == 4)  # a conv run as a stage
    loss = F.cross_entropy(net(x), y)
    (g,) = torch.autograd.grad(loss, [weight], create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()
