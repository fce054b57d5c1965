"""One loader per dataset. Each returns `Arrays`: uint8 images (N, C, H, W), int64 labels.

Torchvision datasets are read through torchvision's own classes, so the on-disk formats are the
real ones. A dataset that is missing (and cannot be downloaded) is a NascliError naming the
folder and the files to put there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nascli.core.errors import NascliError


@dataclass
class Arrays:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int


# The held-out test set does not move with the run's seed, like an official test set.
TEST_SPLIT_SEED = 0


def _split_off_test(
    x: torch.Tensor, y: torch.Tensor, test_fraction: float, num_classes: int
) -> Arrays:
    """Hold out a fixed test fraction for datasets that ship without a test set."""
    if not 0 < test_fraction < 1:
        raise NascliError(
            f"dataset.test_fraction={test_fraction} must be between 0 and 1 (e.g. 0.2)"
        )
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(TEST_SPLIT_SEED))
    n_test = max(1, round(len(x) * test_fraction))
    test, train = perm[:n_test], perm[n_test:]
    return Arrays(x[train], y[train], x[test], y[test], num_classes)


def digits(test_fraction: float = 0.2, **_: object) -> Arrays:
    """scikit-learn's 8x8 digits; pixel values 0..16 are rescaled to 0..255."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    return _split_off_test(x, y, test_fraction, num_classes=10)


def fake(
    num_samples: int = 600,
    image_shape: tuple[int, int, int] = (3, 16, 16),
    num_classes: int = 10,
    test_fraction: float = 0.2,
    **_: object,
) -> Arrays:
    """Class templates plus noise: learnable, the same images every run, no files."""
    if num_samples < 2 * num_classes:
        raise NascliError(
            f"dataset.num_samples={num_samples} is too small: use at least {2 * num_classes}"
        )
    g = torch.Generator().manual_seed(TEST_SPLIT_SEED)
    templates = torch.rand((num_classes, *image_shape), generator=g)
    y = torch.arange(num_samples) % num_classes
    noise = torch.rand((num_samples, *image_shape), generator=g)
    x = (0.5 * templates[y] + 0.5 * noise).mul(255).round().to(torch.uint8)
    return _split_off_test(x, y.long(), test_fraction, num_classes)


# What each torchvision dataset expects on disk, for the "put the files there" message.
EXPECTED_FILES = {
    "mnist": "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
    "fashion_mnist": "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
    "cifar10": "cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}",
    "cifar100": "cifar-100-python/{train,test,meta}",
    "svhn": "{train,test}_32x32.mat",
}


def _open(name: str, make, root: str | None, download: bool):
    """Build a torchvision dataset, turning 'missing' and 'no network' into one clear error."""
    if root is None:
        raise NascliError(f"dataset.root is not set for dataset={name}; set dataset.root=<folder>")
    where = Path(root).expanduser()
    try:
        return make(str(where), download)
    except NascliError:
        raise
    except Exception as exc:
        if download:
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            problem = f"{name} could not be downloaded ({type(exc).__name__}: {first_line})"
        else:
            problem = f"{name} files are missing and dataset.download=false"
        raise NascliError(
            f"dataset.root={where}: {problem}; put {EXPECTED_FILES[name]} under {where}"
            + ("" if download else ", or set dataset.download=true on a machine with network")
        ) from exc


def _without_md5(cls: type) -> type:
    """The torchvision class with its MD5 sums dropped: any readable file of the right name loads.

    The sums are those of the official archives, so a re-packed or subset copy would be refused;
    a corrupt file still fails when it is parsed, with a clear error.
    """
    attrs: dict[str, object] = {}
    if hasattr(cls, "train_list"):
        attrs["train_list"] = [[name, None] for name, _ in cls.train_list]
        attrs["test_list"] = [[name, None] for name, _ in cls.test_list]
        attrs["meta"] = {**cls.meta, "md5": None}
    if hasattr(cls, "split_list"):
        attrs["split_list"] = {k: [url, name, None] for k, (url, name, _) in cls.split_list.items()}
    return type(cls.__name__, (cls,), attrs)


