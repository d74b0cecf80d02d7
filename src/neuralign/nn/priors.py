"""Priors over latent trajectories z: (trials, time, latent_dim), each with its KL to a diagonal Gaussian
posterior q(z) = prod_t N(mean_t, exp(log_variance_t)) and a sampler.

- StandardNormalPrior: z_t ~ N(0, I) independently.
- AR1Prior: z_1 ~ N(0, 1), z_t | z_{t-1} ~ N(a z_{t-1}, 1 - a^2) per latent, a = tanh(learned) in (-1, 1): a
  stationary, smooth prior with unit marginal variance. Under the mean-field posterior its KL is closed-form:
  E_q[(z_t - a z_{t-1})^2] = (m_t - a m_{t-1})^2 + v_t + a^2 v_{t-1}.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _negative_entropy(log_variance: torch.Tensor) -> torch.Tensor:
    """E_q[log q] per bin and latent: (trials, time, d)."""
    return -0.5 * (log_variance + 1.0 + math.log(2 * math.pi))


def _sum_valid(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is not None:
        values = values * mask.unsqueeze(-1).to(values.dtype)
    return values.sum(dim=(1, 2))


class StandardNormalPrior(nn.Module):
    """Independent N(0, I) latents in every time bin."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def kl(self, mean: torch.Tensor, log_variance: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(trials,) KL(q || p) summed over valid bins and latents."""
        values = 0.5 * (mean ** 2 + torch.exp(log_variance) - 1.0 - log_variance)
        return _sum_valid(values, mask)

    def sample(self, n_trials: int, n_time: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(iter(self.buffers()), torch.empty(0)).device
        return torch.randn(n_trials, n_time, self.latent_dim, generator=generator, device=device)


class AR1Prior(nn.Module):
    """Stationary AR(1) prior per latent with a learned coefficient in (-1, 1) and unit marginal variance."""

    def __init__(self, latent_dim: int, initial_coefficient: float = 0.9) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.raw_coefficient = nn.Parameter(torch.full((latent_dim,), math.atanh(initial_coefficient)))

    @property
    def coefficient(self) -> torch.Tensor:
        return torch.tanh(self.raw_coefficient).clamp(-0.999, 0.999)

    def kl(self, mean: torch.Tensor, log_variance: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(trials,) KL(q || p) summed over valid bins and latents (mask: valid bins are a prefix of time)."""
        a = self.coefficient
        variance = torch.exp(log_variance)
        innovation = 1.0 - a ** 2
        first = 0.5 * (mean[:, :1] ** 2 + variance[:, :1] + math.log(2 * math.pi))
        squared = (mean[:, 1:] - a * mean[:, :-1]) ** 2 + variance[:, 1:] + a ** 2 * variance[:, :-1]
        rest = 0.5 * (squared / innovation + torch.log(innovation) + math.log(2 * math.pi))
        cross_entropy = torch.cat([first, rest], dim=1)
        return _sum_valid(_negative_entropy(log_variance) + cross_entropy, mask)

    def sample(self, n_trials: int, n_time: int, generator: torch.Generator | None = None) -> torch.Tensor:
        a = self.coefficient.detach()
        noise = torch.randn(n_trials, n_time, self.latent_dim, generator=generator).to(a.device)
        z = [noise[:, 0]]
        for t in range(1, n_time):
            z.append(a * z[-1] + torch.sqrt(1.0 - a ** 2) * noise[:, t])
        return torch.stack(z, dim=1)


PRIORS = {"normal": StandardNormalPrior, "ar1": AR1Prior}
