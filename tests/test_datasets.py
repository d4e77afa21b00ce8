import gzip

import numpy as np
import pytest

from models.errors import BadInput
from models.datasets import DatasetRef, demo_digits, load_dataset, read_idx, write_idx


def _fake_mnist(folder, n_train=120, n_test=30, gz=False):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_train, dtype=np.uint8))
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_test, dtype=np.uint8))


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reader_on_idx_files(tmp_path, gz):
    _fake_mnist(tmp_path, gz=gz)
    data = load_dataset(DatasetRef("mnist", str(tmp_path)))
    x, y = data.splits["train"]
    assert x.shape == (100, 28, 28) and data.splits["valid"][0].shape == (20, 28, 28)
    assert data.splits["test"][0].shape == (30, 28, 28)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    raw = read_idx(tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}")
    assert np.allclose(x.numpy(), raw[:100] / 255.0)
    assert y.dtype.is_floating_point is False


def test_truncated_and_malformed_idx_files(tmp_path):
    _fake_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(BadInput, match="truncated"):
        read_idx(path)
    path.write_bytes(b"\x01\x02\x03")
    with pytest.raises(BadInput, match="not an IDX file"):
        read_idx(path)
    bad_gz = tmp_path / "x.gz"
    bad_gz.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05ab"))
    with pytest.raises(BadInput, match="truncated"):
        read_idx(bad_gz)


def test_missing_data_folder_and_files(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        load_dataset(DatasetRef("mnist", str(tmp_path / "nope")))
    with pytest.raises(BadInput, match="has no MNIST file"):
        load_dataset(DatasetRef("mnist", str(tmp_path)))


def test_demo_digits_are_deterministic_mnist_shaped():
    images, labels = demo_digits(200, seed=5)
    again, _ = demo_digits(200, seed=5)
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(images, again)
    assert set(labels.tolist()) == set(range(10))
    assert (images == 0).mean() > 0.5  # mostly background, as MNIST
    # images of one class look alike more than images of different classes
    means = np.stack([images[labels == c].mean(0) for c in range(10)]).reshape(10, -1)
    within = np.mean([np.abs(images[labels == c].reshape(-1, 784) - means[c]).mean() for c in range(10)])
    across = np.mean([np.abs(images[labels == c].reshape(-1, 784) - means[(c + 1) % 10]).mean() for c in range(10)])
    assert within < across
