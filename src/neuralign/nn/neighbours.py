"""SNE neighbour distributions on a batch of latents and the NEAT alignment penalty.

For a latent set Z = {z_i}, i = 1..B (one batch, the same samples in every region), and a global bandwidth sigma:

    p_{j|i}(Z) = exp(-||z_i - z_j||^2 / 2 sigma^2) / sum_{l != i} exp(-||z_i - z_l||^2 / 2 sigma^2),   j != i,

so each row P_i(Z) is a distribution over the B - 1 other samples (the diagonal is masked, as in SNE). The
penalty between two regions is sum_i KL(P_i(Z_l) || P_i(Z_k)); NEAT adds lambda times its sum over the aligned
pairs (k, l). Everything is computed on the whole batch at once: O(B^2 d) time and O(B^2) memory.

:func:`neighbour_kl` is a custom autograd function with the analytic gradient. With L = -D / 2 sigma^2 (D the
squared distances, one matrix product ||a||^2 + ||b||^2 - 2 a.b), P = softmax(L^P), Q = softmax(L^Q) row-wise and
KL_i = sum_j P_ij (log P_ij - log Q_ij):

    dKL / dL^P_ij = P_ij (log P_ij - log Q_ij - KL_i),     dKL / dL^Q_ij = Q_ij - P_ij,
    dKL / dz_i    = -(1 / sigma^2) sum_j (G_ij + G_ji) (z_i - z_j)   for G = dKL / dL of that set,

so the forward pass takes one exp per latent set and keeps three (B, B) float matrices (P, Q, log P - log Q)
for the backward pass, which needs no exp at all (about 3x faster than autograd through ``log_softmax``).

``perplexity``: instead of a fixed sigma, pick per latent set (and per batch) the global sigma whose mean row
entropy equals log(perplexity), by bisection on log sigma; the calibration is not differentiated through.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch.autograd.function import once_differentiable

from neuralign._checks import describe, positive_float


def _check_latents(name: str, z: torch.Tensor) -> torch.Tensor:
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"{name}: expected a torch tensor (batch, latent_dim), got {describe(z)}.")
    if z.ndim != 2 or z.shape[0] < 3:
        raise ValueError(f"{name}: expected shape (batch, latent_dim) with batch >= 3 (a neighbour distribution "
                         f"needs at least 2 other samples), got {tuple(z.shape)}.")
    return z


def squared_distances(z: torch.Tensor) -> torch.Tensor:
    """z: (batch, d) -> (batch, batch) squared Euclidean distances ||z_i - z_j||^2 (one matrix product)."""
    norms = (z * z).sum(dim=1)
    return torch.addmm(norms[:, None] + norms[None, :], z, z.T, alpha=-2.0)


_EXCLUDED = -1e30  # logit of p_{i|i}: exp underflows to exactly 0, and log p - log q stays finite (0) there


def _masked_logits(distances: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    logits = distances * (-0.5 / sigma ** 2)
    logits.diagonal().fill_(_EXCLUDED)  # in place: the product's backward does not need its output
    return logits


def calibrate_sigma(z: torch.Tensor, perplexity: float, *, iterations: int = 30, max_rows: int = 256) -> torch.Tensor:
    """The global bandwidth whose neighbour distributions have mean entropy log(perplexity).

    Parameters
    ----------
    z : (batch, d) latents (not differentiated through).
    perplexity : target perplexity, in (1, batch - 1).
    iterations : bisection steps on log sigma.
    max_rows : the mean entropy is estimated on the first ``max_rows`` rows (distances to the whole batch).

    Returns
    -------
    0-d tensor sigma on ``z``'s device.
    """
    z = _check_latents("z", z)
    perplexity = positive_float("perplexity", perplexity)
    if not 1.0 < perplexity < z.shape[0] - 1:
        raise ValueError(f"perplexity: expected a number in (1, batch - 1) = (1, {z.shape[0] - 1}), got {perplexity}.")
    with torch.no_grad():
        z = z.detach().float()
        rows = z[:max_rows]  # the global sigma only needs the mean entropy: a subset of rows estimates it
        distances = ((rows * rows).sum(1)[:, None] + (z * z).sum(1)[None, :] - 2.0 * rows @ z.T).clamp(min=0.0)
        distances[torch.arange(rows.shape[0]), torch.arange(rows.shape[0])] = 0.0
        scale = distances.mean().clamp(min=1e-12).sqrt()
        low, high = torch.log(scale) - 12.0, torch.log(scale) + 12.0
        target = math.log(perplexity)
        for _ in range(iterations):
            middle = 0.5 * (low + high)
            logits = distances * (-0.5 / torch.exp(middle) ** 2)
            logits[torch.arange(rows.shape[0]), torch.arange(rows.shape[0])] = _EXCLUDED
            log_normaliser = torch.logsumexp(logits, dim=1)
            # H_i = log Z_i - sum_j p_ij logit_ij, with p_ii = 0 exactly (its logit is excluded)
            entropy = (log_normaliser - (torch.exp(logits - log_normaliser[:, None]) * logits.clamp(min=-1e4))
                       .sum(dim=1)).mean()
            # entropy grows with sigma: too high -> shrink sigma
            too_wide = entropy > target
            high = torch.where(too_wide, middle, high)
            low = torch.where(too_wide, low, middle)
        return torch.exp(0.5 * (low + high)).to(z.dtype)


def neighbour_log_probabilities(z: torch.Tensor, sigma: float | torch.Tensor = 1.0) -> torch.Tensor:
    """log p_{j|i}(Z) for every pair in the batch; the diagonal holds about -1e30 (p_{i|i} = 0 exactly).

    Parameters
    ----------
    z : (batch, d) latents.
    sigma : global bandwidth (> 0).

    Returns
    -------
    (batch, batch) tensor; each row's exp sums to 1 over j != i.
    """
    z = _check_latents("z", z)
    if not isinstance(sigma, torch.Tensor):
        sigma = positive_float("sigma", sigma)
    return torch.log_softmax(_masked_logits(squared_distances(z), sigma), dim=1)


def neighbour_probabilities(z: torch.Tensor, sigma: float | torch.Tensor = 1.0) -> torch.Tensor:
    """p_{j|i}(Z): (batch, d) -> (batch, batch), rows summing to 1, zero diagonal."""
    return torch.exp(neighbour_log_probabilities(z, sigma))


def _bandwidth(z: torch.Tensor, sigma: float, perplexity: float | None) -> float | torch.Tensor:
    return calibrate_sigma(z, perplexity) if perplexity is not None else sigma


def _log_and_probabilities(z: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(log P, P) for logits -scale * D, computed with one exp and two (B, B) buffers."""
    norms = (z * z).sum(dim=1)
    logits = torch.addmm(norms[:, None] + norms[None, :], z, z.T, beta=-scale, alpha=2.0 * scale)
    logits.diagonal().fill_(_EXCLUDED)
    logits.sub_(logits.amax(dim=1, keepdim=True))
    probabilities = torch.exp(logits)
    total = probabilities.sum(dim=1, keepdim=True)
    probabilities.div_(total)
    return logits.sub_(total.log_()), probabilities


