"""Set distances: the batched form equals one call per candidate, and each distance behaves as its definition says."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from neuralign.nn.matching import gaussian_kl, rbf_mmd2, sinkhorn_divergence, transport_cost

DISTANCES = [gaussian_kl, rbf_mmd2, sinkhorn_divergence]


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
    torch.testing.assert_close(batched, single, rtol=1e-6, atol=1e-9)  # Sinkhorn: the batch stops together


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


def test_bad_shapes_name_the_arguments():
    with pytest.raises(ValueError, match="x, y: expected .* same features"):
        rbf_mmd2(torch.zeros(5, 3), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="x, y: expected at least 2 samples"):
        sinkhorn_divergence(torch.zeros(1, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="leading .* do not broadcast"):
        gaussian_kl(torch.zeros(2, 5, 3), torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match="x, y: expected .* same features"):
        transport_cost(torch.zeros(5, 3), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="x, y: expected at least 2 samples"):
        transport_cost(torch.zeros(4, 3), torch.zeros(1, 3))


def test_transport_cost_is_the_exact_cost(sets):
    x, y = sets
    exact = [ot.emd2(np.full(20, 1 / 20), np.full(30, 1 / 30), (torch.cdist(c, y) ** 2).numpy()) for c in x]
    torch.testing.assert_close(transport_cost(x, y), torch.as_tensor(exact, dtype=torch.float64))
    assert transport_cost(x, y).shape == (4,)


# ------------------------------------------------------------------------------------- Sinkhorn divergence
def _entropic_transport_cost(x, y):
    """<P, C> under the entropic plan, the cost neuralign trained on before the divergence (eps = 0.1 x the
    mean of C, 30 iterations)."""
    cost = torch.cdist(x, y) ** 2
    plan = ot.batch.solve_batch((cost / cost.mean())[None], 0.1, max_iter=30, tol=0.0, method="log_sinkhorn",
                                grad="detach").plan[0]
    return float((plan * cost).sum())


def test_sinkhorn_divergence_is_zero_at_equal_sets_and_does_not_reward_shrinkage(sets):
    """The audit's case. With y (30 points in 3-D), the entropic transport cost <P, C> is 0.454 at x = y and
    0.443 at x = y shrunk by 10 % towards its mean, so training on it pulls latents inwards; the divergence is 0
    at x = y and rises to 0.031."""
    _, y = sets
    shrunk = y.mean(0) + 0.9 * (y - y.mean(0))
    assert _entropic_transport_cost(shrunk, y) < _entropic_transport_cost(y, y)  # what the old cost did
    assert float(sinkhorn_divergence(y, y)) == pytest.approx(0.0, abs=1e-12)
    assert float(sinkhorn_divergence(shrunk, y)) > 0.01
    assert float(sinkhorn_divergence(y + 0.3, y)) > 0.01
    generator = torch.Generator().manual_seed(1)
    permuted = y[torch.randperm(30, generator=generator)]  # the same set in another order: still 0
    assert float(sinkhorn_divergence(permuted, y)) == pytest.approx(0.0, abs=1e-8)
    equal = y.clone().requires_grad_(True)  # no pull at x = y, up to Sinkhorn's convergence (slow on 3-D sets)
    sinkhorn_divergence(equal, y, iterations=2000).backward()
    torch.testing.assert_close(equal.grad, torch.zeros_like(y), atol=1e-6, rtol=0)


def test_sinkhorn_divergence_is_symmetric_and_batched(sets):
    x, y = sets
    torch.testing.assert_close(sinkhorn_divergence(x, y), sinkhorn_divergence(y, x), rtol=1e-6, atol=1e-9)
    many = torch.stack([y, y + 1.0, 0.5 * y])  # (3, 30, 3)
    values = sinkhorn_divergence(x[:, None], many)  # (4, 1, 20, 3) against (3, 30, 3)
    assert values.shape == (4, 3) and (values > 0).all()
    torch.testing.assert_close(values[2, 1], sinkhorn_divergence(x[2], many[1]))
    assert sinkhorn_divergence(x[0].float(), y.float()).dtype == torch.float32


def test_sinkhorn_divergence_gradient_equals_autodiff_through_the_sinkhorn_iterations(sets):
    """The envelope gradient (plans held fixed) equals POT's gradient through 2000 unrolled iterations, at
    the function's own eps (documented: 0.1 x the mean within-set squared distance, averaged over x and y)."""
    x, y = sets
    x, y = x[0].clone().requires_grad_(True), y.clone().requires_grad_(True)
    sinkhorn_divergence(x, y, iterations=1000).backward()
    with torch.no_grad():
        eps = float(0.1 * ((torch.cdist(x, x) ** 2).mean() + (torch.cdist(y, y) ** 2).mean()) / 2)
    x_ref, y_ref = x.detach().clone().requires_grad_(True), y.detach().clone().requires_grad_(True)

    def entropic_value(a, b):
        cost = (torch.cdist(a, b) ** 2)[None]
        return ot.batch.solve_batch(cost, eps, max_iter=2000, tol=0.0, method="log_sinkhorn", reg_type="kl",
                                    grad="autodiff").value[0]

    reference = entropic_value(x_ref, y_ref) - entropic_value(x_ref, x_ref) / 2 - entropic_value(y_ref, y_ref) / 2
    reference.backward()
    torch.testing.assert_close(sinkhorn_divergence(x, y, iterations=1000), reference.detach(), rtol=1e-5, atol=0)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(y.grad, y_ref.grad, rtol=1e-4, atol=1e-5)


def test_sinkhorn_divergence_approaches_the_exact_transport_cost_at_small_reg(sets):
    x, y = sets  # as eps -> 0 the self terms vanish and the cross term tends to the exact cost
    exact = float(transport_cost(x[0], y))
    assert float(sinkhorn_divergence(x[0], y, reg=0.002, iterations=2000)) == pytest.approx(exact, rel=0.05)
    assert np.isfinite(float(sinkhorn_divergence(x[0].float(), y.float(), reg=1e-4, iterations=50)))  # log domain


def test_sinkhorn_divergence_bad_settings_name_the_argument(sets):
    x, y = sets
    with pytest.raises(ValueError, match="reg: expected a finite number > 0"):
        sinkhorn_divergence(x, y, reg=0.0)
    with pytest.raises(ValueError, match="iterations: expected an integer >= 1"):
        sinkhorn_divergence(x, y, iterations=0)
    with pytest.raises(ValueError, match="x, y: expected .* same features"):
        sinkhorn_divergence(torch.zeros(5, 3), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="leading .* do not broadcast"):
        sinkhorn_divergence(torch.zeros(2, 5, 3), torch.zeros(3, 5, 3))


def test_sinkhorn_divergence_without_the_y_term_has_the_same_gradient():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(12, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    y = torch.randn(15, 3, generator=generator, dtype=torch.float64) + 0.5
    full = sinkhorn_divergence(x, y, iterations=300)
    (grad_full,) = torch.autograd.grad(full, x)
    partial = sinkhorn_divergence(x, y, iterations=300, y_term=False)
    (grad_partial,) = torch.autograd.grad(partial, x)
    torch.testing.assert_close(grad_partial, grad_full)
    assert float(partial) > float(full)  # the left-out term OT(y, y) / 2 is positive
