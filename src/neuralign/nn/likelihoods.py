"""Observation likelihoods. Each returns log p(x | parameters) summed over units and valid bins, per trial."""

from __future__ import annotations

import torch
from torch import nn


def _masked_sum(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """values: (trials, time, channels), mask: (trials, time) -> (trials,) sums over valid bins."""
    if mask is not None:
        values = values * mask.unsqueeze(-1).to(values.dtype)
    return values.sum(dim=(1, 2))


class PoissonLikelihood(nn.Module):
    """Poisson counts with log-rates ``log_rates`` (expected counts per bin = exp(log_rates))."""

    def log_prob(self, counts: torch.Tensor, log_rates: torch.Tensor,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
        """counts, log_rates: (trials, time, units) -> (trials,) log-likelihood (non-integer counts allowed)."""
        values = counts * log_rates - torch.exp(log_rates) - torch.lgamma(counts + 1.0)
        return _masked_sum(values, mask)

    @staticmethod
    def mean(log_rates: torch.Tensor) -> torch.Tensor:
        """Expected counts per bin."""
        return torch.exp(log_rates)


class GaussianLikelihood(nn.Module):
    """Gaussian observations with a learned log-variance per channel.

    Parameters
    ----------
    n_channels : observed dimensions.
    learn_variance : learn the variance (else fixed at 1).
    """

    def __init__(self, n_channels: int, learn_variance: bool = True) -> None:
        super().__init__()
        self.log_variance = nn.Parameter(torch.zeros(n_channels), requires_grad=learn_variance)

    def log_prob(self, x: torch.Tensor, mean: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x, mean: (trials, time, channels) -> (trials,) log-likelihood."""
        log_variance = self.log_variance.clamp(-10.0, 10.0)
        values = -0.5 * ((x - mean) ** 2 * torch.exp(-log_variance) + log_variance + 1.8378770664093453)
        return _masked_sum(values, mask)


class BernoulliLikelihood(nn.Module):
    """Bernoulli observations in [0, 1] (e.g. pixel intensities) with logits ``logits``.

    Values between 0 and 1 are allowed (the usual cross-entropy for grey-level images; not normalised for them).
    """

    def log_prob(self, x: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x, logits: (trials, time, channels) -> (trials,) log-likelihood, x * logits - log(1 + exp(logits))."""
        values = x * logits - torch.nn.functional.softplus(logits)
        return _masked_sum(values, mask)

    @staticmethod
    def mean(logits: torch.Tensor) -> torch.Tensor:
        """Success probability per channel."""
        return torch.sigmoid(logits)
