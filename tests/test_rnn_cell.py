"""The DARTS recurrent-cell space and its language model."""

from __future__ import annotations

import json
import random

import pytest
import torch

from nascli.core.space import ArchError
from nascli.spaces.rnn_cell import RNNCellSpace
from nascli.spaces.rnn_cell.genotype import NAMED, format_genotype
from tests.conftest import assert_one_line_error, run_nas
from tests.dataset_files import write_ptb


@pytest.mark.parametrize(
    "name, params", [("DARTS_V1", 22_960_000), ("DARTS_V2", 22_960_000), ("ENAS", 27_295_000)]
)
def test_published_cells_have_the_reference_codes_parameter_counts(name, params):
    """The DARTS code base's RNNModel with 10,000 words and embedding = hidden = 850: tied
    embedding 8.5M, decoder bias 10k, the first state's (1700, 1700) matrix, one (850, 1700)
    matrix per node (8 for the DARTS cells, 11 for ENAS's)."""
    net = RNNCellSpace(hidden=850).build(name, (35,), 10000)
    assert sum(p.numel() for p in net.parameters()) == params


def test_the_space_reads_writes_samples_and_mutates_cells():
    space = RNNCellSpace(hidden=8)
    assert list(space.cardinalities) == [n for k in range(1, 9) for n in (4, k)]
    assert space.size == 4**8 * 40320
    v2 = format_genotype(NAMED["DARTS_V2"])
    assert space.canonical("darts_v2") == v2 == space.format(space.parse(v2))
    assert (
        space.canonical(v2.replace("concat=[1, 2, 3, 4, 5, 6, 7, 8]", "concat=range(1, 9)")) == v2
    )
    rng = random.Random(0)
    for _ in range(50):
        arch = space.sample(rng)
        assert space.canonical(arch) == arch
        child = space.mutate(arch, rng)
        assert child != arch and space.canonical(child) == child
    assert len(space.neighbours(v2)) == sum(3 + (k - 1) for k in range(1, 9))
    with pytest.raises(ArchError, match="ENAS, can be trained by name but not searched"):
        space.parse("ENAS")
    with pytest.raises(ArchError, match="node 2 takes one of nodes 0..1"):
        space.parse(v2.replace("('sigmoid', 0), ('relu', 1)", "('sigmoid', 0), ('relu', 2)"))
    with pytest.raises(ArchError, match="unknown op 'gelu'"):
        space.parse(v2.replace("sigmoid", "gelu", 1))
    with pytest.raises(ArchError, match="neither Genotype"):
        space.parse("DARTS_V3")


def test_the_model_carries_its_state_across_chunks_and_drops_out_only_in_training():
    torch.manual_seed(0)
    net = RNNCellSpace(hidden=12).build("DARTS_V2", (6,), 20).eval()
    tokens = torch.randint(0, 20, (3, 10))
    whole, h = net(tokens)
    first, h1 = net(tokens[:, :4])
    rest, h2 = net(tokens[:, 4:], h1)
    assert whole.shape == (3, 10, 20) and h.shape == (3, 12)
    assert torch.allclose(torch.cat([first, rest], 1), whole, atol=1e-6)
    assert torch.allclose(h2, h, atol=1e-6)
    net.train()
    assert not torch.allclose(net(tokens)[0], whole)  # dropout in training
    assert net.decoder.weight is net.encoder.weight  # tied


@pytest.mark.slow
def test_a_search_on_reber_minimises_perplexity(tmp_path):
    """Random search over cells on the embedded grammar: every trial reports val_ppl above the
    grammar's floor, and best.json holds the lowest."""
    out = run_nas(
        "search", "space=rnn_cell", "dataset=reber", "dataset.strings=[300,60,60]",
        "strategy=random", "search.trials=3", "estimator.batch_size=4", "logger=none",
        "hydra.run.dir=s", "format=json", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "perplexity floor (what a perfect model scores): 1.4524" in out.stderr
    history = [json.loads(line) for line in (tmp_path / "s" / "history.jsonl").open()]
    ppl = [r["metrics"]["val_ppl"] for r in history]
    assert len(ppl) == 3 and all(p > 1.4524 for p in ppl) and min(ppl) < 8  # 8: a uniform guess
    best = json.loads((tmp_path / "s" / "best.json").read_text())
    assert best["metrics"]["val_ppl"] == min(ppl)
    assert best["arch"] == history[ppl.index(min(ppl))]["arch"]


def test_nas_train_and_evaluate_a_language_model(tmp_path):
    """A retrain on the embedded grammar reports test perplexity, bundles the vocabulary, and
    nas evaluate scores the bundle to the same figure; another corpus's words are refused."""
    out = run_nas(
        "train", "space=rnn_cell", "dataset=reber", "dataset.strings=[300,60,60]", "arch=DARTS_V2",
        "recipe.epochs=2", "logger=none", "hydra.run.dir=t", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "t"
    metrics = json.loads((run / "best.json").read_text())["metrics"]
    assert 1.4524 < metrics["test_ppl"] < 8 and "test_acc" not in metrics  # 8: a uniform guess
    assert 1.4524 < metrics["val_ppl"] < 8  # the recipe trains on train and scores valid
    words = (run / "vocab.txt").read_text().splitlines()
    assert sorted(words) == sorted([*"BEPSTVX", "<eos>"])
    card = (run / "MODEL_CARD.md").read_text()
    assert f"| test perplexity | {metrics['test_ppl']:.2f} |" in card and "vocab.txt" in card
    assert "onnxruntime matches PyTorch" in card and "`hidden_out`" in card
    # model.onnx is one step: three rows (a batch size the check never used), a token at a time
    import onnxruntime as ort

    import nascli

    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    net = nascli.load(run).eval()
    tokens = torch.randint(0, len(words), (3, 9))
    with torch.inference_mode():
        want, h_want = net(tokens)
    state = torch.zeros(3, h_want.size(1)).numpy()
    for t in range(9):
        logits, state = session.run(None, {"tokens": tokens[:, t].numpy(), "hidden": state})
        assert torch.allclose(torch.from_numpy(logits), want[:, t], atol=1e-4)
    assert torch.allclose(torch.from_numpy(state), h_want, atol=1e-4)
    ev = run_nas("evaluate", f"run={run}", "format=json", "hydra.run.dir=e", cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr[-3000:]
    got = json.loads(ev.stdout.strip().splitlines()[-1])["metrics"]
    assert got["test_ppl"] == pytest.approx(metrics["test_ppl"], rel=1e-5)
    root = write_ptb(tmp_path / "ptb")
    other = run_nas(
        "evaluate", f"run={run}", "dataset=text", f"dataset.root={root}", "hydra.run.dir=e2",
        cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(other, "vocabulary")
    ensemble = run_nas(
        "train", "space=rnn_cell", "dataset=reber", f"run={run}", "ensemble.top_k=2", cwd=tmp_path
    )
    assert_one_line_error(ensemble, "ensemble.top_k=2")
