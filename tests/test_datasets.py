"""Every dataset through its real loader, from small files in its real format, download=false."""

from __future__ import annotations

import pytest
import torch

from nascli.core.errors import NascliError
from nascli.data import sources
from nascli.data.module import ImageDataModule
from tests.dataset_files import write_cifar, write_image_folder, write_mnist, write_svhn


def test_digits_is_embedded_and_split_deterministically():
    a = ImageDataModule("digits", seed=3, batch_size=32)
    b = ImageDataModule("digits", seed=3, batch_size=32)
    c = ImageDataModule("digits", seed=4, batch_size=32)
    for d in (a, b, c):
        d.setup()
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10
    assert sum(a.sizes().values()) == 1797
    assert torch.equal(a.val_idx, b.val_idx)
    assert not torch.equal(a.val_idx, c.val_idx)
    # The test split does not move with the seed.
    assert torch.equal(a.arrays.x_test, c.arrays.x_test)
    # Train and val never overlap.
    assert not set(a.train_idx.tolist()) & set(a.val_idx.tolist())


def test_loader_batches_are_normalised_and_shuffled_per_epoch():
    data = ImageDataModule("digits", seed=0, batch_size=100)
    loader = data.train_dataloader()
    first = torch.cat([y for _, y in loader])
    second = torch.cat([y for _, y in loader])
    assert len(first) == data.sizes()["train"] and len(loader) == -(-len(first) // 100)
    assert not torch.equal(first, second)  # a new order each epoch
    assert torch.equal(torch.sort(first).values, torch.sort(second).values)
    x, _ = next(iter(data.train_dataloader()))
    assert x.dtype == torch.float32 and abs(float(x.mean())) < 0.2


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_like_from_idx_files(tmp_path, name, folder):
    write_mnist(tmp_path, folder=folder, n_train=40, n_test=20)
    arrays = getattr(sources, name)(root=str(tmp_path), download=False)
    assert arrays.x_train.shape == (40, 1, 28, 28) and arrays.x_test.shape == (20, 1, 28, 28)
    assert arrays.y_train.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


@pytest.mark.parametrize("classes", [10, 100])
def test_cifar_from_pickled_batches(tmp_path, classes):
    write_cifar(tmp_path, classes=classes, per_batch=10, n_test=20)
    arrays = (sources.cifar10 if classes == 10 else sources.cifar100)(
        root=str(tmp_path), download=False
    )
    assert arrays.x_train.shape == (50, 3, 32, 32) and arrays.x_test.shape == (20, 3, 32, 32)
    assert arrays.num_classes == classes and arrays.x_train.dtype == torch.uint8


def test_cifar_rows_become_channel_planes(tmp_path):
    """CIFAR stores each image as 1024 red, 1024 green, then 1024 blue bytes."""
    write_cifar(tmp_path, per_batch=2, n_test=2)
    import pickle

    raw = pickle.loads((tmp_path / "cifar-10-batches-py" / "data_batch_1").read_bytes())["data"][0]
    arrays = sources.cifar10(root=str(tmp_path), download=False)
    assert arrays.x_train[0, 1].flatten().tolist() == raw[1024:2048].tolist()


def test_svhn_from_mat_files(tmp_path):
    write_svhn(tmp_path, n_train=30, n_test=20)
    arrays = sources.svhn(root=str(tmp_path), download=False)
    assert arrays.x_train.shape == (30, 3, 32, 32)
    # Label 10 stands for the digit 0.
    assert arrays.y_train.tolist()[:10] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]


def test_image_folder(tmp_path):
    write_image_folder(tmp_path, classes=3, per_class=6, size=20)
    data = ImageDataModule(
        "imagefolder", seed=0, root=str(tmp_path), image_size=16, test_fraction=0.25
    )
    assert data.input_shape == (3, 16, 16) and data.num_classes == 3
    assert sum(data.sizes().values()) == 18


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100", "svhn"])
def test_missing_files_name_the_root_and_the_files(tmp_path, name):
    with pytest.raises(NascliError) as info:
        getattr(sources, name)(root=str(tmp_path / "empty"), download=False)
    message = str(info.value)
    assert "dataset.root=" in message and str(tmp_path / "empty") in message
    assert sources.EXPECTED_FILES[name] in message


def test_corrupt_cifar_batch_is_a_clear_error(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(NascliError, match="dataset.root="):
        sources.cifar10(root=str(tmp_path), download=False)


def test_image_folder_errors(tmp_path):
    with pytest.raises(NascliError, match="not a folder"):
        sources.imagefolder(root=str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(NascliError, match="sub-folder"):
        sources.imagefolder(root=str(tmp_path / "empty"))
    # One class folder would train a classifier that is always right (val_acc 1.0).
    write_image_folder(tmp_path / "one", classes=1, per_class=4, size=8)
    with pytest.raises(NascliError, match="1 class folder .*two or more"):
        sources.imagefolder(root=str(tmp_path / "one"))


def test_fake_data_is_learnable_and_fixed():
    a, b = sources.fake(num_samples=100), sources.fake(num_samples=100)
    assert torch.equal(a.x_train, b.x_train)
    assert a.x_train.shape[1:] == (3, 16, 16)
