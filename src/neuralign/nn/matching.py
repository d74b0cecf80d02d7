"""Differentiable distances between two sets of samples, used as alignment objectives.

Every function takes x: (..., n, features) and y: (..., m, features) torch tensors with broadcastable leading
(batch) dimensions (trajectories are flattened by the caller) and returns the distance per batch entry, shape
(...) (a scalar for plain (n, features) sets), that gradients flow through. The batch form lets many candidate
alignments be scored against one source set in a single call.

- gaussian_kl: KL( N(mean_x, cov_x) || N(mean_y, cov_y) ) between Gaussians fitted to the two sets
  (NoMAD-style moment matching).
- rbf_mmd2: unbiased MMD^2 with an RBF kernel, bandwidths a list of multiples of the median distance of y.
- sinkhorn_divergence: the debiased Sinkhorn divergence S_eps(x, y) = OT_eps(x, y) - OT_eps(x, x) / 2 -
  OT_eps(y, y) / 2 (Feydy et al. 2019), OT_eps the entropic OT value (transport cost plus eps KL) between uniform
  weights with a squared-Euclidean cost, by POT's batched log-domain Sinkhorn. S_eps is 0 at x = y and positive
  otherwise; the entropic transport cost <P, C> alone is not (it is positive at x = y and can fall when x
  shrinks towards its mean, a pull towards smaller latents). Plans are computed without gradients and the
  gradient flows through C (the envelope theorem: the plan's own dependence on C does not enter at the optimum).
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

from neuralign._checks import positive_float, positive_int


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


def _entropic_transport(cost: torch.Tensor, eps: torch.Tensor, iterations: int) -> torch.Tensor:
    """Entropic OT value OT_eps = <P, C> + eps KL(P || a b^T) between uniform weights a, b, per batch entry.

    cost: (B, n, m) squared distances; eps: (B,) detached. P is POT's log-domain Sinkhorn plan for cost / eps,
    computed without gradients (stopped once the row marginals are within 1e-6 of uniform, relative, or after
    ``iterations``); the gradient flows through C only (envelope theorem: d OT_eps / d C = P at the optimum)."""
    solve_batch = _pot().batch.solve_batch
    n, m = cost.shape[-2:]
    with torch.no_grad():
        scaled = cost / eps[:, None, None]
        u, v = solve_batch(scaled, 1.0, max_iter=iterations, tol=1e-6 / n ** 0.5, method="log_sinkhorn",
                           grad="detach").potentials
        log_plan = u[:, :, None] + v[:, None, :] - scaled  # log P, exact in the log domain
        plan = log_plan.exp()
        kl = (plan * (log_plan + np.log(n * m))).sum((-2, -1))
    return (plan * cost).sum((-2, -1)) + eps * kl


def sinkhorn_divergence(x: torch.Tensor, y: torch.Tensor, *, reg: float = 0.1, iterations: int = 100,
                        y_term: bool = True) -> torch.Tensor:
    """Debiased Sinkhorn divergence between the uniform empirical measures of x and y (Feydy et al. 2019).

    S_eps(x, y) = OT_eps(x, y) - OT_eps(x, x) / 2 - OT_eps(y, y) / 2, where OT_eps(x, y) = min_P <P, C> +
    eps KL(P || a b^T) over plans P with uniform marginals a, b, and C the squared-Euclidean cost. S_eps >= 0,
    with S_eps = 0 only when the two sets are equal as distributions; unlike the transport cost <P, C> alone it
    does not reward shrinking one set towards its mean.

    Parameters
    ----------
    x : (..., n, features) tensor.
    y : (..., m, features) tensor; leading dimensions broadcast with x's.
    reg : entropic scale relative to the data: eps = reg * (mean squared distance within x + mean squared
        distance within y) / 2, per batch entry and detached (about reg * (tr Cov x + tr Cov y)); the same eps
        serves the three terms. Small reg approaches the exact transport cost and needs more iterations.
    iterations : most Sinkhorn iterations per term (each stops earlier once its plan's marginals are within
        1e-6 of uniform, relative). On the monkey pair's latent trajectories at reg = 0.1, 100 leave a relative
        marginal error of about 1e-5; small, low-dimensional sets converge more slowly (30 points in 3-D: 600).
    y_term : compute OT_eps(y, y) / 2. As a training loss for x against a fixed y it is constant in x's
        parameters (eps is detached), so ``y_term=False`` skips the largest of the three problems and returns
        S_eps + OT_eps(y, y) / 2, with the same gradient in x.

    Returns
    -------
    (...) tensor: S_eps per batch entry, differentiable in x and y. The gradient is the envelope-theorem one,
    exact for S at this eps once Sinkhorn has converged: each plan is held fixed, and so is eps (a finite
    difference of this function, where eps moves with x and y, differs away from x = y).
    """
    reg = positive_float("reg", reg)
    iterations = positive_int("iterations", iterations)
    x, y = _check_pair(x, y)
    batch = x.shape[:-2]
    pairs = [(x, y), (x, x), (y, y)]
    costs = [(torch.cdist(a, b) ** 2).reshape(-1, a.shape[-2], b.shape[-2]) for a, b in pairs]
    with torch.no_grad():
        eps = (reg * (costs[1].mean((-2, -1)) + costs[2].mean((-2, -1))) / 2).clamp(min=1e-12)
    cross, self_x = (_entropic_transport(cost, eps, iterations) for cost in costs[:2])
    divergence = cross - self_x / 2
    if y_term:
        divergence = divergence - _entropic_transport(costs[2], eps, iterations) / 2
    return divergence.reshape(batch)


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
