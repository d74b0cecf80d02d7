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
