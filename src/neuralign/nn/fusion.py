"""Combining Gaussian experts into one posterior over a shared latent (multimodal VAEs).

Each modality m gives an expert N(mu_m, diag sigma_m^2), every tensor (trials, time, d); ``weights``
(trials,) are 1 for an observed modality and 0 for a missing one.

    product of experts with the prior expert:  precision = 1 + sum_m w_m / sigma_m^2,
                                               mean = (sum_m w_m mu_m / sigma_m^2) / precision
    mixture:                                   q(z) = sum_c pi_c N(z; mu_c, sigma_c^2)
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import torch

_LOG_2PI = math.log(2 * math.pi)

Expert = tuple[torch.Tensor, torch.Tensor]  # (mean, log-variance), each (trials, time, d)


def product_of_experts(experts: Sequence[Expert], weights: Sequence[torch.Tensor]) -> Expert:
    """Precision-weighted product of N(0, I) and the experts with weight 1 (0 drops an expert per trial)."""
    mean0, _ = experts[0]
    precision = torch.ones_like(mean0)
    weighted_mean = torch.zeros_like(mean0)
    for (mean, log_variance), weight in zip(experts, weights, strict=True):
        expert_precision = torch.exp(-log_variance) * weight.view(-1, *([1] * (mean.dim() - 1)))
        precision = precision + expert_precision
        weighted_mean = weighted_mean + expert_precision * mean
    return weighted_mean / precision, -torch.log(precision)


def gaussian_kl(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_variance)) || N(0, 1)) elementwise."""
    return 0.5 * (torch.exp(log_variance) + mean ** 2 - 1.0 - log_variance)


def normal_log_prob(z: torch.Tensor, mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, exp(log_variance)) elementwise."""
    return -0.5 * ((z - mean) ** 2 * torch.exp(-log_variance) + log_variance + _LOG_2PI)


def reparameterise(mean: torch.Tensor, log_variance: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    noise = (torch.randn_like(mean) if generator is None
             else torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device))
    return mean + torch.exp(0.5 * log_variance) * noise


def mixture_log_prob(z: torch.Tensor, components: Sequence[Expert], weights: torch.Tensor,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
    """log sum_c pi_c prod_{t, k} N(z; mu_c, sigma_c^2) per trial; z: (trials, time, d), weights: (trials, C)
    summing to 1 over the components, mask: optional (trials, time) valid bins. Returns (trials,)."""
    terms = []
    for (mean, log_variance) in components:
        values = normal_log_prob(z, mean, log_variance)
        if mask is not None:
            values = values * mask.unsqueeze(-1).to(values.dtype)
        terms.append(values.sum(dim=(1, 2)))
    log_weights = torch.log(weights.clamp_min(1e-30))
    return torch.logsumexp(torch.stack(terms, dim=1) + log_weights, dim=1)


def nonempty_subsets(names: Sequence[str]) -> list[tuple[str, ...]]:
    """All non-empty subsets of ``names``, smallest first."""
    return [subset for size in range(1, len(names) + 1) for subset in itertools.combinations(names, size)]