def _latent_gradient(z: torch.Tensor, logit_gradient: torch.Tensor, scale: float) -> torch.Tensor:
    """dKL/dz for logits -scale * ||z_i - z_j||^2 and G = dKL/dlogits (B, B):
    -2 scale sum_j (G_ij + G_ji)(z_i - z_j)."""
    rows = logit_gradient.sum(dim=1) + logit_gradient.sum(dim=0)
    mixed = torch.addmm(logit_gradient @ z, logit_gradient.T, z)
    return (rows[:, None] * z - mixed) * (-2.0 * scale)


class _NeighbourKL(torch.autograd.Function):
    """sum_i KL(P_i(a) || P_i(b)) with the analytic backward pass (see the module docstring)."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, sigma_a: float, sigma_b: float) -> torch.Tensor:
        scale_a, scale_b = 0.5 / sigma_a ** 2, 0.5 / sigma_b ** 2
        log_p, p = _log_and_probabilities(a, scale_a)
        log_q, q = _log_and_probabilities(b, scale_b)
        difference = log_p.sub_(log_q)  # the diagonal: (-1e30 - c) - (-1e30 - c') rounds to exactly 0
        del log_q
        row_kl = torch.linalg.vecdot(p, difference, dim=1)
        ctx.save_for_backward(a, b, p, q, difference, row_kl)
        ctx.scales = (scale_a, scale_b)
        return row_kl.sum()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        a, b, p, q, difference, row_kl = ctx.saved_tensors
        scale_a, scale_b = ctx.scales
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = _latent_gradient(a, torch.sub(difference, row_kl[:, None]).mul_(p), scale_a) * grad
        if ctx.needs_input_grad[1]:
            grad_b = _latent_gradient(b, torch.sub(q, p), scale_b) * grad
        return grad_a, grad_b, None, None


def neighbour_kl(z_reference: torch.Tensor, z_model: torch.Tensor, *, sigma: float = 1.0,
                 perplexity: float | None = None) -> torch.Tensor:
    """sum_i KL(P_i(z_reference) || P_i(z_model)), differentiable in both latent sets.

    Parameters
    ----------
    z_reference : (batch, d_l) latents of region l (the distribution the KL is taken under).
    z_model : (batch, d_k) latents of region k for the same samples, in the same order.
    sigma : global bandwidth of both sets (ignored when ``perplexity`` is given).
    perplexity : calibrate each set's sigma to this perplexity instead (per batch, not differentiated).

    Returns
    -------
    0-d tensor, summed over the batch's samples (nats).
    """
    z_reference = _check_latents("z_reference", z_reference)
    z_model = _check_latents("z_model", z_model)
    if z_model.shape[0] != z_reference.shape[0]:
        raise ValueError(f"z_model: expected the same batch of samples as z_reference ({z_reference.shape[0]}), "
                         f"got {z_model.shape[0]}.")
    positive_float("sigma", sigma)
    if z_model.dtype != z_reference.dtype or z_model.device != z_reference.device:
        raise TypeError(f"z_model: expected the dtype and device of z_reference ({z_reference.dtype}, "
                        f"{z_reference.device}), got {z_model.dtype}, {z_model.device}.")
    sigma_reference = float(_bandwidth(z_reference, sigma, perplexity))
    sigma_model = float(_bandwidth(z_model, sigma, perplexity))
    return _NeighbourKL.apply(z_reference, z_model, sigma_reference, sigma_model)


def sequential_pairs(n_regions: int) -> list[tuple[int, int]]:
    """The default alignment graph: (0, 1), (1, 2), ..., (K - 2, K - 1)."""
    return [(index, index + 1) for index in range(n_regions - 1)]


def alignment_penalty(latents: Sequence[torch.Tensor], pairs: Sequence[tuple[int, int]] | None = None, *,
                      sigma: float = 1.0, perplexity: float | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """sum over pairs (k, l) of sum_i KL(P_i(Z_l) || P_i(Z_k)) on one batch.

    Parameters
    ----------
    latents : K tensors (batch, d_k), the same samples in the same order in every region.
    pairs : (k, l) region indices to align; None for the sequential chain (0, 1), (1, 2), ...
    sigma, perplexity : as in :func:`neighbour_kl`.

    Returns
    -------
    (total, per_pair): the summed penalty (0-d) and one 0-d tensor per pair.
    """
    if not isinstance(latents, (list, tuple)) or len(latents) < 2:
        raise ValueError(f"latents: expected a list of at least 2 latent tensors, got {describe(latents)}.")
    pairs = sequential_pairs(len(latents)) if pairs is None else list(pairs)
    if not pairs:
        raise ValueError("pairs: expected at least one (k, l) pair of regions to align, got none.")
    per_pair = []
    for k, other in pairs:
        if not (0 <= k < len(latents) and 0 <= other < len(latents)) or k == other:
            raise ValueError(f"pairs: ({k}, {other}) is not a pair of two different regions in [0, {len(latents)}).")
        per_pair.append(neighbour_kl(latents[other], latents[k], sigma=sigma, perplexity=perplexity))
    return torch.stack(per_pair).sum(), per_pair
