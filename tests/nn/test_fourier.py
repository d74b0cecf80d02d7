"""Tests of neuralign.nn.fourier: the Fourier basis, the RBF spectrum, pruning, and both priors' KL terms
against torch.distributions."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from neuralign.nn import FourierGPPrior, TimeDomainGPPrior
from neuralign.nn.fourier import GP_PRIORS, real_fourier_basis, rbf_spectral_density


def rbf_gram(n_time: int, length_scale: float, variance: float = 1.0) -> torch.Tensor:
    t = torch.arange(n_time, dtype=torch.float64)
    return variance * torch.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / length_scale ** 2)


def test_registry_names_both_priors():
    assert GP_PRIORS == {"fourier": FourierGPPrior, "time": TimeDomainGPPrior}


@pytest.mark.parametrize("n_circle", [9, 10])
def test_full_real_fourier_basis_is_orthonormal(n_circle):
    basis, omega = real_fourier_basis(n_circle, n_circle, n_circle, dtype=torch.float64)
    assert basis.shape == (n_circle, n_circle) and omega.shape == (n_circle,)
    torch.testing.assert_close(basis @ basis.T, torch.eye(n_circle, dtype=torch.float64))


def test_fourier_prior_covariance_matches_the_rbf_kernel():
    prior = FourierGPPrior(2, length_scale_init=[3.0, 10.0], min_length_scale=1.0, max_length_scale=30.0).double()
    with torch.no_grad():
        prior.log_variance.copy_(torch.log(torch.tensor([1.0, 2.5], dtype=torch.float64)))
    frame = prior.frame(60)
    spectrum = frame.cache["spectrum"]
    for k, (length_scale, variance) in enumerate([(3.0, 1.0), (10.0, 2.5)]):
        covariance = frame.basis.T @ torch.diag(spectrum[k]) @ frame.basis
        torch.testing.assert_close(covariance, rbf_gram(60, length_scale, variance), atol=1e-5, rtol=0)


def test_pruning_keeps_frequencies_above_the_threshold_only():
    prior = FourierGPPrior(1, length_scale_init=8.0, condition_threshold=1e-4)
    n_circle = prior.circle_length(50)
    kept = prior.n_frequencies(50, 8.0)
    ratio = lambda f: math.exp(-0.5 * (2 * math.pi * f / n_circle * 8.0) ** 2)  # noqa: E731
    assert ratio(kept - 1) >= 1e-4 > ratio(kept)
    assert prior.n_frequencies(50, 2.0) > kept  # shorter length scales need more frequencies
    frame = prior.frame(50)
    assert frame.n_coefficients == 2 * kept - 1 and frame.basis.shape == (2 * kept - 1, 50)


def test_number_of_coefficients_grows_linearly_with_trial_length():
    prior = FourierGPPrior(1, length_scale_init=10.0, min_length_scale=2.0, max_length_scale=40.0)
    sizes = [prior.frame(n_time).n_coefficients for n_time in (100, 400, 1600)]
    assert sizes[0] < sizes[1] < sizes[2] < 1600 / 4


def test_fourier_kl_equals_torch_kl_divergence_and_vanishes_at_the_prior():
    prior = FourierGPPrior(3, length_scale_init=4.0).double()
    frame = prior.frame(20)
    generator = torch.Generator().manual_seed(0)
    shape = (2, 3, frame.n_coefficients)
    mean = torch.randn(shape, generator=generator, dtype=torch.float64)
    variance = torch.exp(torch.randn(shape, generator=generator, dtype=torch.float64))
    spectrum = frame.cache["spectrum"]
    expected = kl_divergence(Normal(mean, variance.sqrt()), Normal(0.0, spectrum.sqrt())).sum(dim=(1, 2))
    torch.testing.assert_close(prior.kl(mean, variance, frame), expected)
    at_prior = prior.kl(torch.zeros(shape, dtype=torch.float64), spectrum.expand(shape), frame)
    torch.testing.assert_close(at_prior, torch.zeros(2, dtype=torch.float64))


def test_time_domain_kl_equals_torch_kl_divergence():
    prior = TimeDomainGPPrior(2, length_scale_init=[2.0, 5.0], jitter=1e-2).double()
    frame = prior.frame(12)
    generator = torch.Generator().manual_seed(1)
    mean = torch.randn(3, 2, 12, generator=generator, dtype=torch.float64)
    variance = torch.exp(0.3 * torch.randn(3, 2, 12, generator=generator, dtype=torch.float64) - 1.0)
    covariance = prior.covariance(12)
    expected = torch.zeros(3, dtype=torch.float64)
    for k in range(2):
        q = MultivariateNormal(mean[:, k], covariance_matrix=torch.diag_embed(variance[:, k]))
        expected = expected + kl_divergence(q, MultivariateNormal(torch.zeros(12, dtype=torch.float64), covariance[k]))
    torch.testing.assert_close(prior.kl(mean, variance, frame), expected)
    torch.testing.assert_close(frame.prior_precision, torch.diagonal(torch.linalg.inv(covariance), dim1=-2, dim2=-1))


def test_projected_experts_give_the_exact_posterior_in_an_orthonormal_basis():
    """With the full (square, orthonormal) basis and equal precisions, the diagonal expert is exact."""
    prior = FourierGPPrior(1, length_scale_init=3.0, min_length_scale=2.0, max_length_scale=4.0,
                           padding_scales=1e-9, condition_threshold=1e-12).double()
    n_time = 12
    assert prior.circle_length(n_time) == n_time + 1
    frame = prior.frame(n_time)
    basis, _ = real_fourier_basis(n_time, n_time, n_time, dtype=torch.float64)
    frame.basis = basis
    frame.cache["spectrum"] = rbf_spectral_density(
        torch.tensor([0.0] + [2 * math.pi * ((i + 1) // 2) / n_time for i in range(n_time - 1)],
                     dtype=torch.float64), prior.length_scale.double(), prior.variance.double())
    observed = torch.randn(1, n_time, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    weight = 4.0
    natural, precision = frame.project_experts(observed, torch.full_like(observed, weight))
    prior_precision = 1.0 / frame.cache["spectrum"]
    exact_covariance = torch.linalg.inv(torch.diag(prior_precision[0]) + weight * basis @ basis.T)
    exact_mean = exact_covariance @ (weight * basis @ observed[0, :, 0])
    torch.testing.assert_close(natural[0, 0] / (prior_precision[0] + precision[0, 0]), exact_mean)
    torch.testing.assert_close(1.0 / (prior_precision[0] + precision[0, 0]), torch.diagonal(exact_covariance))


def test_spectrum_never_underflows_for_mixed_length_scales():
    prior = FourierGPPrior(2, length_scale_init=[1.1, 29.0], min_length_scale=1.0, max_length_scale=30.0)
    frame = prior.frame(80)
    assert bool((frame.cache["spectrum"] > 0).all()) and bool(torch.isfinite(frame.prior_precision).all())


@pytest.mark.parametrize("prior_class", [FourierGPPrior, TimeDomainGPPrior])
def test_kl_gradients_reach_length_scales_and_variances(prior_class):
    prior = prior_class(2, length_scale_init=4.0)
    frame = prior.frame(16)
    mean = torch.randn(3, 2, frame.n_coefficients)
    kl = prior.kl(mean, torch.full_like(mean, 0.1), frame).sum()
    kl.backward()
    assert torch.isfinite(prior.raw_length_scale.grad).all() and prior.raw_length_scale.grad.abs().sum() > 0
    assert torch.isfinite(prior.log_variance.grad).all() and prior.log_variance.grad.abs().sum() > 0


@pytest.mark.parametrize("prior_class", [FourierGPPrior, TimeDomainGPPrior])
def test_samples_have_the_rbf_covariance(prior_class):
    prior = prior_class(1, length_scale_init=4.0)
    samples = prior.sample(4000, 15, generator=torch.Generator().manual_seed(0))[..., 0].double()
    assert samples.shape == (4000, 15)
    empirical = samples.T @ samples / samples.shape[0]
    assert (empirical - rbf_gram(15, 4.0)).abs().max() < 0.12


@pytest.mark.parametrize("kwargs, name", [
    (dict(latent_dim=0), "latent_dim"),
    (dict(latent_dim=2, length_scale_init=50.0), "length_scale_init"),
    (dict(latent_dim=2, length_scale_init=[3.0]), "length_scale_init"),
    (dict(latent_dim=2, min_length_scale=5.0, max_length_scale=4.0, length_scale_init=4.5), "max_length_scale"),
    (dict(latent_dim=2, condition_threshold=2.0), "condition_threshold"),
    (dict(latent_dim=2, padding_scales=-1.0), "padding_scales"),
])
def test_fourier_prior_rejects_bad_settings_naming_them(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        FourierGPPrior(**kwargs)


def test_bad_basis_and_frame_arguments_are_named():
    with pytest.raises(ValueError, match="n_circle"):
        real_fourier_basis(10, 8, 3)
    with pytest.raises(ValueError, match="n_time"):
        FourierGPPrior(1).frame(0)
    with pytest.raises(ValueError, match="jitter"):
        TimeDomainGPPrior(1, jitter=0.0)
