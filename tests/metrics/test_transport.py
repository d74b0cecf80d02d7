"""Distances between clouds and path scores on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.metrics import (curl_2d, gaussian_w2, match_paths, ot_chain_paths, path_r2, rbf_mmd, relative_l2,
                               relative_moment_errors, sampling_floor, w1, w2, wasserstein)


def test_w1_and_w2_of_a_shifted_cloud_are_the_shift():
    x = np.random.default_rng(0).normal(size=(80, 3))
    shift = np.array([1.0, -2.0, 2.0])
    assert w1(x, x + shift) == pytest.approx(3.0, abs=1e-6)
    assert w2(x, x + shift) == pytest.approx(3.0, abs=1e-6)
    assert w2(x, x[::-1]) == pytest.approx(0.0, abs=1e-6)


def test_w2_between_gaussian_samples_approaches_the_closed_form():
    rng = np.random.default_rng(0)
    cov_a, cov_b = np.diag([1.0, 0.25]), np.array([[0.5, 0.2], [0.2, 0.8]])
    mean_a, mean_b = np.zeros(2), np.array([1.5, 0.5])
    exact = gaussian_w2(mean_a, cov_a, mean_b, cov_b)
    x = rng.multivariate_normal(mean_a, cov_a, size=1500)
    y = rng.multivariate_normal(mean_b, cov_b, size=1500)
    floor = sampling_floor(lambda n, r: r.multivariate_normal(mean_a, cov_a, size=n), 1500)
    assert floor < 0.15 and abs(w2(x, y) - exact) < floor  # the empirical W2 is within the sampling floor
    assert gaussian_w2(mean_a, cov_a, mean_a, cov_a) == pytest.approx(0.0, abs=1e-6)


def test_one_dimensional_w1_is_the_mean_gap_of_sorted_samples():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(200, 1)), rng.exponential(size=(200, 1))
    assert w1(x, y) == pytest.approx(np.abs(np.sort(x[:, 0]) - np.sort(y[:, 0])).mean(), rel=1e-6)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="y: expected points of the dimension of x"):
        w2(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="p: expected 1 or 2"):
        wasserstein(np.zeros((3, 2)), np.ones((3, 2)), p=3)
    with pytest.raises(ValueError, match="x: expected finite values"):
        w1(np.full((3, 2), np.nan), np.ones((3, 2)))
    with pytest.raises(ValueError, match="paths: expected the shape of true"):
        path_r2(np.zeros((3, 4, 2)), np.ones((3, 5, 2)))
    with pytest.raises(TypeError, match="sample: expected a function"):
        sampling_floor(np.zeros(3), 10)


def test_moment_errors_mmd_and_relative_l2():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(4000, 2)) + [2.0, 0.0]
    errors = relative_moment_errors(true * [1.0, 1.0] + [0.2, 0.0], true)
    assert errors["mean"] == pytest.approx(0.2 / np.linalg.norm(true.mean(0))) and errors["covariance"] < 1e-6
    assert rbf_mmd(true[:300], true[300:600]) < 0.01 < rbf_mmd(true[:300], true[300:600] + 1.0)
    assert relative_l2(np.ones((5, 2)) * 1.1, np.ones((5, 2))) == pytest.approx(0.1)


def test_path_r2_is_one_for_true_paths_and_the_ot_chain_follows_rigid_shifts():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(60, 2))
    true = np.stack([start + [t, 0.5 * t] for t in range(4)], axis=1)
    assert path_r2(true, true) == pytest.approx(1.0)
    means = np.broadcast_to(true.mean(0, keepdims=True), true.shape)
    assert path_r2(means, true) == pytest.approx(0.0, abs=1e-9)
    shuffled = [true[rng.permutation(60), k] for k in range(4)]  # identity hidden per time
    chain = ot_chain_paths(shuffled)
    assert path_r2(chain, true[match_paths(chain, true)]) == pytest.approx(1.0)  # translations: OT is exact
    assert np.array_equal(match_paths(true[::-1], true), np.arange(60)[::-1])


def test_curl_of_a_rotation_and_of_a_gradient():
    grid = np.linspace(-1, 1, 21)
    x, y = np.meshgrid(grid, grid)
    assert np.allclose(curl_2d(grid, grid, -1.5 * y, 1.5 * x), 3.0)
    curl = curl_2d(grid, grid, 2 * x * y, x ** 2)  # grad(x^2 y): exact inside, first-order at the edges
    assert np.allclose(curl[1:-1, 1:-1], 0.0, atol=1e-9) and np.abs(curl).max() < 0.11
