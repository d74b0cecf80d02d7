"""Tests of neuralign.nn.priors: the KL terms against torch.distributions, masking, and sampling."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from neuralign.nn.priors import PRIORS, AR1Prior, StandardNormalPrior


def _posterior(trials: int = 2, time: int = 6, latent_dim: int = 3, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    mean = torch.randn(trials, time, latent_dim, generator=generator, dtype=torch.float64)
    log_variance = 0.5 * torch.randn(trials, time, latent_dim, generator=generator, dtype=torch.float64) - 0.5
    return mean, log_variance


def _ar1_prior(coefficients: list[float]) -> AR1Prior:
    prior = AR1Prior(len(coefficients)).double()
    with torch.no_grad():
        prior.raw_coefficient.copy_(torch.atanh(torch.tensor(coefficients, dtype=torch.float64)))
    return prior


def _ar1_log_prob(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """log p(z) under the stationary AR(1) prior; z: (samples, trials, time, d) -> (samples, trials)."""
    first = Normal(0.0, 1.0).log_prob(z[..., 0, :])
    rest = Normal(a * z[..., :-1, :], torch.sqrt(1.0 - a ** 2)).log_prob(z[..., 1:, :])
    return first.sum(-1) + rest.sum(dim=(-2, -1))


def test_registry_names_both_priors():
    assert PRIORS == {"normal": StandardNormalPrior, "ar1": AR1Prior}


# ------------------------------------------------------------------------------------------ standard normal
def test_standard_normal_kl_equals_torch_kl_divergence():
    mean, log_variance = _posterior()
    expected = kl_divergence(Normal(mean, torch.exp(0.5 * log_variance)), Normal(0.0, 1.0)).sum(dim=(1, 2))
    kl = StandardNormalPrior(3).kl(mean, log_variance)
    assert kl.shape == (2,)
    torch.testing.assert_close(kl, expected)


def test_standard_normal_kl_is_zero_when_posterior_equals_prior():
    zeros = torch.zeros(3, 5, 2)
    torch.testing.assert_close(StandardNormalPrior(2).kl(zeros, zeros), torch.zeros(3))


def test_standard_normal_kl_mask_excludes_padding_bins():
    mean, log_variance = _posterior()
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    prior = StandardNormalPrior(3)
    kl = prior.kl(mean, log_variance, mask)
    assert kl[0] == pytest.approx(prior.kl(mean[:1], log_variance[:1])[0].item())
    assert kl[1] == pytest.approx(prior.kl(mean[1:, :4], log_variance[1:, :4])[0].item())
    changed_mean, changed_log_variance = mean.clone(), log_variance.clone()
    changed_mean[1, 4:] = 100.0
    changed_log_variance[1, 4:] = 5.0
    torch.testing.assert_close(prior.kl(changed_mean, changed_log_variance, mask), kl)


def test_standard_normal_sample_shape():
    z = StandardNormalPrior(3).sample(4, 7, generator=torch.Generator().manual_seed(0))
    assert z.shape == (4, 7, 3)
    again = StandardNormalPrior(3).sample(4, 7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z, again)


# ----------------------------------------------------------------------------------------------------- AR(1)
def test_ar1_kl_equals_monte_carlo_estimate():
    mean, log_variance = _posterior()
    prior = _ar1_prior([0.5, 0.9, -0.3])
    with torch.no_grad():
        kl = prior.kl(mean, log_variance)
    q = Normal(mean, torch.exp(0.5 * log_variance))
    torch.manual_seed(0)
    z = q.sample((100_000,))  # (samples, trials, time, d)
    with torch.no_grad():
        log_ratio = q.log_prob(z).sum(dim=(-2, -1)) - _ar1_log_prob(z, prior.coefficient)
    estimate = log_ratio.mean(0)
    standard_error = log_ratio.std(0) / math.sqrt(log_ratio.shape[0])
    assert torch.all((kl - estimate).abs() < 5 * standard_error + 1e-3), (kl, estimate, standard_error)


def test_ar1_kl_equals_exact_gaussian_kl():
    """The joint AR(1) prior is a Gaussian with covariance a^|i - j| per latent: compare with the exact KL."""
    mean, log_variance = _posterior(trials=2, time=5, latent_dim=2)
    coefficients = [0.7, -0.4]
    prior = _ar1_prior(coefficients)
    kl = prior.kl(mean, log_variance)
    steps = torch.arange(5, dtype=torch.float64)
    expected = torch.zeros(2, dtype=torch.float64)
    for d, a in enumerate(coefficients):
        covariance = torch.tensor(a, dtype=torch.float64) ** (steps[:, None] - steps[None, :]).abs()
        p = MultivariateNormal(torch.zeros(5, dtype=torch.float64), covariance_matrix=covariance)
        q = MultivariateNormal(mean[..., d], covariance_matrix=torch.diag_embed(torch.exp(log_variance[..., d])))
        expected += kl_divergence(q, p)
    torch.testing.assert_close(kl, expected)


def test_ar1_kl_is_zero_for_white_prior_and_matching_posterior():
    prior = AR1Prior(2, initial_coefficient=0.0)
    zeros = torch.zeros(3, 6, 2)
    torch.testing.assert_close(prior.kl(zeros, zeros), torch.zeros(3), atol=1e-6, rtol=0)


def test_ar1_kl_is_nonnegative():
    mean, log_variance = _posterior(trials=8, seed=3)
    assert torch.all(_ar1_prior([0.95, 0.0, -0.8]).kl(mean, log_variance) >= 0)


def test_ar1_kl_mask_excludes_padding_bins():
    mean, log_variance = _posterior()
    prior = _ar1_prior([0.5, 0.9, -0.3])
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    kl = prior.kl(mean, log_variance, mask)
    # a ragged trial's KL equals the KL of its valid prefix
    assert kl[0].item() == pytest.approx(prior.kl(mean[:1], log_variance[:1])[0].item())
    assert kl[1].item() == pytest.approx(prior.kl(mean[1:, :3], log_variance[1:, :3])[0].item())
    changed_mean, changed_log_variance = mean.clone(), log_variance.clone()
    changed_mean[1, 3:] = -50.0
    changed_log_variance[1, 3:] = 4.0
    torch.testing.assert_close(prior.kl(changed_mean, changed_log_variance, mask), kl)


def test_ar1_coefficient_stays_inside_unit_interval_and_gets_gradients():
    prior = AR1Prior(2)
    with torch.no_grad():
        prior.raw_coefficient.copy_(torch.tensor([50.0, -50.0]))
    assert torch.all(prior.coefficient.abs() < 1)
    mean, log_variance = _posterior(latent_dim=2)
    prior = AR1Prior(2)
    prior.kl(mean.float(), log_variance.float()).sum().backward()
    assert prior.raw_coefficient.grad is not None and torch.isfinite(prior.raw_coefficient.grad).all()


def test_ar1_sample_has_unit_variance_and_lag_one_correlation():
    prior = AR1Prior(2, initial_coefficient=0.8)
    z = prior.sample(4000, 12, generator=torch.Generator().manual_seed(0))
    assert z.shape == (4000, 12, 2)
    assert not z.requires_grad
    variance = z.var(dim=0)  # (time, d): stationary, so 1 in every bin
    assert torch.allclose(variance, torch.ones_like(variance), atol=0.1)
    lag_one = (z[:, 1:] * z[:, :-1]).mean(dim=(0, 1))
    assert torch.allclose(lag_one, torch.full((2,), 0.8), atol=0.05)
    again = prior.sample(4000, 12, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z, again)
