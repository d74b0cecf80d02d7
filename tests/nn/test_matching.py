"""Set distances: the batched form equals one call per candidate, and each distance behaves as its definition says."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from neuralign.nn.matching import gaussian_kl, rbf_mmd2, sinkhorn_cost, transport_cost

DISTANCES = [gaussian_kl, rbf_mmd2, sinkhorn_cost]


@pytest.fixture
def sets():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 20, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(30, 3, generator=generator, dtype=torch.float64) + 0.5
    return x, y


@pytest.mark.parametrize("distance", DISTANCES)
def test_batched_call_equals_one_call_per_candidate(distance, sets):
    x, y = sets
    batched = distance(x, y)
    assert batched.shape == (4,)
    single = torch.stack([distance(candidate, y) for candidate in x])
    torch.testing.assert_close(batched, single)


@pytest.mark.parametrize("distance", DISTANCES)
def test_distance_grows_with_a_shift_and_has_gradients(distance, sets):
    x, y = sets
    near = y[:20].clone().requires_grad_(True)
    far = (y[:20] + 3.0).clone().requires_grad_(True)
    value_near, value_far = distance(near, y), distance(far, y)
    assert value_far > value_near
    value_far.backward()
    assert far.grad is not None and torch.isfinite(far.grad).all() and far.grad.abs().sum() > 0


def test_gaussian_kl_matches_the_closed_form_for_shifted_sets(sets):
    _, y = sets
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    covariance = torch.cov(y.T) + 1e-3 * torch.eye(3, dtype=torch.float64)
    expected = 0.5 * shift @ torch.linalg.solve(covariance, shift)  # equal covariances: only the mean term
    torch.testing.assert_close(gaussian_kl(y + shift, y), expected)


def test_sinkhorn_cost_approaches_the_exact_transport_cost(sets):
    x, y = sets
    exact = ot.emd2(np.full(20, 1 / 20), np.full(30, 1 / 30), (torch.cdist(x[0], y) ** 2).numpy())
    approximate = float(sinkhorn_cost(x[0], y, reg=0.01, iterations=500))
    assert approximate == pytest.approx(exact, rel=0.05)


def test_bad_shapes_name_the_arguments():
    with pytest.raises(ValueError, match="x, y: expected .* same features"):
        rbf_mmd2(torch.zeros(5, 3), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="x, y: expected at least 2 samples"):
        sinkhorn_cost(torch.zeros(1, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="leading .* do not broadcast"):
        gaussian_kl(torch.zeros(2, 5, 3), torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match="x, y: expected .* same features"):
        transport_cost(torch.zeros(5, 3), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="x, y: expected at least 2 samples"):
        transport_cost(torch.zeros(4, 3), torch.zeros(1, 3))


def test_transport_cost_is_the_exact_cost_and_the_entropic_cost_approaches_it(sets):
    x, y = sets
    exact = [ot.emd2(np.full(20, 1 / 20), np.full(30, 1 / 30), (torch.cdist(c, y) ** 2).numpy()) for c in x]
    torch.testing.assert_close(transport_cost(x, y), torch.as_tensor(exact, dtype=torch.float64))
    assert transport_cost(x, y).shape == (4,)
    assert float(sinkhorn_cost(x[0], y)) > float(transport_cost(x[0], y))  # the entropic plan is not optimal