def _mnist_like(name: str, cls_name: str, root: str | None, download: bool) -> Arrays:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)

    def make(r: str, dl: bool):
        return cls(r, train=True, download=dl), cls(r, train=False, download=False)

    train, test = _open(name, make, root, download)
    return Arrays(
        train.data.unsqueeze(1),
        train.targets.long(),
        test.data.unsqueeze(1),
        test.targets.long(),
        10,
    )


def mnist(root: str | None = None, download: bool = True, **_: object) -> Arrays:
    return _mnist_like("mnist", "MNIST", root, download)


def fashion_mnist(root: str | None = None, download: bool = True, **_: object) -> Arrays:
    return _mnist_like("fashion_mnist", "FashionMNIST", root, download)


def _cifar(name: str, cls_name: str, num_classes: int, root: str | None, download: bool) -> Arrays:
    import torchvision.datasets as tvd

    cls = _without_md5(getattr(tvd, cls_name))

    def make(r: str, dl: bool):
        return cls(r, train=True, download=dl), cls(r, train=False, download=False)

    train, test = _open(name, make, root, download)

    def to_tensors(ds):
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return x, torch.as_tensor(ds.targets, dtype=torch.long)

    return Arrays(*to_tensors(train), *to_tensors(test), num_classes)


def cifar10(root: str | None = None, download: bool = True, **_: object) -> Arrays:
    return _cifar("cifar10", "CIFAR10", 10, root, download)


def cifar100(root: str | None = None, download: bool = True, **_: object) -> Arrays:
    return _cifar("cifar100", "CIFAR100", 100, root, download)


def svhn(root: str | None = None, download: bool = True, **_: object) -> Arrays:
    import torchvision.datasets as tvd

    cls = _without_md5(tvd.SVHN)

    def make(r: str, dl: bool):
        return cls(r, split="train", download=dl), cls(r, split="test", download=dl)

    train, test = _open("svhn", make, root, download)

    def to_tensors(ds):
        return torch.from_numpy(np.ascontiguousarray(ds.data)), torch.as_tensor(
            ds.labels, dtype=torch.long
        )

    return Arrays(*to_tensors(train), *to_tensors(test), 10)


def imagefolder(
    root: str | None = None, image_size: int = 32, test_fraction: float = 0.2, **_: object
) -> Arrays:
    """A folder with one sub-folder of images per class, resized to image_size x image_size RGB."""
    import torchvision.datasets as tvd
    from torchvision.transforms import functional as tf

    where = Path(str(root)).expanduser()
    if not where.is_dir():
        raise NascliError(
            f"dataset.root={where} is not a folder; point it at a folder with one sub-folder per class"
        )
    try:
        folder = tvd.ImageFolder(str(where))
    except Exception as exc:
        raise NascliError(
            f"dataset.root={where}: no class sub-folders with images found ({str(exc).splitlines()[0]}); "
            "expected <root>/<class>/<image>.png|jpg"
        ) from exc
    if len(folder.classes) < 2:
        raise NascliError(
            f"dataset.root={where} has {len(folder.classes)} class folder "
            f"({', '.join(folder.classes)}); a classifier needs two or more, one sub-folder each"
        )
    images, labels = [], []
    for path, label in folder.samples:
        try:
            img = folder.loader(path).convert("RGB")
        except Exception as exc:
            raise NascliError(
                f"dataset.root: cannot read image {path} ({exc}); remove or replace it"
            ) from exc
        img = tf.resize(img, [image_size, image_size], antialias=True)
        images.append(tf.pil_to_tensor(img))
        labels.append(label)
    x, y = torch.stack(images), torch.tensor(labels, dtype=torch.long)
    return _split_off_test(x, y, test_fraction, num_classes=len(folder.classes))
