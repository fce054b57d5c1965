"""Memory-lean training passes for the supernet's candidate ops, exact in value and gradient.

A supernet edge runs every candidate op on the same input, so what autograd keeps for backward
is what limits the batch. A DARTS convolution op is [ReLU] -> conv(s) -> batch-norm, twice for
the separable ones; autograd keeps the input of every conv and of every batch-norm. A *stage*
here keeps only its input (shared by every op of the edge) and its output (which the mixed sum
keeps anyway for the alpha gradient), and in backward
- recomputes the ReLU and every conv output but the last (depthwise convs: cheap to run forward)
  when it computes weight gradients (an architecture step needs only their shapes),
- takes the batch-norm gradient from its output: with affine=False, the output *is* the
  normalised input, so the input need not be kept.
Pools followed by a batch-norm (DARTS's search pools) are stages too: max pooling finds its
argmax again in backward instead of keeping int64 indices.

Only training passes with gradients use stages (batch-norm in training mode, running statistics
updated exactly as nn.BatchNorm2d does); anything that does not match a known pattern runs as
plain modules. Under autocast (bf16/fp16 on a GPU) the convs run and are recomputed in its dtype,
as close to fp32 as plain modules under autocast are. A stage's backward is not itself differentiable (an error, never a wrong number,
if asked): set `Supernet.lean = False` to differentiate through a training step.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

aten = torch.ops.aten


@dataclass
class Stage:
    """[ReLU] -> convs -> BatchNorm2d(affine=False), or [ReLU] -> pool -> BatchNorm2d."""

    relu: bool
    convs: tuple[nn.Conv2d, ...]
    bn: nn.BatchNorm2d
    pool: nn.Module | None = None


def _bn_factor(bn: nn.BatchNorm2d) -> float:
    """nn.BatchNorm2d's running-average factor for this step (it counts the step)."""
    bn.num_batches_tracked.add_(1)
    if bn.momentum is None:  # cumulative moving average
        return 1.0 / float(bn.num_batches_tracked)
    return bn.momentum


def _conv(x: torch.Tensor, conv: nn.Conv2d, weight: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)


def _pool(x: torch.Tensor, pool: nn.Module, indices: bool = False):
    if not indices and _flat_window(x, pool):
        return _flat_pool(x, pool)
    if isinstance(pool, nn.MaxPool2d):
        return F.max_pool2d(
            x, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode, indices
        )
    return F.avg_pool2d(
        x,
        pool.kernel_size,
        pool.stride,
        pool.padding,
        pool.ceil_mode,
        pool.count_include_pad,
        pool.divisor_override,
    )


def _pool_backward(grad: torch.Tensor, x: torch.Tensor, pool: nn.Module) -> torch.Tensor:
    pair = nn.modules.utils._pair
    if isinstance(pool, nn.MaxPool2d):
        _, indices = _pool(x, pool, indices=True)
        return aten.max_pool2d_with_indices_backward(
            grad,
            x,
            pair(pool.kernel_size),
            pair(pool.stride),
            pair(pool.padding),
            pair(pool.dilation),
            pool.ceil_mode,
            indices,
        )
    if _flat_window(x, pool):
        # Stride 1 with windows centred on each pixel: the adjoint of the window sum is the
        # same window sum (of the gradient over each window's count).
        n, c, h, w = x.shape
        count = _window_counts(h, w, c, pool, grad.dtype)
        return _narrow(_window_sum(_flat_view(grad) / count, c, _pair_of(pool)), x)
    return aten.avg_pool2d_backward(
        grad,
        x,
        pair(pool.kernel_size),
        pair(pool.stride),
        pair(pool.padding),
        pool.ceil_mode,
        pool.count_include_pad,
        pool.divisor_override,
    )


# Pooling on flat rows. ATen's channels-last CPU pooling runs each window on C values at a time,
# slow when C is small: a 3x3 max pool of 32x8x32x32 takes about 480 us, an average pool 590 us
# (2 threads). A stride-1 pool whose windows are centred on each pixel is separable, and on
# the [N, H, W * C] view of a channels-last tensor a shift by one pixel is a shift by C values
# along contiguous rows: two passes of 2r maxima (or sums) take about 100 us there (per call
# at the DARTS supernets' shapes: 4-5x at 32x8x32x32, 1.7-2.7x at 64 channels). Average pools
# below 16x16 pixels are faster in ATen's kernel and stay there; so does the max pool's
# backward, whose argmax no separable pass found faster (docs/measurements.md).


