"""Samplers that run the learned reverse process from N(0, I) at t = 1 down to t_min.

On a uniform grid 1 = t_0 > t_1 > ... > t_K = t_min, each step goes from t to s < t with
eps_hat = eps_theta(z_t, t) and the denoised estimate z0_hat = (z_t - sigma_t eps_hat) / mu_t:

- DDIM (Song, Meng & Ermon 2021, eta = 0, deterministic): z_s = mu_s z0_hat + sigma_s eps_hat.
- DDPM (ancestral, Ho et al. 2020): with a_ts = alpha_bar(t) / alpha_bar(s) and b_ts = 1 - a_ts,
  z_s = (z_t - b_ts / sigma_t eps_hat) / sqrt(a_ts) + sqrt(b_ts sigma_s^2 / sigma_t^2) xi,   xi ~ N(0, I).

Both end with the denoised estimate z0_hat at t_min.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from neuralign.diffusion import _random
from neuralign.diffusion.schedules import VPSchedule

SAMPLING_METHODS = ("ddim", "ddpm")


@torch.no_grad()
def sample_reverse(denoiser: nn.Module, schedule: VPSchedule, z_init: torch.Tensor, *, steps: int,
                   t_min: float, method: str = "ddim",
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Integrate the reverse process from ``z_init``: (n, l, d) at t = 1; returns (n, l, d) at t = 0.

    ``method`` is ``"ddim"`` or ``"ddpm"``; ``generator`` drives the DDPM noise. Callers check arguments.
    """
    z = z_init
    n = z.shape[0]
    grid = torch.linspace(1.0, t_min, steps + 1, dtype=z.dtype, device=z.device)
    for t, s in itertools.pairwise(grid):
        eps_hat = denoiser(z, t.expand(n))
        mu_t, sigma_t = schedule.mean_coef(t), schedule.std(t)
        mu_s, sigma_s = schedule.mean_coef(s), schedule.std(s)
        if method == "ddim":
            z0_hat = (z - sigma_t * eps_hat) / mu_t
            z = mu_s * z0_hat + sigma_s * eps_hat
        else:
            a_ts = torch.exp(schedule.log_alpha_bar(t) - schedule.log_alpha_bar(s))
            b_ts = 1 - a_ts
            mean = (z - b_ts / sigma_t * eps_hat) / torch.sqrt(a_ts)
            z = mean + torch.sqrt(b_ts) * sigma_s / sigma_t * _random.randn(tuple(z.shape), z, generator)
    t_last = grid[-1]
    eps_hat = denoiser(z, t_last.expand(n))
    return (z - schedule.std(t_last) * eps_hat) / schedule.mean_coef(t_last)
