"""Tests of neuralign.nn.neighbours: SNE neighbour distributions, the KL penalty, perplexity calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neuralign.nn.neighbours import (alignment_penalty, calibrate_sigma, neighbour_kl, neighbour_log_probabilities,
                                     neighbour_probabilities, sequential_pairs, squared_distances)


def reference_probabilities(z: np.ndarray, sigma: float) -> np.ndarray:
    """The paper's formula written as loops."""
    n = len(z)
    p = np.zeros((n, n))
    for i in range(n):
        weights = np.array([math.exp(-np.sum((z[i] - z[j]) ** 2) / (2 * sigma ** 2)) if j != i else 0.0
                            for j in range(n)])
        p[i] = weights / weights.sum()
    return p


def test_probabilities_match_the_formula_rows_sum_to_one_and_exclude_self():
    z = torch.randn(7, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = neighbour_probabilities(z, 1.3).numpy()
    np.testing.assert_allclose(p, reference_probabilities(z.numpy(), 1.3), atol=1e-10)
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert np.all(np.diag(p) == 0)


def test_squared_distances():
    z = torch.randn(5, 4, dtype=torch.float64)
    np.testing.assert_allclose(squared_distances(z).numpy(), torch.cdist(z, z).numpy() ** 2, atol=1e-9)


def test_kl_matches_the_sum_of_row_kls_and_is_zero_for_the_same_geometry():
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(9, 2, generator=generator, dtype=torch.float64)
    b = torch.randn(9, 3, generator=generator, dtype=torch.float64)
    p, q = reference_probabilities(a.numpy(), 1.0), reference_probabilities(b.numpy(), 1.0)
    mask = ~np.eye(9, dtype=bool)
    expected = float(np.sum(p[mask] * np.log(p[mask] / q[mask])))
    assert neighbour_kl(a, b).item() == pytest.approx(expected, rel=1e-8)
    rotation = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    moved = a @ rotation + torch.tensor([3.0, -2.0], dtype=torch.float64)  # rotation + shift keep distances
    assert neighbour_kl(a, moved).item() == pytest.approx(0.0, abs=1e-10)
    assert neighbour_kl(a, b).item() > 0.1


def test_kl_gradients_are_correct_in_both_sets():
    generator = torch.Generator().manual_seed(2)
    a = torch.randn(8, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    b = torch.randn(8, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: neighbour_kl(x, y, sigma=0.9), (a, b))


def simple_kl(a: torch.Tensor, b: torch.Tensor, sigma_a: float, sigma_b: float) -> torch.Tensor:
    """The straightforward implementation: autograd through pairwise differences and a masked log_softmax."""
    eye = torch.eye(len(a), dtype=torch.bool)

    def distances(z: torch.Tensor) -> torch.Tensor:
        return ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)

    log_p = torch.log_softmax((-distances(a) / (2 * sigma_a ** 2)).masked_fill(eye, -torch.inf), dim=1)
    log_q = torch.log_softmax((-distances(b) / (2 * sigma_b ** 2)).masked_fill(eye, -torch.inf), dim=1)
    log_p, log_q = log_p[~eye], log_q[~eye]  # off-diagonal entries only (no 0 * inf anywhere)
    return (torch.exp(log_p) * (log_p - log_q)).sum()


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-9), (torch.float32, 2e-4)])
def test_fast_kl_matches_the_simple_implementation_in_value_and_gradients(dtype, tolerance):
    generator = torch.Generator().manual_seed(5)
    a = (2 * torch.randn(300, 16, generator=generator)).to(dtype).requires_grad_()
    b = torch.randn(300, 3, generator=generator).to(dtype).requires_grad_()
    fast = neighbour_kl(a, b, sigma=1.5)
    fast_a, fast_b = torch.autograd.grad(fast, (a, b))
    simple = simple_kl(a, b, 1.5, 1.5)
    simple_a, simple_b = torch.autograd.grad(simple, (a, b))
    assert fast.dtype == dtype and fast.item() == pytest.approx(simple.item(), rel=tolerance)
    for mine, reference in ((fast_a, simple_a), (fast_b, simple_b)):
        assert mine.dtype == dtype
        torch.testing.assert_close(mine, reference, rtol=tolerance, atol=tolerance * reference.abs().max().item())


