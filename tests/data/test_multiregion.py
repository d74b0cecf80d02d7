"""Tests of neuralign.data.multiregion: the synthetic chain of regions and the digits MLP activations."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.data.datasets import list_datasets, load
from neuralign.data.multiregion import swirl


def test_synthetic_regions_shapes_truth_and_registry():
    regions = load("synthetic_regions", n_samples=50, n_regions=3, n_units=7, seed=1)
    assert list(regions) == ["region1", "region2", "region3"]
    assert {"synthetic_regions", "digits_mlp"} <= {info.name for info in list_datasets(kind="synthetic")}
    for previous, current in zip(["region1", "region2"], ["region2", "region3"], strict=True):
        data, before = regions[current], regions[previous]
        assert data.counts.shape == (50, 1, 7) and data.signal == "continuous"
        np.testing.assert_array_equal(data.labels, before.labels)
        truth = np.linalg.norm(data.latents[:, 0] - before.latents[:, 0], axis=1)
        np.testing.assert_allclose(data.meta["true_displacement"], truth, rtol=1e-6, atol=1e-6)
        # a swirl keeps each point's distance to its centre
        centre = np.array(data.meta["swirl_centre"])
        np.testing.assert_allclose(np.linalg.norm(data.latents[:, 0] - centre, axis=1),
                                   np.linalg.norm(before.latents[:, 0] - centre, axis=1), rtol=1e-5)
    again = load("synthetic_regions", n_samples=50, n_regions=3, n_units=7, seed=1)
    np.testing.assert_array_equal(again["region3"].counts, regions["region3"].counts)
    counts = load("synthetic_regions", n_samples=20, likelihood="poisson")
    assert counts["region1"].signal == "counts" and np.all(np.mod(counts["region2"].counts, 1) == 0)


def test_swirl_rotates_most_at_the_centre():
    points = np.array([[0.1, 0.0], [3.0, 0.0]])
    moved = swirl(points, np.zeros(2), np.pi / 2, 1.0)
    assert np.linalg.norm(moved[0] - points[0]) / 0.1 > np.linalg.norm(moved[1] - points[1]) / 3.0


def test_digits_mlp_activations_per_layer():
    layers = load("digits_mlp", n_layers=2, width=16, epochs=2, seed=0)
    assert list(layers) == ["layer1", "layer2"]
    assert layers["layer1"].counts.shape == (1797, 1, 16) and layers["layer2"].counts.min() >= 0  # post-ReLU
    assert 0.0 <= layers["layer1"].meta["test_accuracy"] <= 1.0 and len(layers["layer1"].meta["test_index"]) == 450
    assert set(np.unique(layers["layer2"].labels)) == set(range(10))


@pytest.mark.slow
def test_digits_mlp_is_accurate():
    assert load("digits_mlp")["layer4"].meta["test_accuracy"] > 0.93


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_regions=1), "n_regions"),
    (dict(n_samples=5), "n_samples"),
    (dict(likelihood="binomial"), "likelihood"),
    (dict(swirl_width=0.0), "swirl_width"),
    (dict(noise=-1.0), "noise"),
])
def test_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        load("synthetic_regions", **kwargs)
    if "n_regions" in kwargs:
        with pytest.raises(ValueError, match="n_layers"):
            load("digits_mlp", n_layers=0)
