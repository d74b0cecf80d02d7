"""Tests of neuralign.nn.fusion (products and mixtures of Gaussian experts)."""

from __future__ import annotations

import torch
from torch.distributions import Normal

from neuralign.nn.fusion import mixture_log_prob, nonempty_subsets, product_of_experts


def test_product_of_experts_is_the_precision_weighted_product_and_drops_missing_experts():
    a = (torch.full((2, 1, 1), 1.0), torch.log(torch.full((2, 1, 1), 0.5)))
    b = (torch.full((2, 1, 1), -2.0), torch.zeros(2, 1, 1))
    mean, log_variance = product_of_experts([a, b], [torch.ones(2), torch.tensor([1.0, 0.0])])
    # trial 0: precisions 1 (prior) + 2 + 1 = 4, mean (2 * 1 - 2) / 4 = 0; trial 1: 1 + 2 = 3, mean 2 / 3
    torch.testing.assert_close(mean.flatten(), torch.tensor([0.0, 2 / 3]))
    torch.testing.assert_close(torch.exp(-log_variance).flatten(), torch.tensor([4.0, 3.0]))


def test_mixture_log_prob_matches_torch_distributions():
    z = torch.randn(3, 2, 2)
    components = [(torch.randn(3, 2, 2), torch.randn(3, 2, 2) * 0.3) for _ in range(2)]
    weights = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.2, 0.8]])
    expected = torch.logsumexp(torch.stack([
        Normal(m, torch.exp(0.5 * lv)).log_prob(z).sum(dim=(1, 2)) for m, lv in components], 1)
        + torch.log(weights.clamp_min(1e-30)), 1)
    torch.testing.assert_close(mixture_log_prob(z, components, weights), expected)


def test_nonempty_subsets():
    assert nonempty_subsets(["a", "b"]) == [("a",), ("b",), ("a", "b")]
