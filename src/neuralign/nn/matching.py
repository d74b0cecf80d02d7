"""Differentiable distances between two sets of samples, used as alignment objectives.

Every function takes x: (n, features) and y: (m, features) torch tensors (trajectories are flattened by the
caller) and returns a scalar that gradients flow through.

- gaussian_kl: KL( N(mean_x, cov_x) || N(mean_y, cov_y) ) between Gaussians fitted to the two sets
  (NoMAD-style moment matching).
- rbf_mmd2: unbiased MMD^2 with an RBF kernel, bandwidths a list of multiples of the median distance of y.
- sinkhorn_cost: transport cost <P, C> under the entropic optimal plan P (POT's log-domain Sinkhorn) between
  uniform weights, with a squared-Euclidean cost C; P is computed without gradients and the gradient flows
  through C (the envelope theorem: the plan's own dependence on C does not enter at the optimum).
"""

from __future__ import annotations

import torch


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x, y: expected (n, features) and (m, features) with the same features, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}.")
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(f"x, y: expected at least 2 samples each, got {x.shape[0]} and {y.shape[0]}.")


def gaussian_kl(x: torch.Tensor, y: torch.Tensor, *, ridge: float = 1e-3) -> torch.Tensor:
    """KL divergence between Gaussians fitted to x and y (ridge added to both covariances)."""
    _check_pair(x, y)
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    mean_x, mean_y = x.mean(0), y.mean(0)
    cov_x = torch.cov(x.T).reshape(x.shape[1], x.shape[1]) + ridge * eye
    cov_y = torch.cov(y.T).reshape(y.shape[1], y.shape[1]) + ridge * eye
    precision_y = torch.linalg.inv(cov_y)
    difference = mean_y - mean_x
    return 0.5 * (torch.trace(precision_y @ cov_x) + difference @ precision_y @ difference - x.shape[1]
                  + torch.logdet(cov_y) - torch.logdet(cov_x))


def rbf_mmd2(x: torch.Tensor, y: torch.Tensor, *, scales: tuple[float, ...] = (0.5, 1.0, 2.0)) -> torch.Tensor:
    """Unbiased MMD^2 between x and y with a sum of RBF kernels at ``scales`` x the median distance of y."""
    _check_pair(x, y)
    with torch.no_grad():
        bandwidth = torch.cdist(y, y).median().clamp(min=1e-6)
    joint = torch.cat([x, y])
    squared = torch.cdist(joint, joint) ** 2
    kernel = sum(torch.exp(-squared / (2 * (scale * bandwidth) ** 2)) for scale in scales)
    n, m = x.shape[0], y.shape[0]
    k_xx, k_yy, k_xy = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
    return ((k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
            + (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1)) - 2 * k_xy.mean())


def sinkhorn_cost(x: torch.Tensor, y: torch.Tensor, *, reg: float = 0.1, iterations: int = 30) -> torch.Tensor:
    """Transport cost between the uniform empirical measures of x and y under the entropic optimal plan.

    ``reg`` is relative to the mean squared distance (the cost is normalised by it for the plan)."""
    import ot

    _check_pair(x, y)
    cost = torch.cdist(x, y) ** 2
    with torch.no_grad():
        scaled = cost / cost.mean().clamp(min=1e-8)
        a = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=x.dtype, device=x.device)
        b = torch.full((y.shape[0],), 1.0 / y.shape[0], dtype=y.dtype, device=y.device)
        plan = ot.sinkhorn(a, b, scaled, reg, numItermax=iterations, method="sinkhorn_log", warn=False)
    return (plan * cost).sum()