def _pair_of(pool: nn.Module) -> tuple[int, int]:
    return nn.modules.utils._pair(pool.kernel_size)


def _flat_window(x: torch.Tensor, pool: nn.Module) -> bool:
    """Whether `pool` of `x` takes the flat-row path: a channels-last CPU float tensor larger
    than the window's radius, stride 1, odd windows padded by their radius, no dilation, floor
    mode, and for average pools fp32 or fp64 (ATen sums lower precisions in fp32), no divisor
    override and at least 16x16 pixels."""
    pair = nn.modules.utils._pair
    kernel = pair(pool.kernel_size)
    stride = pair(pool.stride if pool.stride is not None else pool.kernel_size)
    if (
        x.device.type != "cpu"
        or not x.is_floating_point()
        or memory_format(x) != torch.channels_last
        or stride != (1, 1)
        or pool.ceil_mode
        or any(k % 2 == 0 for k in kernel)
        or pair(pool.padding) != (kernel[0] // 2, kernel[1] // 2)
        or x.shape[2] <= kernel[0] // 2
        or x.shape[3] <= kernel[1] // 2
    ):
        return False
    if isinstance(pool, nn.MaxPool2d):
        return pair(pool.dilation) == (1, 1)
    return (
        x.dtype in (torch.float32, torch.float64)
        and pool.divisor_override is None
        and x.shape[2] * x.shape[3] >= 256
    )


def _flat_view(t: torch.Tensor) -> torch.Tensor:
    """A channels-last [N, C, H, W] tensor as the [N, H, W * C] view of its memory."""
    n, c, h, w = t.shape
    return t.permute(0, 2, 3, 1).reshape(n, h, w * c)


def _window_max(f: torch.Tensor, c: int, kernel: tuple[int, int]) -> torch.Tensor:
    """The maximum over each pixel's centred window of the flat view `f` (edges truncated)."""
    for dim, step, k in ((2, c, kernel[1]), (1, 1, kernel[0])):
        out = f.clone()
        for d in range(step, step * (k // 2) + 1, step):
            ahead, behind = (
                out.narrow(dim, d, f.shape[dim] - d),
                out.narrow(dim, 0, f.shape[dim] - d),
            )
            torch.maximum(ahead, f.narrow(dim, 0, f.shape[dim] - d), out=ahead)
            torch.maximum(behind, f.narrow(dim, d, f.shape[dim] - d), out=behind)
        f = out
    return f


def _window_sum(f: torch.Tensor, c: int, kernel: tuple[int, int]) -> torch.Tensor:
    """The sum over each pixel's centred window of the flat view `f` (zeros past the edges)."""
    for dim, step, k in ((2, c, kernel[1]), (1, 1, kernel[0])):
        out = f.clone()
        for d in range(step, step * (k // 2) + 1, step):
            out.narrow(dim, d, f.shape[dim] - d).add_(f.narrow(dim, 0, f.shape[dim] - d))
            out.narrow(dim, 0, f.shape[dim] - d).add_(f.narrow(dim, d, f.shape[dim] - d))
        f = out
    return f


@functools.lru_cache(maxsize=128)
def _counts(h: int, w: int, c: int, kernel: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    ones = torch.ones(1, h, w * c, dtype=dtype)
    return _window_sum(ones, c, kernel)


def _window_counts(h: int, w: int, c: int, pool: nn.Module, dtype: torch.dtype):
    """What an average pool divides each window's sum by, as a [1, H, W * C] tensor or a number."""
    kernel = _pair_of(pool)
    if pool.count_include_pad:
        return float(kernel[0] * kernel[1])
    return _counts(h, w, c, kernel, dtype)


def _flat_pool(x: torch.Tensor, pool: nn.Module) -> torch.Tensor:
    n, c, h, w = x.shape
    kernel = _pair_of(pool)
    if isinstance(pool, nn.MaxPool2d):
        return _narrow(_window_max(_flat_view(x), c, kernel), x)
    total = _window_sum(_flat_view(x), c, kernel)
    return _narrow(total.div_(_window_counts(h, w, c, pool, x.dtype)), x)


class _StageFunction(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx, h: torch.Tensor, stage: Stage, before_relu: torch.Tensor | None, *weights: torch.Tensor
    ) -> torch.Tensor:
        """`h` is the stage's input; for a ReLU stage whose ReLU ran already (shared by the
        edge's ops), `h` is its output and `before_relu` its input, which is kept instead."""
        x = h if before_relu is None else before_relu
        ctx.relu_done = before_relu is not None
        h = F.relu(h) if stage.relu and before_relu is None else h
        if stage.pool is not None:
            h = _pool(h, stage.pool)
        for conv, w in zip(stage.convs, weights, strict=True):
            h = _conv(h, conv, w)
        bn = stage.bn
        y, invstd = _bn_forward(h, bn)
        ctx.stage = stage
        # Under autocast the convs ran in its dtype (bf16/fp16); backward recomputes alike.
        device = x.device.type
        ctx.autocast = torch.is_autocast_enabled(device)
        ctx.autocast_dtype = torch.get_autocast_dtype(device) if ctx.autocast else None
        ctx.save_for_backward(x, y, invstd, *weights)
        return y

    @staticmethod
    @once_differentiable  # nascli needs no gradient of a gradient here (order=2 uses differences)
    def backward(ctx, grad_y: torch.Tensor):  # type: ignore[override]
        x, y, invstd, *weights = ctx.saved_tensors
        stage: Stage = ctx.stage
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[3:]
        # The batch-norm gradient, from its output (its input was not kept).
        grad_y = grad_y.contiguous(memory_format=memory_format(y)).to(y.dtype)
        grad = _bn_backward(grad_y, y, invstd, stage.bn.eps)
        # Recompute the inputs of the convs whose weight gradients are asked for (everything
        # before the last such conv); the others' inputs are only shapes to conv_backward (an
        # architecture step asks for no weight gradient and recomputes nothing).
        last = max((i for i, need in enumerate(need_w) if need), default=-1)
        r = F.relu(x) if stage.relu and (stage.pool is not None or last >= 0) else x
        # A pool stage has no convs; its backward pools again itself (for the argmax).
        inputs = [r if stage.pool is None else None]
        with torch.autocast(x.device.type, dtype=ctx.autocast_dtype, enabled=ctx.autocast):
            for i, (conv, w) in enumerate(zip(stage.convs[:-1], weights[:-1], strict=True)):
                if i < last:
                    inputs.append(_conv(inputs[-1], conv, w))
                else:
                    dtype = ctx.autocast_dtype if ctx.autocast else inputs[-1].dtype
                    inputs.append(_unset_output(inputs[-1], conv, dtype))
        grads_w: list[torch.Tensor | None] = [None] * len(weights)
        for i in reversed(range(len(stage.convs))):
            conv, w = stage.convs[i], weights[i]
            need_in = need_x or any(need_w[:i])
            if not (need_in or need_w[i]):
                return (None, None, None, *grads_w)
            # The dtype the conv ran in: autocast's, or its input's (autograd casts the weight
            # gradient back to the weight's dtype).
            dtype = ctx.autocast_dtype if ctx.autocast else inputs[i].dtype
            grad, grads_w[i] = conv_backward(
                grad.to(dtype), inputs[i].to(dtype), w.to(dtype), conv, need_in, need_w[i]
            )
        if not need_x:
            return (None, None, None, *grads_w)
        grad = grad.to(r.dtype)
        if stage.pool is not None:
            grad = _pool_backward(grad, r, stage.pool)
        if stage.relu and not ctx.relu_done:
            grad = aten.threshold_backward(grad, x, 0.0)
        return (grad, None, None, *grads_w)


def _unset_output(h: torch.Tensor, conv: nn.Conv2d, dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor of the shape and layout of `conv`'s output at input `h`."""
    n, _, *size = h.shape
    pair = nn.modules.utils._pair
    out = [
        (s + 2 * p - d * (k - 1) - 1) // st + 1
        for s, p, d, k, st in zip(
            size, pair(conv.padding), pair(conv.dilation), conv.weight.shape[2:],
            pair(conv.stride), strict=True,
        )
    ]  # fmt: skip
    fmt = memory_format(h)
    return torch.empty(n, conv.out_channels, *out, dtype=dtype, device=h.device, memory_format=fmt)


def _depthwise(conv: nn.Conv2d) -> bool:
    return conv.groups == conv.in_channels == conv.out_channels


def conv_backward(
    grad: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    conv: nn.Conv2d,
    need_input: bool,
    need_weight: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The input and weight gradients of `conv` (bias-free) at input `x`, as ATen's
    convolution_backward computes them, but around two slow oneDNN paths on the CPU that a DARTS
    supernet takes on every edge (measured at its shapes, 2 threads):
    - a depthwise conv with stride 2 and dilation 2 (dil_conv on a reduction edge): its backward
      is 13-28x slower than the same conv's on the input's even rows and columns, which are all
      that it reads when its padding is even (every tap lands on 2 * (h + i - padding / 2));
    - a stride-1 depthwise conv: its input gradient is the correlation of `grad` with the
      flipped kernel, which oneDNN's forward kernel computes 1.4-12x faster (dilated ones most);
    - a stride-1, dilation-2 depthwise conv: its weight gradient is that of a dense conv over
      the input's four sub-grids of (row, column) parities stacked along the batch, 1.1-7x
      faster (oneDNN's dense 3x3 depthwise weight gradient is its fastest by far).
    """
    pair = nn.modules.utils._pair
    stride, padding, dilation = pair(conv.stride), pair(conv.padding), pair(conv.dilation)
    cpu_depthwise = x.device.type == "cpu" and _depthwise(conv)
    if (
        cpu_depthwise
        and stride == (2, 2)
        and dilation == (2, 2)
        and not (padding[0] % 2 or padding[1] % 2)
    ):
        even = x[:, :, ::2, ::2]
        # Its values only count for the weight gradient; the input gradient needs its shape.
        if need_weight:
            even = even.contiguous(memory_format=memory_format(x))
        else:
            even = torch.empty_like(even, memory_format=memory_format(x))
        half = [padding[0] // 2, padding[1] // 2]
        g_even, g_w, _ = aten.convolution_backward(
            grad, even, weight, None, [1, 1], half, [1, 1], False, [0, 0], conv.groups,
            [need_input, need_weight, False],
        )  # fmt: skip
        g_x = None
        if need_input:
            g_x = torch.zeros_like(x, memory_format=memory_format(x))
            g_x[:, :, ::2, ::2] = g_even
        return g_x, g_w
    same = all(p == d * (k - 1) // 2 and d * (k - 1) % 2 == 0
               for p, d, k in zip(padding, dilation, weight.shape[2:], strict=True))  # fmt: skip
    if cpu_depthwise and stride == (1, 1) and same:
        g_x = None
        if need_input:
            g_x = F.conv2d(grad, weight.flip([2, 3]), None, 1, padding, dilation, conv.groups)
        g_w = None
        if need_weight and _subgrids_apply(x, padding, dilation):
            # Each of the four sub-grids of (row, column) parities is a dense conv of its own.
            half = [padding[0] // 2, padding[1] // 2]
            g_w = aten.convolution_backward(
                _subgrids(grad), _subgrids(x), weight, None, [1, 1], half, [1, 1], False,
                [0, 0], conv.groups, [False, True, False],
            )[1]  # fmt: skip
        elif need_weight:
            g_w = aten.convolution_backward(
                grad, x, weight, None, [1, 1], list(padding), list(dilation), False, [0, 0],
                conv.groups, [False, True, False],
            )[1]  # fmt: skip
        return g_x, g_w
    return aten_conv_backward(grad, x, weight, conv, need_input, need_weight)


def _subgrids_apply(x: torch.Tensor, padding: tuple, dilation: tuple) -> bool:
    """Whether a stride-1 depthwise conv's weight gradient is taken over `_subgrids`: dilation
    2, even padding and an even-sized input."""
    return dilation == (2, 2) and not any(n % 2 for n in (*padding, *x.shape[2:]))


def _subgrids(t: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] (H and W even) as [4N, C, H/2, W/2]: the four sub-grids of (row, column)
    parities stacked along the batch, in `t`'s memory format."""
    n, c, h, w = t.shape
    if memory_format(t) == torch.channels_last:
        grids = t.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2, c).permute(2, 4, 0, 1, 3, 5)
        return grids.reshape(4 * n, h // 2, w // 2, c).permute(0, 3, 1, 2)
    grids = t.reshape(n, c, h // 2, 2, w // 2, 2).permute(3, 5, 0, 1, 2, 4)
    return grids.reshape(4 * n, c, h // 2, w // 2)


def aten_conv_backward(
    grad: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    conv: nn.Conv2d,
    need_input: bool,
    need_weight: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """`conv_backward` as ATen computes it, on every path (the benchmarks' baseline)."""
    g_x, g_w, _ = aten.convolution_backward(
        grad, x, weight, None, list(conv.stride), list(conv.padding), list(conv.dilation),
        False, [0, 0], conv.groups, [need_input, need_weight, False],
    )  # fmt: skip
    return g_x, g_w


def _rows(t: torch.Tensor, any_float: bool = False) -> int | None:
    """For a channels-last CPU float tensor of at most 24 channels, not 16: how many pixels k
    to lay side by side so that its per-channel arithmetic runs on rows of k * C >= 64 values
    (`_wide`); None for any other tensor. ATen's kernels are slow on such tensors, their
    innermost run being C values (2 threads, this noisy VM): its channels-last batch-norm
    forward 6-7x at 2 and 4 channels (about even at 8), and per-channel broadcasts 4-8x at 4 to
    12 channels. Above 24 channels the rows are too few pixels wide to pay. Only fp32 and fp64
    unless `any_float` (a forward in bf16 keeps ATen's fp32 accumulation)."""
    c = t.shape[1]
    if (
        t.device.type != "cpu"
        or not (t.dtype in (torch.float32, torch.float64) or any_float and t.is_floating_point())
        or c % 16 == 0
        or c > 24
        or memory_format(t) != torch.channels_last
    ):
        return None
    pixels = t.numel() // c
    first = -(-64 // c)
    return next((k for k in range(first, 4 * first) if pixels % k == 0), None)


def _wide(t: torch.Tensor, k: int) -> torch.Tensor:
    """A channels-last [N, C, H, W] tensor as the [N * H * W / k, k * C] view of its memory."""
    return t.permute(0, 2, 3, 1).reshape(-1, k * t.shape[1])


def _narrow(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`_wide`'s inverse: the [N, C, H, W] channels-last view of `like`'s shape."""
    n, c, h, w = like.shape
    return t.view(n, h, w, c).permute(0, 3, 1, 2)


def _channel_sum(t: torch.Tensor, k: int) -> torch.Tensor:
    return t.sum(0).view(k, -1).sum(0)


def _bn_forward(h: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A training-mode batch-norm (affine=False) updating `bn`'s running statistics as
    nn.BatchNorm2d does: its output and the inverse standard deviation per channel."""
    factor = _bn_factor(bn)
    k = _rows(h)
    if k is None:
        y, _, invstd = aten.native_batch_norm(
            h, None, None, bn.running_mean, bn.running_var, True, factor, bn.eps
        )
        return y, invstd
    wide, m = _wide(h, k), h.numel() // h.shape[1]
    mean = _channel_sum(wide, k) / m
    centred = wide - mean.repeat(k)
    var = _channel_sum(centred.square(), k) / m
    invstd = torch.rsqrt(var + bn.eps)
    y = _narrow(centred.mul_(invstd.repeat(k)), h)
    with torch.no_grad():
        bn.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        bn.running_var.mul_(1 - factor).add_(var * (m / max(m - 1, 1)), alpha=factor)
    return y, invstd


def _bn_backward(
    grad_y: torch.Tensor, y: torch.Tensor, invstd: torch.Tensor, eps: float
) -> torch.Tensor:
    """The gradient of a training-mode batch-norm (affine=False) in terms of its output
    y = (h - mean) * invstd: invstd * (g - mean(g) - y * mean(g * y)), per channel."""
    k = _rows(y, any_float=True)
    if k is not None:  # passes over rows of k pixels (see _rows)
        g, wide, m = _wide(grad_y, k), _wide(y, k), y.numel() // y.shape[1]
        mean_g, mean_gy = _channel_sum(g, k) / m, _channel_sum(g * wide, k) / m
        # invstd * g - invstd * mean(g), then less invstd * mean(g * y) * y: two passes.
        scale, dtype = invstd.repeat(k), g.dtype  # in the gradient's dtype, as ATen's
        out = torch.addcmul((-mean_g * invstd).repeat(k).to(dtype), g, scale.to(dtype))
        out.addcmul_(wide, (mean_gy * invstd).repeat(k).to(dtype), value=-1.0)
        return _narrow(out, y)
    if y.device.type == "cpu" and y.shape[1] % 16 and memory_format(y) == torch.channels_last:
        # ATen's channels-last CPU kernel is 4-10x slower than these passes when the channel
        # count is not a multiple of 16 (at 16, 32 and 64 it is the faster one).
        m, scale = y.numel() // y.shape[1], invstd.view(1, -1, 1, 1)
        mean_g = grad_y.sum((0, 2, 3)).view(1, -1, 1, 1) / m
        mean_gy = (grad_y * y).sum((0, 2, 3)).view(1, -1, 1, 1) / m
        dtype = grad_y.dtype
        out = torch.addcmul((-mean_g * scale).to(dtype), grad_y, scale.to(dtype))
        return out.addcmul_(y, (mean_gy * scale).to(dtype), value=-1.0)
    ones, zeros = torch.ones_like(invstd), torch.zeros_like(invstd)
    # The native backward of a batch-norm with mean 0 and invstd 1 applied to y, with invstd
    # as its affine weight: the scaling comes in the same pass.
    return aten.native_batch_norm_backward(
        grad_y, y, invstd, None, None, zeros, ones, True, eps, [True, False, False]
    )[0]


def memory_format(t: torch.Tensor) -> torch.memory_format:
    return (
        torch.channels_last
        if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)
        else torch.contiguous_format
    )


def _plain(m: nn.Module, kind: type[nn.Module]) -> bool:
    """`m` computes exactly what `kind` computes: that class or a subclass that overrides nothing
    a stage replaces (forward, _conv_forward), with no hooks and no parametrised weights."""
    if not isinstance(m, kind) or type(m).forward is not kind.forward:
        return False
    if kind is nn.Conv2d and type(m)._conv_forward is not nn.Conv2d._conv_forward:
        return False
    hooks = (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks)
    return not any(hooks) and not hasattr(m, "parametrizations")


def _is_bn(m: nn.Module) -> bool:
    return _plain(m, nn.BatchNorm2d) and not m.affine and m.track_running_stats


def _is_plain_conv(m: nn.Module) -> bool:
    return (
        _plain(m, nn.Conv2d)
        and m.bias is None
        and m.padding_mode == "zeros"
        and not isinstance(m.padding, str)
    )


def _is_pool(m: nn.Module) -> bool:
    if _plain(m, nn.MaxPool2d):
        return not m.return_indices
    return _plain(m, nn.AvgPool2d)


def stages_of(op: nn.Module, relu_first: bool) -> list[Stage] | None:
    """The op as a list of stages (its leading ReLU given by `relu_first`), or None when it is not
    one of the known [ReLU] conv... BN / pool BN patterns, built of the plain torch modules (a
    subclass with a forward of its own, hooks or parametrisations keep the op as it is)."""
    if isinstance(op, nn.Sequential) and not _plain(op, nn.Sequential):
        return None
    mods = list(op) if isinstance(op, nn.Sequential) else [op]
    # The search pools: Sequential(pool, BatchNorm2d(affine=False)).
    if len(mods) == 2 and _is_pool(mods[0]) and _is_bn(mods[1]):
        return [Stage(relu_first, (), mods[1], mods[0])]
    stages, relu, convs = [], relu_first, []
    for m in mods:
        if _plain(m, nn.ReLU):
            if convs or relu:
                return None
            relu = True
        elif _is_plain_conv(m):
            convs.append(m)
        elif _is_bn(m) and convs:
            stages.append(Stage(relu, tuple(convs), m))
            relu, convs = False, []
        else:
            return None
    return stages if stages and not convs and not relu else None


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum(a * b) in one pass where both share a dense layout (a dot of their memory)."""
    for fmt in (torch.contiguous_format, torch.channels_last):
        if (
            a.dim() == 4
            and a.dtype == b.dtype
            and a.is_contiguous(memory_format=fmt)
            and b.is_contiguous(memory_format=fmt)
        ):
            order = (0, 2, 3, 1) if fmt == torch.channels_last else (0, 1, 2, 3)
            return torch.dot(a.permute(order).reshape(-1), b.permute(order).reshape(-1))
    return (a * b).sum()


class _WeightedSum(torch.autograd.Function):
    """sum_i weights[index_i] * outs_i: one multiply-add pass per op and one autograd node per
    edge, where autograd's mul and add make two passes and two nodes per op; the weights'
    gradient is one dot per op. Keeps the ops' outputs only when the weights need gradients."""

    @staticmethod
    def forward(ctx, weights: torch.Tensor, index: tuple[int, ...], *outs: torch.Tensor):  # type: ignore[override]
        dtype = functools.reduce(torch.promote_types, (o.dtype for o in outs))
        total = (outs[0] * weights[index[0]]).to(dtype)  # autograd's sum promotes alike
        for i, out in zip(index[1:], outs[1:], strict=True):
            total.addcmul_(out, weights[i])
        ctx.index = index
        ctx.save_for_backward(weights, *(outs if ctx.needs_input_grad[0] else ()))
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        weights, *outs = ctx.saved_tensors
        grad_w = None
        if ctx.needs_input_grad[0]:
            grad_w = torch.zeros_like(weights)
            for i, out in zip(ctx.index, outs, strict=True):
                grad_w[i] = _dot(grad, out)
        need = ctx.needs_input_grad[2:]
        grads = [grad * weights[i] if n else None for i, n in zip(ctx.index, need, strict=True)]
        return (grad_w, None, *grads)


def weighted_sum(
    weights: torch.Tensor, index: Sequence[int], outs: Sequence[torch.Tensor]
) -> torch.Tensor:
    """sum_i weights[index[i]] * outs[i] (a mixed edge's output), as autograd computes it."""
    return _WeightedSum.apply(weights, tuple(index), *outs)


class _ReLU(torch.autograd.Function):
    """A ReLU that keeps its input for backward, not its output: an edge's ops share one ReLU
    of the edge's input, which the edge keeps anyway, so the output is not kept at all."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return F.relu(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return aten.threshold_backward(grad, x, 0.0)


def shared_relu(x: torch.Tensor) -> torch.Tensor:
    """ReLU(x) for several ReLU stages of one input (`run_stages`'s `relu_of_x`): one ReLU and
    one ReLU gradient instead of one per stage, and nothing more kept."""
    return _ReLU.apply(x)


def run_stages(
    stages: Sequence[Stage], x: torch.Tensor, relu_of_x: torch.Tensor | None = None
) -> torch.Tensor:
    """Run `stages` on `x`; `relu_of_x`, from `shared_relu(x)`, stands for a leading ReLU."""
    for i, stage in enumerate(stages):
        weights = (c.weight for c in stage.convs)
        if i == 0 and stage.relu and relu_of_x is not None:
            x = _StageFunction.apply(relu_of_x, stage, x, *weights)
        else:
            x = _StageFunction.apply(x, stage, None, *weights)
    return x


@contextmanager
def no_grad_for(params: Iterable[torch.nn.Parameter]) -> Iterator[None]:
    """Leave `params` out of autograd for the block. A step that will not use their gradients
    then neither computes them nor keeps the activations only they need: the first-order
    architecture step skips every weight gradient (and the convolutions keep no inputs for them),
    the weight step every alpha gradient (and the mixed sums keep no op outputs for it)."""
    params = [p for p in params if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
