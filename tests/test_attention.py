"""The attention space (AutoFormer-style encoders) and sequence classification on digits rows."""

from __future__ import annotations

import json
import random

import pytest
import torch

from nascli.core.space import ArchError
from nascli.data.module import ImageDataModule, SequenceDataModule
from nascli.hardware.cost import count_flops, count_params
from nascli.spaces.attention import AttentionSpace
from nascli.spaces.attention.net import EncoderLayer, _Attention

from .conftest import TINY, assert_one_line_error

ALL = AttentionSpace(mixers=("attention", "conv", "identity"))
ARCH = "d2:e64|attention:h4:r2|conv:h2:r4|identity:h1:r1|attention:h2:r2"


def test_depth_and_embedding_decide_the_layers_that_are_built():
    net = ALL.build(ARCH, (8, 8), 10)
    layers = [m for m in net.modules() if isinstance(m, EncoderLayer)]
    assert len(layers) == 2
    assert layers[0].mix.heads == 4 and layers[0].mlp[0].out_features == 128
    assert layers[1].norm1 is not None and layers[1].mlp[0].out_features == 256
    # Unbuilt layers, and the heads of a layer that does not attend, change nothing built.
    same = "d2:e64|attention:h4:r2|conv:h4:r4|attention:h4:r4|conv:h1:r1"
    assert count_params(ALL.build(same, (8, 8), 10)) == count_params(net)
    assert ALL.iso_key(same) == ALL.iso_key(ARCH) and same != ARCH
    assert ALL.iso_key(ARCH.replace("h4", "h2", 1)) != ALL.iso_key(ARCH)
    deeper = ARCH.replace("d2:", "d3:")
    assert count_params(ALL.build(deeper, (8, 8), 10)) > count_params(net)


def test_attention_matches_torchs_multihead_attention():
    torch.manual_seed(0)
    ours = _Attention(16, 4, 0.0).eval()
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.in_proj_bias.copy_(ours.qkv.bias)
        ref.out_proj.weight.copy_(ours.out.weight)
        ref.out_proj.bias.copy_(ours.out.bias)
    x = torch.randn(3, 7, 16)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    torch.testing.assert_close(ours(x), ref(x, x, x, need_weights=False)[0])


def test_flops_count_the_attention():
    one = AttentionSpace(depths=(1,), mixers=("attention", "identity"))
    attend, mlp_only = (
        count_flops(one.build(f"d1:e32|{m}:h2:r1", (8, 8), 10), (8, 8))
        for m in ("attention", "identity")
    )
    # q, k, v and the output projection of 8 tokens: 2 x 8 x 4 x 32 x 32 multiply-adds at least.
    assert attend - mlp_only >= 2 * 8 * 4 * 32 * 32


@pytest.mark.parametrize("shape", [(8, 8), (28, 28), (1, 8, 8), (3, 32, 32)])
def test_builds_and_trains_a_step_on_sequences_and_images(shape):
    space = AttentionSpace(mixers=("attention", "conv", "identity"), patch_size=4)
    for seed in range(3):
        net = space.build(space.sample(random.Random(seed)), shape, 10)
        out = net(torch.randn(2, *shape))
        assert out.shape == (2, 10)
        out.sum().backward()
    # A shorter sequence than the input shape uses the first positions.
    if len(shape) == 2:
        assert net(torch.randn(2, shape[0] - 1, shape[1])).shape == (2, 10)


def test_inputs_it_cannot_take_are_clear_errors():
    with pytest.raises(Exception, match=r"space.patch_size=3 does not divide the 8x8"):
        AttentionSpace(patch_size=3).build(AttentionSpace().sample(random.Random(0)), (1, 8, 8), 10)
    with pytest.raises(Exception, match=r"sequences \(T, features\) or images"):
        AttentionSpace().build(AttentionSpace().sample(random.Random(0)), (64,), 10)
    with pytest.raises(ArchError, match=r"space.embed_dims: 30 is not divisible by 4 heads"):
        AttentionSpace(embed_dims=(30,))
    with pytest.raises(ArchError, match=r"space.mixers: \['lstm'\]"):
        AttentionSpace(mixers=("attention", "lstm"))
    with pytest.raises(ArchError, match=r"space.heads=\[\] needs at least one value"):
        AttentionSpace(heads=())


@pytest.mark.parametrize(
    "text,names",
    [
        (ARCH.replace("d2:", "d5:"), "depth 5"),
        (ARCH.replace("e64", "e63"), "embedding 63"),
        (ARCH.replace("d2:e64", "e64"), "must start with its depth"),
        (ARCH.rsplit("|", 1)[0], "lists 3 layers"),
        (ARCH.replace("h4", "h3", 1), "layer 0 'attention:h3:r2'"),
        (ARCH.replace("r2", "r3", 1), "layer 0 'attention:h4:r3'"),
        (ARCH.replace("conv", "lstm"), "layer 1 'lstm:h2:r4'"),
    ],
)
def test_damaged_text_names_what_is_wrong(text, names):
    with pytest.raises(ArchError, match=names):
        ALL.parse(text)
    # Mixers outside the configured ones are refused too.
    with pytest.raises(ArchError, match="mixer in"):
        AttentionSpace().parse("d1:e32|conv:h1:r1|attention:h1:r1|attention:h1:r1|attention:h1:r1")


