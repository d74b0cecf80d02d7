"""Tests of neuralign.data.mnist on a generated stand-in file (the real MNIST is not needed)."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.data import mnist
from neuralign.data.datasets import list_datasets, load


def test_load_mnist_reads_the_keras_layout(tiny_mnist):
    images, labels = mnist.load_mnist(tiny_mnist, "test")
    assert images.shape == (100, 784) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() == 1.0
    assert labels.dtype == np.int64 and sorted(np.unique(labels)) == list(range(10))


def test_missing_file_names_the_argument_and_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"path: MNIST file not found.*--mnist PATH.*mnist\.npz"):
        mnist.load_mnist(tmp_path / "absent.npz")
    with pytest.raises(FileNotFoundError, match="mnist: MNIST file not found"):
        mnist.mnist_path(tmp_path / "absent.npz", argument="mnist")


def test_bad_files_and_arguments_are_refused(tmp_path, tiny_mnist):
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="lacks the keys"):
        mnist.load_mnist(wrong)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="cannot read"):
        mnist.load_mnist(garbage)
    with pytest.raises(ValueError, match="split"):
        mnist.load_mnist(tiny_mnist, "validation")
    with pytest.raises(TypeError, match="path"):
        mnist.load_mnist(3)


def test_default_path_is_the_shared_copy_beside_the_repository():
    assert mnist.DEFAULT_MNIST.parts[-4:] == ("shared", "data", "mnist", "mnist.npz")


def test_mnist_gaussian_pairs_digits_1_to_8_with_their_ring_cluster(tiny_mnist):
    data = load("mnist_gaussian", radius=2.0, std=0.01, n_per_class=5, split="train", seed=0, path=str(tiny_mnist))
    ring, digit = data["ring"], data["digit"]
    assert ring.counts.shape == (40, 1, 2) and digit.counts.shape == (40, 1, 784)
    assert sorted(np.unique(ring.labels)) == list(range(1, 9))
    np.testing.assert_array_equal(ring.labels, digit.labels)
    angles = 2 * np.pi * (ring.labels - 1) / 8
    expected = 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    assert np.abs(ring.counts[:, 0] - expected).max() < 0.1
    again = load("mnist_gaussian", radius=2.0, std=0.01, n_per_class=5, seed=0, path=str(tiny_mnist))
    np.testing.assert_array_equal(again["ring"].counts, ring.counts)


def test_mnist_mlp_gives_one_region_per_hidden_layer(tiny_mnist):
    layers = load("mnist_mlp", n_samples=50, epochs=2, seed=0, path=str(tiny_mnist))
    assert list(layers) == ["layer1", "layer2", "layer3", "layer4"]
    assert all(layer.counts.shape == (50, 1, 64) for layer in layers.values())
    assert 0.0 <= layers["layer1"].meta["test_accuracy"] <= 1.0
    with pytest.raises(ValueError, match="n_samples"):
        load("mnist_mlp", n_samples=101, path=str(tiny_mnist))


def test_registered_with_citation_and_licence():
    infos = {info.name: info for info in list_datasets()}
    for name in ("mnist_gaussian", "mnist_mlp"):
        assert "LeCun" in infos[name].citation and "CC BY-SA 3.0" in infos[name].license
