"""Text for language models: corpora read from disk or generated, a vocabulary, BPTT batches.

Layout (that of the DARTS and AWD-LSTM code): each split is one stream of token ids, every line
followed by `<eos>`; the stream is cut into `batch_size` equal rows (the remainder dropped), and
the loader walks the rows left to right in chunks of `bptt` tokens, so that row b of one chunk
continues row b of the one before and a model may carry its hidden state across chunks. A
chunk is (inputs, targets), both (batch_size, bptt) int64, the targets the inputs moved on by
one token; the last chunk of a split is shorter. With `variable_bptt` (AWD-LSTM's and the
DARTS retrain's), each training chunk's length is drawn instead: N(bptt, 5) with probability
0.95 and N(bptt / 2, 5) otherwise, at least 5 and at most bptt + 20 tokens, from a generator
seeded by (seed, epoch), so that chunk boundaries move from epoch to epoch.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from nascli.core.errors import NascliError
from nascli.data.loader import PairedLoader

EOS, UNK = "<eos>", "<unk>"
SPLITS = ("train", "valid", "test")
LEVELS = ("word", "char")
# Where a corpus comes from: a folder of text files, or the generated embedded Reber grammar.
SOURCES = ("files", "reber")


# -- reading ------------------------------------------------------------------------------------
def tokens(lines: Sequence[str], level: str) -> list[str]:
    """Every line as tokens (words split on whitespace, or characters), then `<eos>`."""
    out: list[str] = []
    for line in lines:
        out.extend(line.split() if level == "word" else list(line.rstrip("\n")))
        out.append(EOS)
    return out


def split_files(root: Path, prefix: str | None) -> dict[str, Path]:
    """The three files of a corpus folder: `<prefix>.train.txt`... (ptb.train.txt, the PTB
    layout) or `train.txt`/`valid.txt`/`test.txt` (the DARTS/AWD-LSTM layout)."""
    for names in (
        [f"{prefix}.{s}.txt" for s in SPLITS] if prefix else [],
        [f"{s}.txt" for s in SPLITS],
    ):
        if names and all((root / n).is_file() for n in names):
            return dict(zip(SPLITS, (root / n for n in names), strict=True))
    expected = " and ".join(
        ", ".join(f"{p}{s}.txt" for s in SPLITS) for p in ([f"{prefix}.", ""] if prefix else [""])
    )
    raise NascliError(f"dataset.root={root}: no corpus there; put {expected} in it")


def read_splits(
    root: str | None, prefix: str | None, level: str, fractions: tuple[float, float]
) -> dict[str, list[str]]:
    """The tokens of each split of the corpus under `root`: its three split files, or (no such
    files and a prefix of None) every `.txt` file in name order, the last lines cut off as
    validation and test by `fractions`."""
    if root is None:
        raise NascliError("dataset.root is not set; set dataset.root=<folder of .txt files>")
    where = Path(str(root)).expanduser()
    if not where.is_dir():
        raise NascliError(f"dataset.root={where} is not a folder; give the folder of the corpus")
    try:
        files = split_files(where, prefix)
    except NascliError:
        if prefix is not None:
            raise
        files = {}
    if files:
        lines = {s: _lines(p) for s, p in files.items()}
    else:
        every = sorted(where.glob("*.txt"))
        if not every:
            raise NascliError(f"dataset.root={where} holds no .txt file; put the corpus there")
        whole = [line for p in every for line in _lines(p)]
        n_val, n_test = (max(1, round(len(whole) * f)) for f in fractions)
        if len(whole) - n_val - n_test < 1:
            raise NascliError(
                f"dataset.root={where}: {len(whole)} lines are too few to split off validation "
                "and test; give more text or train.txt, valid.txt and test.txt"
            )
        cut = len(whole) - n_val - n_test
        lines = {
            "train": whole[:cut],
            "valid": whole[cut : cut + n_val],
            "test": whole[cut + n_val :],
        }
    out = {s: tokens(ls, level) for s, ls in lines.items()}
    for split, toks in out.items():
        if len(toks) <= sum(1 for t in toks if t == EOS) and not any(t != EOS for t in toks):
            raise NascliError(f"dataset.root={where}: the {split} split has no text")
    return out


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise NascliError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return [line for line in text.splitlines() if line.strip()]


# -- the vocabulary -----------------------------------------------------------------------------
class Vocabulary:
    """Token <-> id, built from the training split: every token in order of first appearance;
    with a `size` smaller than that, the `size` - 1 most frequent (ties: the earlier first) and
    `<unk>`, which every other token then reads as. `<eos>` is always kept."""

    def __init__(self, train: Sequence[str], size: int | None = None) -> None:
        order = list(dict.fromkeys(train))
        if size is not None and size < 2:
            raise NascliError(
                f"dataset.vocabulary={size} must be 2 or more, or null for every word"
            )
        if size is None or len(order) <= size:
            self.words = order
        else:
            counts = Counter(train)
            ranked = sorted((t for t in order if t != UNK), key=lambda t: -counts[t])  # stable
            chosen = set(ranked[: size - 1])
            if EOS not in chosen:
                chosen.discard(ranked[size - 2])
                chosen.add(EOS)
            self.words = [t for t in order if t in chosen or t == UNK]
            if UNK not in self.words:
                self.words.append(UNK)
        self.index = {t: i for i, t in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, toks: Sequence[str], split: str) -> torch.Tensor:
        """The ids of `toks`; a token the vocabulary lacks reads as `<unk>` where it has one."""
        unk = self.index.get(UNK)
        out = []
        for t in toks:
            i = self.index.get(t, unk)
            if i is None:
                raise NascliError(
                    f"the {split} split has the token {t!r}, which the training split lacks; "
                    "set dataset.vocabulary=<size> to read unseen tokens as <unk>"
                )
            out.append(i)
        return torch.tensor(out, dtype=torch.int64)


# -- the embedded Reber grammar -----------------------------------------------------------------
# The Reber grammar (Reber 1967, the recurrent-network benchmark of Hochreiter & Schmidhuber
# 1997): from each state, one of two symbols with equal probability and the state it leads to;
# state 5 ends the string. The embedded grammar wraps a Reber string as B, T or P, the Reber
# string (itself B ... E), the same T or P again, E: remembering that first choice across the
# inner string is what makes it hard.
REBER = {
    0: (("T", 1), ("P", 2)),
    1: (("S", 1), ("X", 3)),
    2: (("T", 2), ("V", 4)),
    3: (("X", 2), ("S", 5)),
    4: (("P", 3), ("V", 5)),
}
REBER_END = 5
EMBEDDED = ("T", "P")


def reber_string(rng: random.Random) -> str:
    """One string of the embedded Reber grammar, e.g. BTBTXSETE."""
    wrap = rng.choice(EMBEDDED)
    state, inner = 0, []
    while state != REBER_END:
        symbol, state = rng.choice(REBER[state])
        inner.append(symbol)
    return f"B{wrap}B{''.join(inner)}E{wrap}E"


def reber_entropy() -> float:
    """The embedded grammar's entropy per token in nats, `<eos>` counted as a token: what a
    perfect model's loss on a long stream of its strings comes to (its perplexity is the floor
    no model can beat). Per string, the nats of its choices (the wrapping symbol, one choice per
    state visited) over its tokens (seven fixed ones, <eos> included, and one per visit), in
    expectation: the expected visits v solve v = start + v P over the transient states."""
    import numpy as np

    states = sorted(REBER)
    at = {s: i for i, s in enumerate(states)}
    moves = np.zeros((len(states), len(states)))
    for s, options in REBER.items():
        for _, nxt in options:
            if nxt != REBER_END:
                moves[at[s], at[nxt]] += 1 / len(options)
    start = np.zeros(len(states))
    start[at[0]] = 1.0
    visits = np.linalg.solve((np.eye(len(states)) - moves).T, start)
    nats = math.log(len(EMBEDDED)) + sum(
        visits[at[s]] * math.log(len(options)) for s, options in REBER.items()
    )
    return nats / (7 + visits.sum())


def reber_lines(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [reber_string(rng) for _ in range(count)]


# -- batches ------------------------------------------------------------------------------------
def batchify(ids: torch.Tensor, rows: int) -> torch.Tensor:
    """The stream cut into `rows` equal rows, (rows, length); the remainder is dropped."""
    length = len(ids) // rows
    if length < 2:
        raise NascliError(
            f"a split of {len(ids)} tokens is too short for {rows} rows of batches; lower "
            "estimator.batch_size (or dataset.eval_batch_size), or give more text"
        )
    return ids[: rows * length].view(rows, length)


@dataclass
class BPTTLoader:
    """(inputs, targets) chunks of `bptt` tokens over a batchified stream, left to right (their
    lengths drawn per epoch with `variable`)."""

    data: torch.Tensor  # (rows, length)
    bptt: int
    variable: bool = False
    seed: int = 0
    epoch: int = 0  # set by the trainer's callback before each epoch

    def lengths(self) -> list[int]:
        """The chunk lengths of this epoch."""
        total = self.data.size(1) - 1
        if not self.variable:
            return [min(self.bptt, total - i) for i in range(0, total, self.bptt)]
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        out: list[int] = []
        done = 0
        while done < total:
            mean = self.bptt if rng.random() < 0.95 else self.bptt / 2
            n = min(max(5, int(rng.gauss(mean, 5))), self.bptt + 20, total - done)
            out.append(n)
            done += n
        return out

    def __len__(self) -> int:
        if self.variable:
            # The trainer reads a length once, before the epoch is set: with none it ends each
            # epoch (and validates) when the chunks run out, however many they are.
            raise TypeError("a loader of variable-length chunks has no length known ahead")
        return len(self.lengths())

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        i = 0
        for n in self.lengths():
            yield self.data[:, i : i + n], self.data[:, i + 1 : i + 1 + n]
            i += n

    @property
    def tokens(self) -> int:
        """How many tokens are predicted in one pass."""
        return self.data.size(0) * (self.data.size(1) - 1)


class TextHalves(PairedLoader):
    """Two BPTT streams chunk by chunk. Text is read in order, so there is no shuffle for an
    epoch to continue, and one process reads it all (no data-parallel shards)."""

    def set_epoch(self, epoch: int) -> None:
        """Nothing to do: every epoch walks the streams from their start."""

    def shard(self, rank: int, world: int) -> None:
        if world > 1:
            raise NascliError(
                "one-shot search of a language model runs in one process; set trainer.devices=1"
            )


class TextDataModule(pl.LightningDataModule):
    """A language-modelling corpus: train / valid / test token streams and BPTT loaders.

    Args:
        source: `files` (a corpus folder: dataset.root) or `reber` (generated, embedded Reber).
        prefix: the split files' prefix (`ptb`: ptb.train.txt...); train.txt... also work.
        level: `word` (whitespace-separated) or `char` tokens.
        vocabulary: keep the most frequent so many tokens (the rest read as <unk>); null: all.
        batch_size / eval_batch_size: rows of the training / evaluation batches.
        bptt: tokens per chunk (backpropagation through time).
        strings: train, valid and test strings of a generated grammar.
    """

    task = "language_model"

    def __init__(
        self,
        source: str = "files",
        root: str | None = None,
        prefix: str | None = None,
        level: str = "word",
        vocabulary: int | None = None,
        batch_size: int = 20,
        eval_batch_size: int = 10,
        bptt: int = 35,
        seed: int = 0,
        strings: Sequence[int] = (1000, 100, 100),
        grammar_seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        task: str = "language_model",
        **_: Any,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise NascliError(f"dataset.source={source} is not {' or '.join(SOURCES)}")
        if level not in LEVELS:
            raise NascliError(f"dataset.level={level} is not {' or '.join(LEVELS)}")
        if task != "language_model":
            raise NascliError(f"dataset.task={task}: a text corpus is for task language_model")
        self.source, self.root, self.prefix, self.level = source, root, prefix, level
        self.vocabulary_size, self.seed = vocabulary, seed
        self.batch_size, self.eval_batch_size, self.bptt = batch_size, eval_batch_size, bptt
        self.strings, self.grammar_seed = tuple(int(n) for n in strings), grammar_seed
        self.fractions = (float(val_fraction), float(test_fraction))
        self._ids: dict[str, torch.Tensor] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self._ids is not None:
            return
        if self.source == "reber":
            if len(self.strings) != 3 or min(self.strings) < 1:
                raise NascliError(
                    f"dataset.strings={list(self.strings)} must be three counts of 1 or more "
                    "(train, valid, test), e.g. [1000,100,100]"
                )
            lines = reber_lines(sum(self.strings), self.grammar_seed)
            a, b = self.strings[0], self.strings[0] + self.strings[1]
            split_lines = {"train": lines[:a], "valid": lines[a:b], "test": lines[b:]}
            toks = {s: tokens(ls, "char") for s, ls in split_lines.items()}
        else:
            toks = read_splits(self.root, self.prefix, self.level, self.fractions)
        self._vocab = Vocabulary(toks["train"], self.vocabulary_size)
        self._ids = {s: self._vocab.ids(t, s) for s, t in toks.items()}

    @property
    def vocab(self) -> Vocabulary:
        self.setup()
        return self._vocab

    @property
    def ids(self) -> dict[str, torch.Tensor]:
        self.setup()
        assert self._ids is not None
        return self._ids

    @property
    def input_shape(self) -> tuple[int]:
        return (self.bptt,)

    @property
    def num_classes(self) -> int:
        """The vocabulary's size: a language model's output classes."""
        return len(self.vocab)

    @property
    def floor_ppl(self) -> float | None:
        """The lowest perplexity any model can reach, where the source knows it (a grammar)."""
        return math.exp(reber_entropy()) if self.source == "reber" else None

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.ids["train"]),
            "val": len(self.ids["valid"]),
            "test": len(self.ids["test"]),
        }

    def _loader(self, split: str, rows: int) -> BPTTLoader:
        return BPTTLoader(batchify(self.ids[split], rows), self.bptt)

    def train_dataloader(
        self, seed_offset: int = 0, variable_bptt: bool = False, **_: Any
    ) -> BPTTLoader:
        rows = batchify(self.ids["train"], self.batch_size)
        return BPTTLoader(rows, self.bptt, variable_bptt, self.seed + seed_offset)

    def full_train_dataloader(
        self, seed_offset: int = 0, variable_bptt: bool = False, **_: Any
    ) -> BPTTLoader:
        """Train and valid streams together (final retraining)."""
        both = torch.cat([self.ids["train"], self.ids["valid"]])
        rows = batchify(both, self.batch_size)
        return BPTTLoader(rows, self.bptt, variable_bptt, self.seed + seed_offset)

    def halves_dataloader(self) -> TextHalves:
        """The training stream cut in two halves, each batchified by itself, chunk by chunk side
        by side: (weights half, architecture half), for one-shot search. (DARTS's recurrent
        search takes its architecture batches from the validation file; here validation stays
        held out for scoring, as for images.)"""
        ids = self.ids["train"]
        half = len(ids) // 2
        return TextHalves(
            BPTTLoader(batchify(ids[:half], self.batch_size), self.bptt),
            BPTTLoader(batchify(ids[half : 2 * half], self.batch_size), self.bptt),
        )

    def val_dataloader(self) -> BPTTLoader:
        return self._loader("valid", self.eval_batch_size)

    def test_dataloader(self) -> BPTTLoader:
        return self._loader("test", self.eval_batch_size)
