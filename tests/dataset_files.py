"""Write tiny datasets in each torchvision dataset's real on-disk format (no downloads in tests)."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def _images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def write_mnist(
    root: Path, folder: str = "MNIST", n_train: int = 40, n_test: int = 20, seed: int = 0
) -> None:
    """IDX files, uncompressed, as torchvision's MNIST/FashionMNIST read them from <root>/<folder>/raw."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = _images(rng, n, (28, 28))
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes()
        )
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 2049, n) + labels.tobytes()
        )


def write_cifar(
    root: Path, classes: int = 10, per_batch: int = 10, n_test: int = 20, seed: int = 0
) -> None:
    """CIFAR-10's five pickled data batches + test batch (or CIFAR-100's train/test).

    The official files are Python 2 pickles whose keys load as str under latin1, as written here.
    """
    rng = np.random.default_rng(seed)

    def batch(n: int, label_key: str) -> dict:
        return {
            "data": _images(rng, n, (3 * 32 * 32,)),
            label_key: [int(i % classes) for i in range(n)],
        }

    if classes == 10:
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, 6):
            (folder / f"data_batch_{i}").write_bytes(
                pickle.dumps(protocol=2, obj=batch(per_batch, "labels"))
            )
        (folder / "test_batch").write_bytes(pickle.dumps(protocol=2, obj=batch(n_test, "labels")))
        meta = {"label_names": [f"class{i}" for i in range(10)]}
        (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "train").write_bytes(
            pickle.dumps(protocol=2, obj=batch(5 * per_batch, "fine_labels"))
        )
        (folder / "test").write_bytes(pickle.dumps(protocol=2, obj=batch(n_test, "fine_labels")))
        meta = {"fine_label_names": [f"class{i}" for i in range(classes)]}
        (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))


def write_svhn(root: Path, n_train: int = 30, n_test: int = 20, seed: int = 0) -> None:
    """MATLAB files with X of shape (32, 32, 3, N) and labels 1..10 (10 stands for digit 0)."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)
        savemat(root / f"{split}_32x32.mat", {"X": x, "y": y})


def write_image_folder(
    root: Path, classes: int = 3, per_class: int = 6, size: int = 20, seed: int = 0
) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(_images(rng, 1, (size, size + 4, 3))[0]).save(folder / f"img_{i}.png")


# Penn Treebank's preprocessed text (Mikolov et al.): one sentence per line, words separated by
# spaces, a leading space, rare words already replaced by <unk>, numbers by N.
PTB_LINES = {
    "train": [
        " aer banknote berlitz calloway centrust cluett fromstein gitano guterman",
        " pierre <unk> N years old will join the board as a nonexecutive director nov. N",
        " mr. <unk> is chairman of <unk> n.v. the dutch publishing group",
        " the board will join the group",
    ],
    "valid": [" consumers may want to move their telephones a little closer to the tv set"],
    "test": [" no it was n't black monday"],
}


def write_ptb(root: Path, prefix: str | None = "ptb") -> Path:
    """PTB's three files in its own layout (ptb.train.txt, ...; or train.txt, ... without a
    prefix, the DARTS/AWD-LSTM layout). The valid and test words are in train here, as PTB's
    are, so that no <unk> mapping is needed."""
    root.mkdir(parents=True, exist_ok=True)
    extra = " ".join(w for s in ("valid", "test") for line in PTB_LINES[s] for w in line.split())
    lines = {**PTB_LINES, "train": [*PTB_LINES["train"], " " + extra]}
    for split, text in lines.items():
        name = f"{prefix}.{split}.txt" if prefix else f"{split}.txt"
        (root / name).write_text("\n".join(text) + "\n")
    return root
