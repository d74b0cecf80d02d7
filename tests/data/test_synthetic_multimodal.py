"""Tests of the ``synthetic_mmgpvae`` generator: shapes, latent blocks, GP statistics, determinism, behaviour
options and input validation."""

from __future__ import annotations

import numpy as np
import pytest

import neuralign.datasets
from neuralign.data.datasets import list_datasets
from neuralign.data.synthetic_multimodal import digit_frames, gp_latents


def load(**kwargs):
    settings = dict(n_trials=12, n_time=20, n_units=15, image_size=8, seed=0)
    settings.update(kwargs)
    return neuralign.datasets.load("synthetic_mmgpvae", **settings)


def test_registered_as_synthetic():
    assert "synthetic_mmgpvae" in [info.name for info in list_datasets(kind="synthetic")]


def test_image_option_shapes_blocks_and_range():
    data = load()
    assert data.counts.shape == (12, 20, 15) and data.behavior.shape == (12, 20, 64)
    assert data.latents.shape == (12, 20, 3)
    assert data.meta["blocks"] == {"shared": [0], "neural": [1], "behavior": [2]}
    assert data.behavior.min() >= 0 and data.behavior.max() <= 1
    np.testing.assert_array_equal(data.counts, np.round(data.counts))


def test_low_dim_option_and_block_sizes():
    data = load(behavior="low_dim", n_shared=2, n_neural_private=3, n_behavior_private=0, behavior_dims=4)
    assert data.behavior.shape == (12, 20, 4) and data.latents.shape == (12, 20, 5)
    assert data.meta["blocks"] == {"shared": [0, 1], "neural": [2, 3, 4], "behavior": []}


def test_spikes_depend_on_shared_and_neural_latents_only():
    data = load(n_trials=200, n_units=60, behavior="low_dim")
    log_counts = np.log1p(data.counts).reshape(-1, 60)
    latents = data.latents.reshape(-1, 3)
    correlation = np.abs(np.corrcoef(np.c_[latents, log_counts].T)[:3, 3:]).mean(1)
    assert correlation[0] > 3 * correlation[2] and correlation[1] > 3 * correlation[2]


def test_same_seed_same_data_other_seed_other_data():
    np.testing.assert_array_equal(load().counts, load().counts)
    assert not np.array_equal(load().latents, load(seed=1).latents)


def test_gp_latents_have_unit_variance_and_rbf_correlation():
    latents = gp_latents(3000, 12, 1, 4.0, np.random.default_rng(0))[..., 0]
    assert abs(latents.var() - 1.0) < 0.05
    lag_one = np.mean(latents[:, 1:] * latents[:, :-1])
    assert abs(lag_one - np.exp(-0.5 / 16.0)) < 0.05


def test_digit_frames_rotate_and_zoom():
    base = digit_frames(np.zeros(1), np.ones(1), image_size=16)[0]
    rotated = digit_frames(np.array([np.pi / 2]), np.ones(1), image_size=16)[0]
    zoomed = digit_frames(np.zeros(1), np.array([1.5]), image_size=16)[0]
    assert base.shape == (256,) and not np.allclose(base, rotated)
    assert zoomed.sum() > 1.5 * base.sum()  # a larger digit covers more pixels
    np.testing.assert_allclose(np.rot90(base.reshape(16, 16)).sum(), rotated.sum(), rtol=0.15)


@pytest.mark.parametrize("kwargs, name", [
    (dict(behavior="video"), "behavior"), (dict(n_shared=2), "behavior"), (dict(n_trials=0), "n_trials"),
    (dict(length_scale=-1.0), "length_scale"), (dict(digit=12), "digit"), (dict(image_size=4), "image_size"),
    (dict(n_shared=0, n_neural_private=0, behavior="low_dim"), "n_shared"), (dict(mean_rate=0.0), "mean_rate"),
])
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        load(**kwargs)