def test_fast_kl_with_calibrated_bandwidths_matches_the_simple_implementation():
    generator = torch.Generator().manual_seed(6)
    a = torch.randn(120, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    b = (0.1 * torch.randn(120, 2, generator=generator, dtype=torch.float64)).requires_grad_()
    fast = neighbour_kl(a, b, perplexity=15.0)
    sigma_a, sigma_b = calibrate_sigma(a, 15.0).item(), calibrate_sigma(b, 15.0).item()
    assert sigma_b < 0.5 * sigma_a  # each set gets its own bandwidth
    simple = simple_kl(a, b, sigma_a, sigma_b)
    assert fast.item() == pytest.approx(simple.item(), rel=1e-9)
    for mine, reference in zip(torch.autograd.grad(fast, (a, b)), torch.autograd.grad(simple, (a, b)), strict=True):
        torch.testing.assert_close(mine, reference)


def test_fast_kl_gradient_only_for_the_set_that_needs_it():
    a = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 2, dtype=torch.float64)
    neighbour_kl(a, b).backward()
    assert a.grad is not None and b.grad is None
    assert torch.autograd.gradcheck(lambda y: neighbour_kl(b, y, sigma=0.7), (a,))


def test_far_apart_points_stay_finite():
    z = torch.tensor([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]], requires_grad=True)
    value = neighbour_kl(z, z.flip(0) * 0.5, sigma=0.1)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(z.grad).all()


def test_calibrate_sigma_reaches_the_perplexity():
    z = torch.randn(200, 5, generator=torch.Generator().manual_seed(3))
    sigma = calibrate_sigma(z, 20.0)
    log_p = neighbour_log_probabilities(z, sigma)
    p = torch.exp(log_p)
    entropy = -(p * log_p.clamp(min=-1e4)).sum(1).mean().item()
    assert math.exp(entropy) == pytest.approx(20.0, rel=0.05)
    assert calibrate_sigma(z * 3, 20.0).item() == pytest.approx(3 * sigma.item(), rel=0.02)


def test_penalty_sums_sequential_pairs_and_accepts_a_graph():
    generator = torch.Generator().manual_seed(4)
    latents = [torch.randn(10, d, generator=generator) for d in (3, 2, 2)]
    total, per_pair = alignment_penalty(latents)
    assert sequential_pairs(3) == [(0, 1), (1, 2)]
    expected = neighbour_kl(latents[1], latents[0]) + neighbour_kl(latents[2], latents[1])
    assert total.item() == pytest.approx(expected.item(), rel=1e-6) and len(per_pair) == 2
    total, per_pair = alignment_penalty(latents, [(0, 2)], perplexity=4.0)
    assert len(per_pair) == 1 and total.item() > 0


@pytest.mark.parametrize("call, match", [
    (lambda: neighbour_kl(np.zeros((5, 2)), torch.zeros(5, 2)), "z_reference"),
    (lambda: neighbour_kl(torch.zeros(2, 2), torch.zeros(2, 2)), "z_reference"),
    (lambda: neighbour_kl(torch.randn(5, 2), torch.randn(6, 2)), "z_model"),
    (lambda: neighbour_kl(torch.randn(5, 2), torch.randn(5, 2, dtype=torch.float64)), "z_model"),
    (lambda: neighbour_kl(torch.randn(5, 2), torch.randn(5, 2), sigma=0.0), "sigma"),
    (lambda: calibrate_sigma(torch.randn(10, 2), 20.0), "perplexity"),
    (lambda: alignment_penalty([torch.randn(5, 2)]), "latents"),
    (lambda: alignment_penalty([torch.randn(5, 2)] * 2, [(0, 0)]), "pairs"),
    (lambda: alignment_penalty([torch.randn(5, 2)] * 2, [(0, 3)]), "pairs"),
    (lambda: alignment_penalty([torch.randn(5, 2)] * 2, []), "pairs"),
])
def test_bad_inputs_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
