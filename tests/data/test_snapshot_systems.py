"""Snapshot systems against their closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.data import snapshot_systems as systems
from neuralign.snapshots import Snapshots


def test_ou_marginals_match_the_closed_form_and_the_probability_flow_carries_them():
    system = systems.ornstein_uhlenbeck(3, n=20000, seed=1)
    A, sigma, m0, S0 = (system.meta[key] for key in ("A", "sigma", "m0", "S0"))
    for t, cloud in zip(system.times[[0, 3, 5]], [system.clouds[0], system.clouds[3], system.clouds[5]]):
        mean, covariance = systems.ou_moments(A, sigma, m0, S0, t)
        assert np.abs(cloud.mean(0) - mean).max() < 0.02
        assert np.abs(np.cov(cloud.T) - covariance).max() < 0.02
    # d/dt mean = E[v] and d/dt cov = E[v (x - m)^T] + transpose under the probability flow (= the SDE's moments)
    t, step = 0.7, 1e-5
    mean, covariance = systems.ou_moments(A, sigma, m0, S0, t)
    later_mean, later_cov = systems.ou_moments(A, sigma, m0, S0, t + step)
    x = system.sample(t, 200000, np.random.default_rng(0)).astype(np.float64)
    v = system.velocity(x, t).astype(np.float64)
    assert np.allclose(v.mean(0), (later_mean - mean) / step, atol=0.01)
    flux = (v - v.mean(0)).T @ (x - x.mean(0)) / len(x)
    assert np.allclose(flux + flux.T, (later_cov - covariance) / step, atol=0.02)
    assert np.allclose(system.drift(x[:3], t), -x[:3] @ A.T, atol=1e-5)
    assert isinstance(system.snapshots(), Snapshots) and system.snapshots().dim == 3


def test_probability_flow_of_a_symmetric_drift_is_a_gradient_field():
    system = systems.ornstein_uhlenbeck(4, n=10, seed=2)
    basis = np.eye(4, dtype=np.float32)
    jacobian = system.velocity(basis, 0.6) - system.velocity(np.zeros((1, 4), np.float32), 0.6)  # linear field
    assert np.allclose(jacobian, jacobian.T, atol=1e-5)


def test_rotation_preserves_radii_and_hides_identity():
    system = systems.rotating_cloud(n=300, seed=0)
    radii = np.linalg.norm(system.trajectories, axis=2)
    assert np.allclose(radii, radii[:, :1], atol=1e-5)
    for k, order in enumerate(system.order):
        assert np.array_equal(system.clouds[k], system.trajectories[order, k])
    assert not np.array_equal(system.order[0], system.order[1])
    x = system.clouds[2]
    assert np.allclose((system.velocity(x, 0.0) * x).sum(1), 0.0, atol=1e-5)  # tangent to the circles


def test_oscillator_trajectories_solve_the_equation():
    system = systems.damped_oscillators(n=50, seed=0)
    omega, gamma = system.meta["omega"], system.meta["gamma"]
    x0, v0 = np.array([[1.0, -0.5]]), np.array([[0.3, 2.0]])
    t, h = 0.9, 1e-4
    positions = [systems.oscillator_positions(x0, v0, t + s, omega, gamma)[0] for s in (-h, 0.0, h)]
    acceleration = (positions[0] - 2 * positions[1] + positions[2]) / h ** 2
    velocity = systems.oscillator_positions(x0, v0, t, omega, gamma)[1]
    assert np.allclose(acceleration, -omega ** 2 * positions[1] - gamma * velocity, atol=1e-3)
    assert system.trajectories.shape == (50, 6, 2)
    with pytest.raises(ValueError, match="gamma: expected an underdamped"):
        systems.damped_oscillators(omega=1.0, gamma=3.0)


def test_generators_check_their_arguments():
    with pytest.raises(ValueError, match="times: expected at least 2 strictly increasing"):
        systems.rotating_cloud(times=[0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="n"):
        systems.ornstein_uhlenbeck(2, n=1)


def test_latent_system_shuffles_trials_per_bin():
    latents = np.random.default_rng(0).normal(size=(20, 5, 3))
    system = systems.latent_system(latents, name="x", bin_size=0.02)
    assert np.allclose(system.times, np.arange(5) * 0.02)
    for k, order in enumerate(system.order):
        assert np.allclose(system.clouds[k], latents[order, k])


def test_learning_snapshots_are_two_pca_clouds():
    system = systems.learning_latent_snapshots(latent_dim=3)
    assert [cloud.shape for cloud in system.clouds] == [(552, 3), (552, 3)]
    assert 0 < system.meta["explained_variance"] < 1
