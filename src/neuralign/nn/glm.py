"""A Poisson GLM read-out fitted by Newton's method, batched over leading dimensions (e.g. candidate alignments).

For features x (k per sample, z-scored with the fitting samples' statistics) and counts y (u units per sample):

    log rate_u = w_u . x + b_u,     minimise  sum_samples [rate - y log rate] + penalty / 2 |w_u|^2   per unit,

each unit's (k + 1) x (k + 1) Newton system solved in one batched call. A few iterations from the log mean rate
converge for the low-dimensional features it is meant for (latents, factors: k up to a few tens). Unlike
``metrics.PoissonReadout`` (scikit-learn, one fit per neuron, with its penalty chosen by cross-validation) it runs
in torch on the features' device, for many feature sets at once.
"""

from __future__ import annotations

import torch

from neuralign._checks import positive_float, positive_int

MAX_LOG_RATE = 12.0  # the linear predictor is clamped here: exp(12) counts per bin is far above any recording


def fit_poisson_glm(features: torch.Tensor, counts: torch.Tensor, *, penalty: float = 1.0,
                    iterations: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit one Poisson GLM per unit (and per leading index).

    Parameters
    ----------
    features : (..., samples, k).
    counts : (samples, units) shared by every leading index, or (..., samples, units).
    penalty : L2 weight on the (z-scored) feature weights; the bias is not penalised.
    iterations : Newton steps.

    Returns
    -------
    weight (..., k, units) and bias (..., units), for the raw (not z-scored) features.
    """
    penalty = positive_float("penalty", penalty, allow_zero=True)
    iterations = positive_int("iterations", iterations)
    if features.ndim < 2 or counts.ndim < 2 or features.shape[-2] != counts.shape[-2]:
        raise ValueError(f"features, counts: expected (..., samples, k) and (..., samples, units) with the same "
                         f"samples, got {tuple(features.shape)} and {tuple(counts.shape)}.")
    x = features.double()
    y = counts.double().expand(*x.shape[:-2], *counts.shape[-2:])
    mean, std = x.mean(-2, keepdim=True), x.std(-2, keepdim=True).clamp(min=1e-6)
    design = torch.cat([(x - mean) / std, torch.ones_like(x[..., :1])], dim=-1)  # (..., n, d)
    d = design.shape[-1]
    regulariser = torch.diag(torch.cat([torch.full((d - 1,), penalty), torch.tensor([1e-8])])).to(design)
    weight = torch.zeros(*design.shape[:-2], d, y.shape[-1], dtype=design.dtype, device=design.device)
    weight[..., -1, :] = torch.log(y.mean(-2).clamp(min=1e-3))
    outer = (design.unsqueeze(-1) * design.unsqueeze(-2)).flatten(-2)  # (..., n, d * d)
    for _ in range(iterations):
        rate = torch.exp((design @ weight).clamp(max=MAX_LOG_RATE))
        gradient = design.mT @ (rate - y) + regulariser @ weight  # (..., d, u)
        hessian = (outer.mT @ rate).mT.unflatten(-1, (d, d)) + regulariser  # (..., u, d, d)
        step = torch.linalg.solve(hessian, gradient.mT.unsqueeze(-1)).squeeze(-1).mT
        weight = weight - step.clamp(-1.0, 1.0)
    scaled = weight[..., :-1, :] / std.mT
    bias = weight[..., -1, :] - (mean @ scaled).squeeze(-2)
    return scaled.to(features.dtype), bias.to(features.dtype)


def poisson_glm_nll(features: torch.Tensor, counts: torch.Tensor, weight: torch.Tensor,
                    bias: torch.Tensor) -> torch.Tensor:
    """Poisson negative log-likelihood per sample, summed over units: features (..., samples, k), counts
    (samples, units) or (..., samples, units) -> (..., samples)."""
    log_rate = (features @ weight + bias.unsqueeze(-2)).clamp(max=MAX_LOG_RATE)
    return (torch.exp(log_rate) - counts * log_rate + torch.lgamma(counts + 1.0)).sum(-1)
