"""Tests of neuralign.metrics.recovery: latent_recovery and latent_recovery_split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from neuralign.metrics import latent_recovery, latent_recovery_split


@pytest.fixture
def latents() -> np.ndarray:
    """True latents, (trials, time, 3): smooth random trajectories."""
    rng = np.random.default_rng(0)
    return np.cumsum(rng.normal(size=(30, 20, 3)), axis=1)


def affine(z: np.ndarray, seed: int = 1, out_dims: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return z @ rng.normal(size=(z.shape[-1], out_dims)) + rng.normal(size=out_dims)


def test_affine_transform_of_truth_is_recovered(latents):
    inferred = affine(latents)  # 4-D, rank 3: the truth is an affine function of it
    value = latent_recovery(inferred[:20], latents[:20], inferred[20:], latents[20:])
    assert value == pytest.approx(1.0, abs=1e-9)
    assert latent_recovery_split(inferred, latents, seed=3) == pytest.approx(1.0, abs=1e-9)


def test_independent_noise_is_not_recovered(latents):
    noise = np.random.default_rng(5).normal(size=(30, 20, 3))
    assert latent_recovery(noise[:20], latents[:20], noise[20:], latents[20:]) < 0.05
    assert latent_recovery_split(noise, latents) < 0.05


def test_matches_sklearn_by_hand_and_flat_input(latents):
    rng = np.random.default_rng(2)
    inferred = affine(latents) + rng.normal(scale=3.0, size=(30, 20, 4))
    x_train, y_train = inferred[:20].reshape(-1, 4), latents[:20].reshape(-1, 3)
    x_test, y_test = inferred[20:].reshape(-1, 4), latents[20:].reshape(-1, 3)
    expected = r2_score(y_test, LinearRegression().fit(x_train, y_train).predict(x_test))
    assert 0.1 < expected < 0.99
    assert latent_recovery(inferred[:20], latents[:20], inferred[20:], latents[20:]) == pytest.approx(expected)
    assert latent_recovery(x_train, y_train, x_test, y_test) == pytest.approx(expected)
    as_tensors = [torch.tensor(a) for a in (x_train, y_train, x_test, y_test)]
    assert latent_recovery(*as_tensors) == pytest.approx(expected)


def test_split_is_seeded_and_held_out(latents):
    rng = np.random.default_rng(4)
    inferred = affine(latents) + rng.normal(scale=3.0, size=(30, 20, 4))
    assert latent_recovery_split(inferred, latents, seed=7) == latent_recovery_split(inferred, latents, seed=7)
    assert latent_recovery_split(inferred, latents, seed=7) != latent_recovery_split(inferred, latents, seed=8)
    order = np.random.default_rng(7).permutation(30)
    test, train = order[:15], order[15:]
    expected = latent_recovery(inferred[train], latents[train], inferred[test], latents[test])
    assert latent_recovery_split(inferred, latents, seed=7) == pytest.approx(expected)


def test_latent_recovery_bad_inputs(latents):
    inferred = affine(latents)
    train, test = slice(0, 20), slice(20, None)
    with pytest.raises(ValueError, match=r"true_train: expected the same leading \(trial, time\) axes"):
        latent_recovery(inferred[train], latents[:19], inferred[test], latents[test])
    with pytest.raises(ValueError, match=r"true_test: expected the same leading \(trial, time\) axes"):
        latent_recovery(inferred[train], latents[train], inferred[test], latents[20:, :10])
    with pytest.raises(ValueError, match="inferred_test: expected 4 latent dims"):
        latent_recovery(inferred[train], latents[train], inferred[test, :, :3], latents[test])
    with pytest.raises(ValueError, match="true_test: expected 3 latent dims"):
        latent_recovery(inferred[train], latents[train], inferred[test], latents[test, :, :2])
    with pytest.raises(ValueError, match="inferred_train: expected 3 dimensions"):
        latent_recovery(inferred[0, 0], latents[0, 0], inferred[test], latents[test])
    bad = inferred[test].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="inferred_test.*finite"):
        latent_recovery(inferred[train], latents[train], bad, latents[test])
    bad_true = latents[train].copy()
    bad_true[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="true_train.*finite"):
        latent_recovery(inferred[train], bad_true, inferred[test], latents[test])
    with pytest.raises(ValueError, match="inferred_test: expected a non-empty"):
        latent_recovery(inferred[train], latents[train], inferred[:0], latents[:0])
    with pytest.raises(ValueError, match="inferred_test: R2 needs at least 2"):
        latent_recovery(inferred[train], latents[train], inferred[0, :1], latents[0, :1])


def test_latent_recovery_split_bad_inputs(latents):
    inferred = affine(latents)
    with pytest.raises(ValueError, match="test_fraction: expected a number in"):
        latent_recovery_split(inferred, latents, test_fraction=1.0)
    with pytest.raises(TypeError, match="seed: expected an integer"):
        latent_recovery_split(inferred, latents, seed=0.5)
    with pytest.raises(ValueError, match="seed: expected an integer >= 0"):
        latent_recovery_split(inferred, latents, seed=-1)
    with pytest.raises(ValueError, match=r"true: expected the same leading \(trial, time\) axes"):
        latent_recovery_split(inferred, latents[:10])
    with pytest.raises(ValueError, match="inferred: need at least 2 trials"):
        latent_recovery_split(inferred[:1], latents[:1])
    with pytest.raises(ValueError, match="inferred: expected a non-empty"):
        latent_recovery_split(inferred[:0], latents[:0])
    bad = inferred.copy()
    bad[3, 3, 3] = np.nan
    with pytest.raises(ValueError, match="inferred.*finite"):
        latent_recovery_split(bad, latents)
    with pytest.raises(TypeError, match="true: expected an array"):
        latent_recovery_split(inferred, None)


def test_knn_mapping_forgives_a_monotone_warp_the_affine_map_does_not():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(4000, 1))
    warped = np.exp(0.5 * truth)  # a latent linear in a digit's area instead of in z
    affine_score = latent_recovery(warped[:3000], truth[:3000], warped[3000:], truth[3000:])
    knn_score = latent_recovery(warped[:3000], truth[:3000], warped[3000:], truth[3000:], mapping="knn")
    assert affine_score == pytest.approx(0.25 / (np.exp(0.25) - 1), abs=0.03)  # the analytic cap, 0.880
    assert knn_score > 0.99
    noise = rng.normal(size=(4000, 1))
    assert latent_recovery(noise[:3000], truth[:3000], noise[3000:], truth[3000:], mapping="knn") < 0.05


def test_unknown_mapping_is_named(latents):
    with pytest.raises(ValueError, match="mapping"):
        latent_recovery(latents[:20], latents[:20], latents[20:], latents[20:], mapping="spline")
