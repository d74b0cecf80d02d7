"""Differentiable distances between two sets of samples, used as alignment objectives.

Every function takes x: (..., n, features) and y: (..., m, features) torch tensors with broadcastable leading
(batch) dimensions (trajectories are flattened by the caller) and returns the distance per batch entry, shape
(...) (a scalar for plain (n, features) sets), that gradients flow through. The batch form lets many candidate
alignments be scored against one source set in a single call.

- gaussian_kl: KL( N(mean_x, cov_x) || N(mean_y, cov_y) ) between Gaussians fitted to the two sets
  (NoMAD-style moment matching).
- rbf_mmd2: unbiased MMD^2 with an RBF kernel, bandwidths a list of multiples of the median distance of y.
- sinkhorn_cost: transport cost <P, C> under the entropic optimal plan P (POT's batched log-domain Sinkhorn)
  between uniform weights, with a squared-Euclidean cost C; P is computed without gradients and the gradient
  flows through C (the envelope theorem: the plan's own dependence on C does not enter at the optimum).
- transport_cost: the exact (unregularised) optimal transport cost with the same squared-Euclidean cost (POT's
  network-simplex ``ot.emd2``), without gradients: a score, not a training loss. The entropic plan blurs fine
  structure; the exact cost separates a right alignment from a mirrored one by a wider margin (README).
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

import numpy as np
import torch


def _pot() -> ModuleType:
    """POT, imported with its JAX and TensorFlow backends off unless the caller already imported it or chose.

    At import POT sets up a backend for every array library it finds; JAX's takes 75 % of a GPU's memory at
    once (seen on a CUDA machine: one test process held 105 GiB and every other one ran out of memory).
    neuralign only hands POT NumPy arrays and torch tensors."""
    if "ot" not in sys.modules:
        os.environ.setdefault("POT_BACKEND_DISABLE_JAX", "1")
        os.environ.setdefault("POT_BACKEND_DISABLE_TENSORFLOW", "1")
    import ot
    import ot.batch

    return ot


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate and broadcast the leading dimensions: returns x (..., n, f) and y (..., m, f)."""
    if x.ndim < 2 or y.ndim < 2 or x.shape[-1] != y.shape[-1]:
        raise ValueError(f"x, y: expected (..., n, features) and (..., m, features) with the same features, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}.")
    if x.shape[-2] < 2 or y.shape[-2] < 2:
        raise ValueError(f"x, y: expected at least 2 samples each, got {x.shape[-2]} and {y.shape[-2]}.")
    try:
        batch = torch.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    except RuntimeError as error:
        raise ValueError(f"x, y: leading (batch) dimensions {tuple(x.shape[:-2])} and {tuple(y.shape[:-2])} do not "
                         "broadcast.") from error
    return x.expand(*batch, *x.shape[-2:]), y.expand(*batch, *y.shape[-2:])


def _covariance(x: torch.Tensor) -> torch.Tensor:
    centred = x - x.mean(-2, keepdim=True)
    return centred.mT @ centred / (x.shape[-2] - 1)


def gaussian_kl(x: torch.Tensor, y: torch.Tensor, *, ridge: float = 1e-3) -> torch.Tensor:
    """KL divergence between Gaussians fitted to x and y (ridge added to both covariances)."""
    x, y = _check_pair(x, y)
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    return gaussian_kl_moments(x.mean(-2), _covariance(x) + ridge * eye, y.mean(-2), _covariance(y) + ridge * eye)


def gaussian_kl_moments(mean_x: torch.Tensor, cov_x: torch.Tensor, mean_y: torch.Tensor,
                        cov_y: torch.Tensor) -> torch.Tensor:
    """KL( N(mean_x, cov_x) || N(mean_y, cov_y) ): means (..., d), covariances (..., d, d), broadcastable."""
    precision_y = torch.linalg.inv(cov_y)
    difference = (mean_y - mean_x).unsqueeze(-1)
    trace = (precision_y * cov_x.mT).sum((-2, -1))
    mahalanobis = (difference.mT @ precision_y @ difference)[..., 0, 0]
    return 0.5 * (trace + mahalanobis - mean_x.shape[-1] + torch.logdet(cov_y) - torch.logdet(cov_x))


def rbf_mmd2(x: torch.Tensor, y: torch.Tensor, *, scales: tuple[float, ...] = (0.5, 1.0, 2.0)) -> torch.Tensor:
    """Unbiased MMD^2 between x and y with a sum of RBF kernels at ``scales`` x the median distance of y."""
    x, y = _check_pair(x, y)
    with torch.no_grad():
        bandwidth = torch.cdist(y, y).flatten(-2).median(-1).values.clamp(min=1e-6)[..., None, None]
    joint = torch.cat([x, y], dim=-2)
    squared = torch.cdist(joint, joint) ** 2
    kernel = sum(torch.exp(-squared / (2 * (scale * bandwidth) ** 2)) for scale in scales)
    n, m = x.shape[-2], y.shape[-2]
    k_xx, k_yy, k_xy = kernel[..., :n, :n], kernel[..., n:, n:], kernel[..., :n, n:]
    return ((k_xx.sum((-2, -1)) - k_xx.diagonal(dim1=-2, dim2=-1).sum(-1)) / (n * (n - 1))
            + (k_yy.sum((-2, -1)) - k_yy.diagonal(dim1=-2, dim2=-1).sum(-1)) / (m * (m - 1))
            - 2 * k_xy.mean((-2, -1)))


def sinkhorn_cost(x: torch.Tensor, y: torch.Tensor, *, reg: float = 0.1, iterations: int = 30) -> torch.Tensor:
    """Transport cost between the uniform empirical measures of x and y under the entropic optimal plan.

    ``reg`` is relative to the mean squared distance (each cost matrix is normalised by its mean for the plan)."""
    solve_batch = _pot().batch.solve_batch
    x, y = _check_pair(x, y)
    batch = x.shape[:-2]
    cost = torch.cdist(x, y) ** 2
    flat = cost.reshape(-1, *cost.shape[-2:])
    with torch.no_grad():
        scaled = flat / flat.mean((-2, -1), keepdim=True).clamp(min=1e-8)
        plan = solve_batch(scaled, reg, max_iter=iterations, tol=0.0, method="log_sinkhorn", grad="detach").plan
    return (plan * flat).sum((-2, -1)).reshape(batch)


def transport_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Exact optimal transport cost between the uniform empirical measures of x and y (squared-Euclidean cost),
    per batch entry; no gradients."""
    ot = _pot()
    x, y = _check_pair(x, y)
    batch = x.shape[:-2]
    with torch.no_grad():
        costs = (torch.cdist(x.double(), y.double()) ** 2).reshape(-1, x.shape[-2], y.shape[-2]).cpu().numpy()
    a, b = np.full(x.shape[-2], 1.0 / x.shape[-2]), np.full(y.shape[-2], 1.0 / y.shape[-2])
    values = [ot.emd2(a, b, cost, numItermax=1_000_000) for cost in costs]
    return torch.as_tensor(np.asarray(values, dtype=np.float64), device=x.device).reshape(batch)
