"""Language-modelling data: PTB-format corpora, any text folder, the embedded Reber grammar."""

from __future__ import annotations

import math
import random

import pytest
import torch

from nascli.core.errors import NascliError
from nascli.data.text import (
    EOS,
    REBER,
    REBER_END,
    TextDataModule,
    Vocabulary,
    batchify,
    reber_entropy,
    reber_string,
)
from tests.conftest import assert_one_line_error, run_nas
from tests.dataset_files import PTB_LINES, write_ptb


@pytest.mark.parametrize("prefix", ["ptb", None])
def test_ptb_files_give_words_eos_and_a_vocabulary_from_train(tmp_path, prefix):
    root = write_ptb(tmp_path / "ptb", prefix)
    data = TextDataModule(root=str(root), prefix="ptb", vocabulary=10000, batch_size=2, bptt=5)
    words = data.vocab.words
    first = PTB_LINES["train"][0].split()
    assert words[: len(first) + 1] == [*first, EOS]  # ids in order of first appearance
    # every line ends with <eos>: the stream decodes back to the lines
    valid = [words[i] for i in data.ids["valid"].tolist()]
    assert valid == [*PTB_LINES["valid"][0].split(), EOS]
    train_lines = (root / (f"{prefix}.train.txt" if prefix else "train.txt")).read_text()
    n_train = sum(len(line.split()) + 1 for line in train_lines.splitlines())
    assert data.sizes()["train"] == n_train
    assert data.num_classes == len(set(train_lines.split()) | {EOS})
    assert data.input_shape == (5,)


def test_bptt_batches_are_rows_of_the_stream_and_targets_are_one_token_on(tmp_path):
    data = TextDataModule(root=str(write_ptb(tmp_path / "p")), prefix="ptb", batch_size=3, bptt=4)
    stream = data.ids["train"]
    rows = batchify(stream, 3)
    length = len(stream) // 3
    assert rows.shape == (3, length) and torch.equal(rows[1], stream[length : 2 * length])
    chunks = list(data.train_dataloader())
    assert len(chunks) == len(data.train_dataloader()) == math.ceil((length - 1) / 4)
    x, y = chunks[0]
    assert x.shape == y.shape == (3, 4) and x.dtype == torch.int64
    assert torch.equal(y[:, :-1], x[:, 1:])  # targets: the inputs moved on by one
    # row b of a chunk continues row b of the one before; the last chunk is shorter
    assert torch.equal(torch.cat([c[0] for c in chunks], 1), rows[:, : length - 1])
    assert chunks[-1][0].size(1) == (length - 1) - 4 * (len(chunks) - 1)


def test_a_small_vocabulary_keeps_the_most_frequent_and_reads_the_rest_as_unk():
    train = ["a", "b", "a", "c", "a", "b", "d", EOS]
    # the two most frequent are a and b, but <eos> is always kept: it takes b's place
    vocab = Vocabulary(train, size=3)
    assert vocab.words == ["a", EOS, "<unk>"]
    assert Vocabulary(train, size=4).words == ["a", "b", EOS, "<unk>"]
    assert vocab.ids(["a", "zzz"], "valid").tolist() == [vocab.index["a"], vocab.index["<unk>"]]
    with pytest.raises(NascliError, match="dataset.vocabulary"):
        Vocabulary(train).ids(["zzz"], "valid")  # no <unk> to fall back on
    with pytest.raises(NascliError, match="dataset.vocabulary=1"):
        Vocabulary(train, size=1)


def test_a_folder_of_text_files_is_split_by_lines_at_the_character_level(tmp_path):
    (tmp_path / "a.txt").write_text("".join(f"line {i}\n" for i in range(8)))
    (tmp_path / "b.txt").write_text("in\nen\n")
    data = TextDataModule(root=str(tmp_path), level="char", batch_size=1, bptt=3)
    words = data.vocab.words
    decoded = "".join(words[i] if words[i] != EOS else "|" for i in data.ids["test"].tolist())
    assert decoded == "en|"  # the last line of the last file (10 lines, 10 % for test)
    assert "".join(words[i] for i in data.ids["valid"].tolist()) == f"in{EOS}"
    (tmp_path / "c.txt").write_text("zz\n")  # a character that training never saw
    with pytest.raises(NascliError, match="'z', which the training split lacks"):
        TextDataModule(root=str(tmp_path), level="char").setup()


def test_missing_empty_and_unreadable_corpora_are_clear_errors(tmp_path):
    with pytest.raises(NascliError, match=r"ptb.train.txt, ptb.valid.txt, ptb.test.txt"):
        TextDataModule(root=str(tmp_path), prefix="ptb").setup()
    root = write_ptb(tmp_path / "p")
    (root / "ptb.valid.txt").write_text("\n\n")
    with pytest.raises(NascliError, match="the valid split has no text"):
        TextDataModule(root=str(root), prefix="ptb").setup()
    (root / "ptb.valid.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(NascliError, match="is not UTF-8"):
        TextDataModule(root=str(root), prefix="ptb").setup()
    (tmp_path / "empty").mkdir()
    with pytest.raises(NascliError, match="holds no .txt file"):
        TextDataModule(root=str(tmp_path / "empty")).setup()


def test_ptb_without_files_is_one_line_before_any_trial(tmp_path):
    out = run_nas(
        "search", "space=rnn_cell", "dataset=ptb", f"dataset.root={tmp_path}", "logger=none",
        cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(out, f"dataset.root={tmp_path}")
    assert "ptb.train.txt" in out.stderr
    out = run_nas("search", "space=rnn_cell", "dataset=ptb", "dataset.vocabulary=1", cwd=tmp_path)
    assert_one_line_error(out, "dataset.vocabulary")


def _accepts(text: str) -> bool:
    """Whether `text` is a string of the embedded Reber grammar."""
    if len(text) < 7 or text[0] != "B" or text[-1] != "E" or text[1] != text[-2]:
        return False
    inner = text[2:-2]
    if inner[0] != "B" or inner[-1] != "E":
        return False
    state = 0
    for symbol in inner[1:-1]:
        moves = dict(REBER.get(state, ()))
        if symbol not in moves:
            return False
        state = moves[symbol]
    return state == REBER_END


def test_reber_strings_follow_the_grammar_and_its_entropy_is_the_floor():
    rng = random.Random(1)
    strings = [reber_string(rng) for _ in range(4000)]
    assert all(_accepts(s) for s in strings)
    assert not _accepts("BTBTXSEPE")  # the wrapping symbols disagree
    # Exact: 1 nat-of-a-coin per choice, 7 bits over 13 tokens per string on average.
    assert reber_entropy() == pytest.approx(7 * math.log(2) / 13, rel=1e-12)
    # ... and what the generated strings carry: their choices (the wrap, one per inner symbol)
    # over their tokens (<eos> included).
    nats = sum((1 + len(s) - 6) * math.log(2) for s in strings)
    tokens = sum(len(s) + 1 for s in strings)
    assert nats / tokens == pytest.approx(reber_entropy(), rel=0.02)
    data = TextDataModule(source="reber", strings=[50, 10, 10], batch_size=4, bptt=8)
    assert data.floor_ppl == pytest.approx(2 ** (7 / 13))
    assert sorted(data.vocab.words) == sorted([*"BEPSTVX", EOS])
    again = TextDataModule(source="reber", strings=[50, 10, 10], batch_size=4, bptt=8, seed=5)
    assert torch.equal(again.ids["train"], data.ids["train"])  # the run's seed moves no data
