"""Tests of neuralign.nn.poise (POISE prior/posterior, Gibbs sampling, quadrature, KL gradient estimator)."""

from __future__ import annotations

import math

import pytest
import torch

from neuralign.nn import poise
from neuralign.nn.fusion import gaussian_kl, product_of_experts


def _uncoupled(d: int = 1) -> poise.Coupling:
    raw = torch.zeros(d, 4, dtype=torch.float64)
    raw[:, 3] = -40.0  # g22 = -softplus(-40) ~ 0: every coefficient ~ 0
    return poise.coupling_from_raw(raw)


def _naturals(values, n: int = 1) -> poise.Naturals:
    a1, l2, b1, l2p = (torch.as_tensor(v, dtype=torch.float64).reshape(1, 1).expand(n, 1) for v in values)
    return poise.naturals((a1, l2), (b1, l2p), torch.zeros(n, 1, dtype=torch.float64))


def test_coupling_is_normalisable_for_any_raw_parameters():
    raw = torch.randn(200, 4, dtype=torch.float64) * 5
    g = poise.coupling_from_raw(raw)
    assert (g.g22 < 0).all()
    bound = torch.sqrt(2 * -g.g22)
    assert (g.g12.abs() < bound).all() and (g.g21.abs() < bound).all()
    # the conditional precision 1 - 2 (g21 z' + g22 z'^2) stays positive for every z', also for extreme z'
    zp = torch.linspace(-1e3, 1e3, 20001, dtype=torch.float64).unsqueeze(1)
    precision = 1 - 2 * (g.g21 * zp + g.g22 * zp ** 2)
    assert precision.min() > 0.18


def test_uncoupled_kl_equals_the_gaussian_product_of_experts_kl():
    mean, log_variance = torch.tensor([[0.7, -1.5]], dtype=torch.float64), torch.tensor([[-1.0, 0.5]],
                                                                                       dtype=torch.float64)
    increments = poise.expert_increments(mean, log_variance)
    nat = poise.naturals(increments, None, mean)
    g = _uncoupled(2)
    kl = poise.kl_exact(nat, g)
    product_mean, product_log_variance = product_of_experts([(mean, log_variance)], [torch.ones(1)])
    expected = gaussian_kl(product_mean, product_log_variance)  # the z' half is the prior itself: KL 0
    torch.testing.assert_close(kl, expected, atol=1e-6, rtol=1e-5)


def test_quadrature_log_normaliser_matches_brute_force_2d_integration():
    raw = torch.tensor([[0.8, 0.5, -0.7, 0.3]], dtype=torch.float64)
    g = poise.coupling_from_raw(raw)
    nat = _naturals([0.9, -0.6, -0.4, -0.2])
    grid = torch.linspace(-12, 12, 1601, dtype=torch.float64)
    z, zp = torch.meshgrid(grid, grid, indexing="ij")
    flat = poise.Naturals(*(p.reshape(1).expand(z.numel()).reshape(z.shape) for p in nat))
    log_density = poise.log_density_unnormalised(flat, poise.Coupling(*(c.reshape(1, 1) for c in g)), z, zp)
    step = float(grid[1] - grid[0])
    brute = torch.logsumexp(log_density.flatten(), 0) + 2 * math.log(step)
    assert abs(float(poise.quadrature(nat, g).log_normalizer) - float(brute)) < 2e-4


def test_gibbs_samples_match_the_quadrature_moments():
    raw = torch.tensor([[0.5, 0.5, -0.7, 0.4]], dtype=torch.float64)
    g = poise.coupling_from_raw(raw)
    torch.manual_seed(0)
    z, zp = poise.gibbs(_naturals([0.5, -0.3, -0.2, 0.0], n=40000), g, 30)
    moments = poise.quadrature(_naturals([0.5, -0.3, -0.2, 0.0]), g)
    for sample, expected in ((z, moments.mean_z), (z ** 2, moments.second_z), (zp, moments.mean_zp),
                             (zp ** 2, moments.second_zp)):
        assert abs(float(sample.mean()) - float(expected)) < 0.03


