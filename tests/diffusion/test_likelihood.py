import math

import pytest
import torch
from torch import nn

from neuralign.diffusion import (
    SpatioTemporalDenoiser,
    TrajectoryDiffusion,
    VPSchedule,
    hutchinson_divergence,
    score_matching_bound,
)

L, D = 6, 2


class GaussianOptimalDenoiser(nn.Module):
    """The exact noise predictor for data N(0, c^2 I): eps*(z_t, t) = sigma_t z_t / (mu_t^2 c^2 + sigma_t^2)."""

    def __init__(self, schedule: VPSchedule, c: float) -> None:
        super().__init__()
        self.schedule, self.c, self.n_time, self.latent_dim = schedule, c, L, D

    def forward(self, z_t, t):
        mu, sigma = self.schedule.mean_coef(t)[:, None, None], self.schedule.std(t)[:, None, None]
        return sigma * z_t / (mu ** 2 * self.c ** 2 + sigma ** 2)


def gaussian_nll(z0, std):
    return (0.5 * (z0 / std) ** 2).sum((1, 2)) + L * D * (0.5 * math.log(2 * math.pi) + math.log(std))


def mc_bound(model, z0, *, drift="sde", n_t=4000, repeats=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    draws = torch.stack([score_matching_bound(model, z0, n_t=n_t, drift=drift, generator=generator)
                         for _ in range(repeats)])
    return draws.mean(0), draws.std(0) / math.sqrt(repeats)


# ------------------------------------------------------------------------------------- Hutchinson estimator
def test_hutchinson_is_unbiased_for_a_linear_map_with_the_rademacher_variance():
    torch.manual_seed(0)
    n_dims = L * D
    matrix = torch.randn(n_dims, n_dims, dtype=torch.float64)
    z = torch.randn(20000, L, D, dtype=torch.float64)
    estimates = hutchinson_divergence(lambda x: (x.flatten(1) @ matrix.T).view_as(x), z,
                                      generator=torch.Generator().manual_seed(1))
    assert estimates.shape == (20000,)
    symmetric = matrix + matrix.T
    variance = (torch.triu(symmetric, diagonal=1) ** 2).sum()
    assert estimates.mean().item() == pytest.approx(torch.trace(matrix).item(),
                                                    abs=4 * math.sqrt(variance / 20000))
    assert estimates.var().item() == pytest.approx(variance.item(), rel=0.1)
    averaged = hutchinson_divergence(lambda x: (x.flatten(1) @ matrix.T).view_as(x), z, n_probes=4,
                                     generator=torch.Generator().manual_seed(2))
    assert averaged.var().item() == pytest.approx(variance.item() / 4, rel=0.1)


def test_hutchinson_matches_the_exact_divergence_of_nonlinear_maps():
    torch.manual_seed(0)
    z = torch.randn(3, L, D, dtype=torch.float64)
    exact = torch.stack([torch.trace(torch.autograd.functional.jacobian(torch.tanh, row).reshape(L * D, L * D))
                         for row in z])
    torch.testing.assert_close(hutchinson_divergence(torch.tanh, z), exact)  # diagonal Jacobian: exact

    weights = torch.randn(D, D, dtype=torch.float64)

    def mixing(x):
        return torch.tanh(x @ weights)

    point = z[:1]
    jacobian = torch.autograd.functional.jacobian(mixing, point).reshape(L * D, L * D)
    estimates = hutchinson_divergence(mixing, point.expand(20000, L, D), generator=torch.Generator().manual_seed(0))
    assert estimates.mean().item() == pytest.approx(torch.trace(jacobian).item(), abs=4 * estimates.std().item() / 141)


def test_hutchinson_is_differentiable():
    scale = torch.tensor(0.7, requires_grad=True)
    z = torch.randn(4, L, D, requires_grad=True)
    divergence = hutchinson_divergence(lambda x: scale * torch.tanh(x), z)
    divergence.sum().backward()
    torch.testing.assert_close(scale.grad, (1 - torch.tanh(z.detach()) ** 2).sum())
    expected = scale.detach() * -2 * torch.tanh(z.detach()) * (1 - torch.tanh(z.detach()) ** 2)
    torch.testing.assert_close(z.grad, expected)


def test_hutchinson_of_the_sde_drift_is_exact():
    schedule = VPSchedule("linear")
    t = torch.rand(5)
    divergence = hutchinson_divergence(lambda x: schedule.drift(x, t), torch.randn(5, L, D))
    torch.testing.assert_close(divergence, -schedule.beta(t) * L * D / 2)


def test_hutchinson_bad_inputs():
    with pytest.raises(ValueError, match="n_probes: expected an integer >= 1"):
        hutchinson_divergence(torch.tanh, torch.randn(2, 3), n_probes=0)
    with pytest.raises(ValueError, match=r"fn: expected an output of z's shape \(2, 3\)"):
        hutchinson_divergence(lambda x: x.sum(1), torch.randn(2, 3))
    with pytest.raises(TypeError, match="fn: expected a callable"):
        hutchinson_divergence(3, torch.randn(2, 3))


# ------------------------------------------------------------------------------------ score-matching bound
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_bound_is_tight_for_the_exact_score_of_gaussian_data(kind):
    schedule = VPSchedule(kind)
    model = TrajectoryDiffusion(GaussianOptimalDenoiser(schedule, c=1.0), schedule)
    model.data_scale.fill_(2.0)  # data N(0, 4 I): x0 = z0 / 2 ~ N(0, I); the Jacobian term restores the units
    z0 = 2.0 * torch.randn(8, L, D, generator=torch.Generator().manual_seed(5))
    bound, _ = mc_bound(model, z0)  # 16000 (t, eps) draws per trajectory: standard error ~0.4 nats
    exact = gaussian_nll(z0, 2.0)  # ~26 nats per trajectory
    # over 30 seeds the largest |bound - exact| was 0.71 nats (linear) and 0.53 (cosine), the largest |mean| 0.25
    assert torch.all((bound - exact).abs() < 1.5)
    assert abs((bound - exact).mean().item()) < 0.5


def test_bound_tracks_the_model_density_and_upper_bounds_the_data_density():
    schedule = VPSchedule("linear")
    model = TrajectoryDiffusion(GaussianOptimalDenoiser(schedule, c=0.7), schedule)  # model N(0, 0.49 I)
    z0 = torch.randn(128, L, D, generator=torch.Generator().manual_seed(6))  # data N(0, I)
    bound, _ = mc_bound(model, z0, n_t=500, repeats=2)
    model_nll, data_nll = gaussian_nll(z0, 0.7), gaussian_nll(z0, 1.0)
    assert abs((bound - model_nll).mean().item()) < 0.5
    # cross-entropy exceeds entropy: E[bound] - E[-log p_data] ~ L D KL(N(0,1) || N(0,0.49)) = 1.97 nats
    assert (bound - data_nll).mean().item() > 0.8


def test_probability_flow_drift_is_not_a_bound():
    """Documents the offset of the probability-flow variant: -(l d / 2) int_{t_min}^1 beta dt for N(0, I) data."""
    schedule = VPSchedule("linear")
    model = TrajectoryDiffusion(GaussianOptimalDenoiser(schedule, c=1.0), schedule)
    z0 = torch.randn(8, L, D, generator=torch.Generator().manual_seed(7))
    sde, _ = mc_bound(model, z0, drift="sde", n_t=2000, repeats=2)
    flow, _ = mc_bound(model, z0, drift="probability_flow", n_t=2000, repeats=2)
    offset = -L * D / 2 * (schedule.log_alpha_bar(model.t_min) - schedule.log_alpha_bar(1.0)).item()
    assert (flow - sde).mean().item() == pytest.approx(offset, abs=1.5)  # about -60 nats


@pytest.mark.parametrize("drift", ["probability_flow", "sde"])
def test_bound_gradient_reaches_z0_and_not_a_frozen_denoiser(drift):
    torch.manual_seed(0)
    model = TrajectoryDiffusion(SpatioTemporalDenoiser(L, D, width=16, n_blocks=1)).eval().requires_grad_(False)
    model.data_scale.fill_(3.0)
    z0 = torch.randn(4, L, D, requires_grad=True)
    bound = score_matching_bound(model, z0, n_t=2, n_probes=2, drift=drift,
                                 generator=torch.Generator().manual_seed(0))
    assert bound.shape == (4,) and torch.isfinite(bound).all()
    bound.sum().backward()
    assert z0.grad is not None and torch.isfinite(z0.grad).all() and z0.grad.abs().sum() > 0


def test_bound_is_reproducible_and_detached_under_no_grad():
    torch.manual_seed(0)
    model = TrajectoryDiffusion(SpatioTemporalDenoiser(L, D, width=16, n_blocks=1)).eval()
    z0 = torch.randn(3, L, D)
    first = score_matching_bound(model, z0, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        second = score_matching_bound(model, z0, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(first, second)
    assert not second.requires_grad


def test_bound_bad_inputs():
    model = TrajectoryDiffusion(SpatioTemporalDenoiser(L, D, width=8, n_blocks=1))
    with pytest.raises(ValueError, match=r"z0: expected 3 dimensions"):
        score_matching_bound(model, torch.randn(L, D))
    with pytest.raises(ValueError, match=r"z0: expected \(batch, time, latent\) = \(batch, 6, 2\)"):
        score_matching_bound(model, torch.randn(2, L + 1, D))
    with pytest.raises(ValueError, match="n_probes: expected an integer >= 1"):
        score_matching_bound(model, torch.randn(2, L, D), n_probes=0)
    with pytest.raises(ValueError, match="n_t: expected an integer >= 1"):
        score_matching_bound(model, torch.randn(2, L, D), n_t=0)
    with pytest.raises(ValueError, match="drift: expected one of"):
        score_matching_bound(model, torch.randn(2, L, D), drift="ode")
    with pytest.raises(TypeError, match="diffusion: expected a TrajectoryDiffusion"):
        score_matching_bound(model.denoiser, torch.randn(2, L, D))
