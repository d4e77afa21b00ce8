"""The dataset readers on files in the real formats (written here): MNIST's IDX files (raw and
gzipped), CIFAR-10's binary batches, Penn Treebank's text; the MP-DBM's packed inputs, and the
offline demo data."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from models.errors import BadInput
from models.datasets import (DatasetRef, demo_digits, load_dataset, read_cifar_bin, read_idx, write_cifar_bin,
                             write_idx, zca_fit)


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


def _cifar_folder(folder, per_batch=5, seed=0):
    rng = np.random.default_rng(seed)
    batches = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        images = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch, dtype=np.uint8)
        write_cifar_bin(folder / name, images, labels)
        batches[name] = (images, labels)
    return batches


def test_cifar10_binary_batches_are_read_in_their_layout(tmp_path):
    batches = _cifar_folder(tmp_path)
    raw = (tmp_path / "data_batch_2.bin").read_bytes()
    images, labels = read_cifar_bin(tmp_path / "data_batch_2.bin")
    # record 3: one label byte, then 1024 red, 1024 green, 1024 blue bytes in rows of 32
    record = raw[3 * 3073:(4 * 3073)]
    assert labels[3] == record[0]
    assert images[3, 1, 4, 7] == record[1 + 1024 + 4 * 32 + 7]
    data = load_dataset(DatasetRef("cifar10", str(tmp_path), {"preprocess": "scale"}))
    # 25 training images: the first 20 train, the last 5 valid (the sources keep the last 10,000)
    x, y = data.splits["train"]
    assert x.shape == (20, 3, 32, 32) and data.splits["valid"][0].shape == (5, 3, 32, 32)
    assert data.splits["test"][0].shape == (5, 3, 32, 32)
    np.testing.assert_allclose(x[5].numpy(), batches["data_batch_2.bin"][0][0] / 255.0, atol=1e-7)
    assert y[5].item() == batches["data_batch_2.bin"][1][0]
    # the unpacked tarball's own folder name is found too
    (tmp_path / "cifar-10-batches-bin").mkdir()
    for f in list(tmp_path.glob("*.bin")):
        f.rename(tmp_path / "cifar-10-batches-bin" / f.name)
    assert load_dataset(DatasetRef("cifar10", str(tmp_path), {"preprocess": "scale"})).splits["train"][0].shape[0] == 20


def test_cifar10_truncated_or_missing_files_are_refused(tmp_path):
    _cifar_folder(tmp_path)
    path = tmp_path / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(BadInput, match="truncated"):
        read_cifar_bin(path)
    with pytest.raises(BadInput, match="truncated"):
        load_dataset(DatasetRef("cifar10", str(tmp_path)))
    (tmp_path / "test_batch.bin").unlink()
    with pytest.raises(BadInput, match="landscape download cifar10"):
        load_dataset(DatasetRef("cifar10", str(tmp_path)))
    bad = tmp_path / "labels.bin"
    bad.write_bytes(bytes([12]) + bytes(3072))
    with pytest.raises(BadInput, match="outside 0-9"):
        read_cifar_bin(bad)


def test_cifar10_gcn_and_zca_preprocessing(tmp_path):
    _cifar_folder(tmp_path, per_batch=8)
    gcn = load_dataset(DatasetRef("cifar10", str(tmp_path), {"preprocess": "gcn"})).splits["train"][0]
    flat = gcn.flatten(1).double()
    np.testing.assert_allclose(flat.mean(dim=1).numpy(), 0.0, atol=1e-5)  # each image centred
    with pytest.raises(BadInput, match="preprocessing"):
        load_dataset(DatasetRef("cifar10", str(tmp_path), {"preprocess": "sharpen"}))


def test_zca_whitening_gives_the_filtered_identity_covariance():
    # at 3,072 dimensions (CIFAR-10) the fit takes seconds, so the same function is checked at 12
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12)) + 3.0
    mean, whiten = zca_fit(x, filter_bias=0.1)
    np.testing.assert_allclose(whiten, whiten.T, atol=1e-12)  # ZCA: the symmetric whitening
    white = (x - mean) @ whiten
    eigval = np.linalg.eigvalsh(np.cov((x - mean).T, bias=True))
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(np.cov(white.T, bias=True))), eigval / (eigval + 0.1),
                               atol=1e-9)


def _ptb_folder(folder):
    (folder / "ptb.train.txt").write_text(" the cat sat on the mat \n the dog sat \n <unk> sat on the dog \n")
    (folder / "ptb.valid.txt").write_text(" the cat sat \n a bird sat \n")
    (folder / "ptb.test.txt").write_text(" the dog sat on the cat \n")


def test_ptb_text_vocabulary_and_sequences(tmp_path):
    _ptb_folder(tmp_path)
    data = load_dataset(DatasetRef("ptb", str(tmp_path), {"seq_len": 4}))
    # train: 6 + 1, 3 + 1, 5 + 1 words with <eos> = 17 tokens; by count: the 4, then <eos> and sat 3
    # (ties alphabetical), dog and on 2, then the words seen once
    words = ["the", "<eos>", "sat", "dog", "on", "<unk>", "cat", "mat"]
    assert data.num_classes == len(words)
    x, y = data.splits["train"]
    assert x.shape == (4, 4)  # (17 - 1) // 4 sequences of 4 inputs, targets shifted by one
    ids = {w: i for i, w in enumerate(words)}
    stream = [ids[w] for w in "the cat sat on the mat <eos> the dog sat <eos> <unk> sat on the dog <eos>".split()]
    assert x.flatten().tolist() == stream[:16] and y.flatten().tolist() == stream[1:17]
    vx, vy = data.splits["valid"]  # 8 tokens: one sequence; "a" and "bird" are not in train: <unk>
    assert vx.tolist() == [[ids[w] for w in "the cat sat <eos>".split()]]
    assert vy.tolist() == [[ids[w] for w in "cat sat <eos> <unk>".split()]]


def test_ptb_truncated_empty_and_oversized_text_is_refused(tmp_path):
    _ptb_folder(tmp_path)
    path = tmp_path / "ptb.test.txt"
    path.write_text(" the dog sat on th")  # cut off mid-line
    with pytest.raises(BadInput, match="truncated"):
        load_dataset(DatasetRef("ptb", str(tmp_path), {"seq_len": 2}))
    path.write_text("")
    with pytest.raises(BadInput, match="empty"):
        load_dataset(DatasetRef("ptb", str(tmp_path), {"seq_len": 2}))
    path.write_bytes(b"\xff\xfe bad \n")
    with pytest.raises(BadInput, match="UTF-8"):
        load_dataset(DatasetRef("ptb", str(tmp_path), {"seq_len": 2}))
    _ptb_folder(tmp_path)
    with pytest.raises(BadInput, match="vocabulary of 5"):
        load_dataset(DatasetRef("ptb", str(tmp_path), {"seq_len": 2, "vocab": 5}))
    path.unlink()
    with pytest.raises(BadInput, match="landscape download ptb"):
        load_dataset(DatasetRef("ptb", str(tmp_path), {"seq_len": 2}))


def test_mnist_mp_masks_are_fixed_by_the_recorded_seed():
    options = {"demo_train": 50, "demo_valid": 20, "demo_test": 10, "drop_prob": 0.5}
    a = load_dataset(DatasetRef("mnist-mp", None, dict(options, mask_seed=3)))
    b = load_dataset(DatasetRef("mnist-mp", None, dict(options, mask_seed=3)))
    c = load_dataset(DatasetRef("mnist-mp", None, dict(options, mask_seed=4)))
    xa, ya = a.splits["train"]
    assert xa.shape == (50, 2, 794) and torch.equal(xa, b.splits["train"][0]) and a.digest() == b.digest()
    assert not torch.equal(xa[:, 1], c.splits["train"][0][:, 1]) and a.digest() != c.digest()
    assert torch.equal(xa[:, 0, 784:].argmax(dim=1), ya)  # the one-hot label rides with the pixels
    mask = xa[:, 1]
    assert set(mask.unique().tolist()) == {0.0, 1.0} and 0.4 < mask[:, :784].mean().item() < 0.6
    assert torch.equal(mask[:, 784:], mask[:, 784:785].expand(-1, 10))  # the label's flag, repeated


@pytest.mark.parametrize("name, shape", [("cifar10", (3, 32, 32)), ("ptb", (35,))])
def test_offline_demo_data_is_deterministic_and_shaped_like_the_real_data(name, shape):
    options = {"demo_train": 60, "demo_valid": 20, "demo_test": 20} if name == "cifar10" else \
        {"demo_train": 2000, "demo_valid": 400, "demo_test": 400, "demo_vocab": 300}
    a, b = (load_dataset(DatasetRef(name, None, options)) for _ in range(2))
    assert a.digest() == b.digest()
    x, y = a.splits["train"]
    assert tuple(x.shape[1:]) == shape
    if name == "cifar10":
        assert set(y.tolist()) <= set(range(10)) and len(set(y.tolist())) > 5
    else:
        assert a.num_classes <= 300 and torch.equal(x[1:, 0], y[:-1, -1])  # one stream, cut in pieces