def test_digits_seq_reads_each_image_row_by_row():
    seq = SequenceDataModule("digits", seed=3, batch_size=16)
    img = ImageDataModule("digits", seed=3, batch_size=16)
    assert seq.input_shape == (8, 8) and seq.task == "sequence" and seq.sizes() == img.sizes()
    (xs, ys), (xi, yi) = next(iter(seq.train_dataloader())), next(iter(img.train_dataloader()))
    assert xs.shape == (16, 8, 8) and torch.equal(ys, yi)
    torch.testing.assert_close(xs, xi[:, 0])  # step t is row t
    with pytest.raises(Exception, match="dataset.task=image"):
        SequenceDataModule("digits", task="image")


def test_search_attention_on_digits_rows(nas, tmp_path):
    out = nas(
        "search", "space=attention", "dataset=digits_seq", "strategy=evolution",
        "strategy.population=2", "strategy.sample_size=1", "space.depths=[1,2]",
        "space.embed_dims=[16]", "space.mixers=[attention,conv,identity]",
        *TINY, "search.trials=3", f"hydra.run.dir={tmp_path}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    best = json.loads((tmp_path / "best.json").read_text())
    AttentionSpace(depths=(1, 2), embed_dims=(16,), mixers=("attention", "conv", "identity")).parse(
        best["arch"]
    )
    assert 0.0 <= best["metrics"]["val_acc"] <= 1.0 and best["metrics"]["flops"] > 0
    bad = nas("search", "space=attention", "dataset=digits_seq", "space.embed_dims=[30]", *TINY)
    assert_one_line_error(bad, "space.embed_dims")


def test_naswot_reads_gelu_patterns_and_refuses_a_network_without_units():
    from nascli.core.errors import NascliError
    from nascli.estimators.zerocost import score

    torch.manual_seed(0)
    x, y = torch.randn(16, 8, 8), torch.randint(0, 10, (16,))
    scores = {
        arch: score("naswot", ALL.build(arch, (8, 8), 10), x, y)
        for arch in (ARCH, ARCH.replace("d2:", "d4:"))
    }
    # Distinct patterns on 16 samples: the kernel is far from the all-zero matrix's ridge (-221).
    assert all(s > -100 for s in scores.values()) and len(set(scores.values())) == 2
    with pytest.raises(NascliError, match="estimator.proxy=synflow"):
        score("naswot", torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), x, y)


def test_train_evaluate_and_load_a_sequence_classifier(nas, tmp_path):
    import nascli

    arch = "d1:e16|attention:h2:r2|attention:h1:r1"
    space = ["space=attention", "dataset=digits_seq", "space.depths=[1,2]", "space.embed_dims=[16]"]
    # The attention recipe's AdamW is merged over the generic SGD (its momentum set to null).
    out = nas(
        "train",
        *space,
        f"arch={arch}",
        "recipe.epochs=3",
        "recipe.optimizer.lr=0.003",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    config = (tmp_path / "config.yaml").read_text()
    assert "torch.optim.AdamW" in config and "crop_padding: 0" in config
    metrics = json.loads((tmp_path / "summary.json").read_text())["best"]["metrics"]
    assert metrics["test_acc"] > 0.2 and metrics["onnx_max_abs_diff"] < 1e-4  # chance is 0.1
    model = nascli.load(tmp_path)
    assert model(torch.randn(3, 8, 8)).shape == (3, 10)
    # ONNX with a free batch and a free number of steps (up to the 8 it was built for).
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    assert session.get_inputs()[0].shape == ["batch", "steps", 8]
    x = torch.randn(3, 5, 8)
    got = session.run(None, {"sequences": x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), model(x).detach(), atol=1e-4, rtol=1e-4)
    assert "input `sequences`" in (tmp_path / "MODEL_CARD.md").read_text()
    ev = nas("evaluate", f"run={tmp_path}", f"hydra.run.dir={tmp_path / 'ev'}")
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert f"{metrics['test_acc']:.4f}" in ev.stdout


def test_a_custom_builder_declares_a_recurrent_sequence_classifier(nas, tmp_path):
    from pathlib import Path

    from nascli.spaces.custom import CustomSpace

    builder = str(Path(__file__).resolve().parents[1] / "examples" / "sequence_space.py") + ":build"
    space = CustomSpace(builder, probe_shape=(8, 8))
    for seed in range(4):
        net = space.build(space.sample(random.Random(seed)), (8, 8), 10)
        assert net(torch.randn(2, 8, 8)).shape == (2, 10)
    out = nas(
        "search", "space=custom", f"space.builder={builder}", "dataset=digits_seq",
        "strategy=evolution", "strategy.population=2", "strategy.sample_size=1", *TINY,
        f"hydra.run.dir={tmp_path}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    best = json.loads((tmp_path / "best.json").read_text())
    assert "unit=" in best["arch"] and best["metrics"]["flops"] > 0
    space.parse(best["arch"])