def test_kl_surrogate_gradient_matches_the_exact_kl_gradient():
    """The documented estimator: pathwise Gibbs gradient + prior/posterior coupling statistics."""
    raw = torch.tensor([[0.8, 0.5, -0.7, 0.3]], dtype=torch.float64, requires_grad=True)
    increments = torch.tensor([0.9, -0.6, -0.4, -0.2], dtype=torch.float64, requires_grad=True)
    exact = poise.kl_exact(_naturals(increments), poise.coupling_from_raw(raw)).sum()
    assert exact > 0
    exact_gradients = torch.autograd.grad(exact, [raw, increments])
    torch.manual_seed(1)
    g = poise.coupling_from_raw(raw)
    nat = _naturals(increments, n=100000)
    z, zp = poise.gibbs(nat, g, 25)
    statistics = poise.prior_coupling_statistics(g, n_chains=100000, n_steps=25)
    surrogate = poise.kl_surrogate(nat, g, z, zp, statistics).mean()
    estimated = torch.autograd.grad(surrogate, [raw, increments])
    for got, expected in zip(estimated, exact_gradients, strict=True):
        torch.testing.assert_close(got, expected, atol=0.02, rtol=0.05)


def test_kl_is_zero_when_the_posterior_is_the_prior():
    g = poise.coupling_from_raw(torch.tensor([[1.0, 0.3, -0.2, 0.5]], dtype=torch.float64))
    assert abs(float(poise.kl_exact(_naturals([0.0, 0.0, 0.0, 0.0]), g))) < 1e-8


def test_coupling_rejects_a_non_negative_initial_g22():
    with pytest.raises(ValueError, match="init_g22"):
        poise.PoiseCoupling(3, init_g22=0.0)


def test_coupling_starts_at_the_requested_coefficients():
    g = poise.PoiseCoupling(3, init_g22=-0.1, init_g11=0.7)()
    assert torch.allclose(g.g11, torch.full((3,), 0.7)) and torch.allclose(g.g22, torch.full((3,), -0.1))
    assert torch.all(g.g12 == 0) and torch.all(g.g21 == 0)
    with pytest.raises(ValueError, match="init_g11"):
        poise.PoiseCoupling(3, init_g22=-0.1, init_g11=1.5)


def test_effective_sample_size_per_step_of_independent_and_ar1_chains():
    generator = torch.Generator().manual_seed(0)
    independent = torch.randn(4000, 8, generator=generator, dtype=torch.float64)
    assert (poise.effective_sample_size_per_step(independent) - 1).abs().max() < 0.15
    chain = torch.zeros(8000, 8, dtype=torch.float64)
    noise = torch.randn(8000, 8, generator=generator, dtype=torch.float64)
    for step in range(1, 8000):
        chain[step] = 0.9 * chain[step - 1] + noise[step]
    expected = (1 - 0.9) / (1 + 0.9)  # AR(1): ESS / n = (1 - rho) / (1 + rho)
    assert (poise.effective_sample_size_per_step(chain).mean() - expected).abs() < 0.015
    with pytest.raises(ValueError, match="n_steps"):
        poise.effective_sample_size_per_step(chain[:1])


def test_gibbs_trace_mixes_slower_when_the_coupling_is_strong():
    like = torch.zeros(256, 1, dtype=torch.float64)
    weak = poise.coupling_from_raw(torch.tensor([[0.0, 0.0, 0.0, -3.0]], dtype=torch.float64))
    strong = poise.Coupling(*(c.detach().double() for c in poise.PoiseCoupling(1, init_g22=-0.05, init_g11=1.15)()))
    generator = torch.Generator().manual_seed(0)
    ess = {}
    for name, g in (("weak", weak), ("strong", strong)):
        trace_z, trace_zp = poise.gibbs_trace(poise.prior_naturals(like), g, 400, generator=generator)
        assert trace_z.shape == (400, 256, 1) and trace_zp.shape == (400, 256, 1)
        ess[name] = float(poise.effective_sample_size_per_step(trace_z).mean())
    assert ess["weak"] > 0.8 and ess["strong"] < 0.2


def test_kl_gradient_check_agrees_with_the_exact_gradient():
    raw = torch.tensor([[0.8, 0.5, -0.7, 0.3]], dtype=torch.float64)
    nat = _naturals([0.9, -0.6, -0.4, -0.2], n=4000)
    check = poise.kl_gradient_check(nat, poise.coupling_from_raw(raw), gibbs_steps=25, n_draws=4,
                                    generator=torch.Generator().manual_seed(0))
    assert check["G cosine (mean of draws)"] > 0.99  # G's gradient sums over the 4000 elements: little noise
    assert check["G relative error (mean of draws)"] < 0.1
    assert check["summed naturals cosine (mean of draws)"] > 0.99
    assert check["summed naturals relative error (mean of draws)"] < 0.1
    # per element the draws are noisy, and averaging them helps (the estimator is unbiased, not exact)
    assert check["naturals cosine (mean of draws)"] > check["naturals cosine (one draw)"]
