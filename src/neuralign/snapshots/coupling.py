"""Couplings between neighbouring clouds and displacement (McCann) interpolation along them.

A coupling of x (n, d) and y (m, d) is a list of pairs (i, j) with weights w summing to 1. Two kinds:

- ``ot``: the exact optimal transport plan for the squared-Euclidean cost between the uniform empirical
  measures (POT's network simplex). It needs no particle identity, so it is the one valid for snapshot data.
  The plan has at most n + m - 1 pairs; for n = m it is a permutation.
- ``index``: pairs (i, i) with equal weights, for clouds of equal size whose particles are the same across
  times (trajectory data). On true snapshots it pairs unrelated particles: this is the interpolation that
  HOAM's Gauss / Simpson schemes use, valid only for trajectories (METHODS_2, section 3).

Displacement interpolation at fraction lam in [0, 1]: draw pairs from the coupling and place each at
(1 - lam) x_i + lam y_j. With the OT coupling this is McCann's interpolant, the W2 geodesic between the two
empirical measures.

Velocities from snapshots (``transport_velocity``): follow each particle of a cloud through the next clouds by the
barycentric projections of the exact plans (composed), and take the slope at the first time of a parabola fitted to those
positions by least squares (the displacement over the gap with two clouds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neuralign._checks import one_of
from neuralign.nn.matching import _pot

COUPLINGS = ("ot", "index")


@dataclass
class Coupling:
    """Pairs (source[i], target[i]) with weights (summing to 1)."""

    source: torch.Tensor  # (pairs,) int64
    target: torch.Tensor  # (pairs,) int64
    weights: torch.Tensor  # (pairs,) float64


def couple(x: torch.Tensor, y: torch.Tensor, kind: str = "ot") -> Coupling:
    """The coupling of x (n, d) and y (m, d): ``"ot"`` (exact OT plan) or ``"index"`` (same particle index)."""
    one_of("kind", kind, COUPLINGS)
    n, m = x.shape[0], y.shape[0]
    if kind == "index":
        if n != m:
            raise ValueError(f"interpolation: 'index' pairs particle i of one cloud with particle i of the next, "
                             f"so it needs clouds of equal size, got {n} and {m}; use 'ot' for snapshot data.")
        index = torch.arange(n)
        return Coupling(index, index.clone(), torch.full((n,), 1.0 / n, dtype=torch.float64))
    with torch.no_grad():
        cost = (torch.cdist(x.double(), y.double()) ** 2).cpu().numpy()
    plan = _pot().emd(np.full(n, 1.0 / n), np.full(m, 1.0 / m), cost, numItermax=10_000_000)
    source, target = np.nonzero(plan > 1e-12 / (n * m))
    weights = plan[source, target]
    return Coupling(torch.as_tensor(source), torch.as_tensor(target), torch.as_tensor(weights / weights.sum()))


def systematic_draw(weights: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n indices drawn by systematic resampling from ``weights`` (one uniform offset): each index appears
    floor or ceil of n * weight times, so a permutation plan with n pairs gives every pair exactly once."""
    offset = torch.rand((), generator=generator, dtype=torch.float64)
    positions = (torch.arange(n, dtype=torch.float64) + offset) / n
    edges = torch.cumsum(weights.double().cpu(), 0)
    edges[-1] = 1.0
    return torch.searchsorted(edges, positions, right=True).clamp(max=len(weights) - 1)


def random_draw(weights: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n independent draws (with replacement) from ``weights``: Monte Carlo minibatches."""
    return torch.multinomial(weights.double().cpu(), n, replacement=True, generator=generator)


def displace(x: torch.Tensor, y: torch.Tensor, coupling: Coupling, lam: float | torch.Tensor,
             pairs: torch.Tensor) -> torch.Tensor:
    """(1 - lam) x[source] + lam y[target] for the coupling's pairs at indices ``pairs``: (len(pairs), d).
    ``lam`` a number or a (len(pairs), 1) tensor."""
    pairs = pairs.to(coupling.source.device)
    source, target = coupling.source[pairs].to(x.device), coupling.target[pairs].to(y.device)
    return (1 - lam) * x[source] + lam * y[target]


def barycentric_chain(clouds: list[torch.Tensor]) -> list[torch.Tensor]:
    """Where the particles of clouds[0] (n, d) go in each following cloud: [clouds[0], R_01 clouds[1],
    R_01 R_12 clouds[2], ...], R_kl the exact OT plan between clouds k and l with rows normalised to 1."""
    chain, mixing = [clouds[0]], None
    for x, y in zip(clouds[:-1], clouds[1:]):
        coupling = couple(x, y, "ot")
        rows = torch.zeros(len(x), len(y), dtype=torch.float64)
        rows[coupling.source, coupling.target] = coupling.weights * len(x)
        mixing = rows if mixing is None else mixing @ rows
        chain.append((mixing.to(y.device, y.dtype)) @ y)
    return chain


def transport_velocity(clouds: list[torch.Tensor], times: list[float], *, neighbours: int = 1) -> torch.Tensor:
    """Velocities (n, d) of the particles of clouds[0] at times[0], from its ``barycentric_chain`` through the
    other clouds (at distinct ``times``, in chain order, before or after times[0]): the slope at times[0] of the
    least-squares polynomial of degree min(2, len(times) - 1) through the chain's positions (2 clouds: the
    displacement over the gap; 3: the interpolating parabola; more: a least-squares parabola, which divides the
    sampling noise of the plans between independent samples less), averaged over each particle's ``neighbours``
    nearest particles of clouds[0] (itself included)."""
    chain = barycentric_chain(clouds)
    tau = np.asarray(times, dtype=np.float64) - times[0]
    weights = np.linalg.pinv(np.vander(tau, min(2, len(tau) - 1) + 1, increasing=True))[1]
    velocity = sum(float(w) * position for w, position in zip(weights, chain))
    if neighbours <= 1:
        return velocity
    nearest = torch.cdist(clouds[0], clouds[0]).topk(min(neighbours, len(clouds[0])), largest=False).indices
    return velocity[nearest].mean(1)
