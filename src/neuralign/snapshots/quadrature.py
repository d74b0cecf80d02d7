"""Quadrature rules in time over observed snapshot times, and the action-matching objective they feed.

Time is rescaled to u = (t - t_1) / (t_K - t_1) in [0, 1]; the observed times become u_1 = 0 < ... < u_K = 1.
A rule gives a grid of nodes 0 = v_0 < ... < v_J = 1 with positive weights w_j; the marginal at a node is an
observed cloud (lam = 0) or the displacement interpolation between clouds k and k + 1 at fraction lam
(``coupling.py``):

- ``trapezoid``: the observed times, weights (u_{k+1} - u_{k-1}) / 2 (halved at the ends); no interpolation.
- ``simpson``: the observed times and every interval's midpoint, composite Simpson weights h (1, 4, 1) / 6 per
  interval (uneven spacing allowed); the midpoint marginals are interpolated.

Discretisation of the objective (``action_objective``): the kinetic (and Laplacian) term by the rule's weights;
the boundary terms E_{q_0}[s(., 0)] - E_{q_1}[s(., 1)] on batches of the first and last cloud; and the time
derivative term int E_{q_u}[d_u s] du, per grid interval, as (E_j + E_{j+1})/2 [s(., v_{j+1}) - s(., v_j)]:
exact when s is linear in u and q_u a mixture of the two node marginals across the interval. This makes the time
term consistent with the boundary terms: a function of time alone adds exactly 0, as in the continuous objective.
Evaluating d_u s by autograd at fixed nodes instead is not: s can then change between nodes at no cost, and
on snapshot data the loss fell without bound (-1e4 after 20 epochs on a linear flow, for trapezoid, Simpson and
Gauss-Legendre nodes alike). Gauss-Legendre nodes are not offered: they exclude the interval ends, where the
observed clouds and the boundary terms are, and a node with zero kinetic weight leaves s there unpenalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neuralign._checks import one_of
from neuralign.snapshots.fields import Potential, gradient, laplacian

RULES = ("trapezoid", "simpson")
KINETIC = ("exact", "quadrature")


@dataclass(frozen=True)
class Node:
    """A quadrature node: rescaled time u, weight, and its marginal: cloud k (lam = 0) or between k and k + 1."""

    u: float
    weight: float
    k: int
    lam: float


def time_nodes(u: np.ndarray, rule: str, subdivisions: int | None = None) -> list[Node]:
    """The grid of ``rule`` on the sorted rescaled times ``u`` (K,), in time order; weights sum to 1.

    ``subdivisions`` n (an int): every observed interval cut into n equal grid intervals, the n - 1 inner nodes
    interpolated (lam = i / n), trapezoid weights on the grid (used by the exact kinetic term, which needs only the
    grid); None: the rule's own grid."""
    one_of("quadrature", rule, RULES)
    if subdivisions is not None:
        grid = [(float(u[k]) + i * float(u[k + 1] - u[k]) / subdivisions, k, i / subdivisions)
                for k in range(len(u) - 1) for i in range(subdivisions)] + [(float(u[-1]), len(u) - 1, 0.0)]
        v = np.array([point[0] for point in grid])
        weights = (np.diff(v, prepend=v[0]) + np.diff(v, append=v[-1])) / 2
        return [Node(point[0], float(w), point[1], point[2]) for point, w in zip(grid, weights)]
    observed = np.zeros(len(u))
    interior: list[Node] = []
    for k in range(len(u) - 1):
        h = float(u[k + 1] - u[k])
        if rule == "trapezoid":
            observed[k:k + 2] += h / 2
        else:
            observed[k:k + 2] += h / 6
            interior.append(Node(float(u[k]) + h / 2, 4 * h / 6, k, 0.5))
    nodes = [Node(float(u[k]), float(observed[k]), k, 0.0) for k in range(len(u))]
    return sorted(nodes + interior, key=lambda node: node.u)


def action_objective(potential: Potential, z: torch.Tensor, u: torch.Tensor, kinetic_weights: torch.Tensor,
                     boundary_weights: torch.Tensor, time_weights: torch.Tensor, *,
                     cross_weights: torch.Tensor | None = None, cross_index: torch.Tensor | None = None,
                     diffusion_weights: torch.Tensor | None = None, noise_variance: float = 0.0,
                     laplacian_method: str = "exact", n_probes: int = 1, generator: torch.Generator | None = None,
                     create_graph: bool = True) -> dict[str, torch.Tensor]:
    """The action-matching objective on points z (N, d) at rescaled times u (N, 1), s_i = s(z_i, u_i), g_i = grad_z s_i:

        L = sum_i b_i s_i + sum_i c_i s_i + 0.5 sum_i [a_i |g_i|^2 + e_i g_i . g_{p(i)}] + 0.5 noise_variance
            sum_i f_i Delta_z s_i,

    boundary terms ``boundary_weights`` b (+1/B on a batch of q_0 at u = 0, -1/B on a batch of q_1 at u = 1);
    time-derivative term ``time_weights`` c (+-1/(2B) on each node batch at the neighbouring grid times: the
    differences (E_j + E_{j+1})/2 [s(., v_{j+1}) - s(., v_j)]); kinetic terms ``kinetic_weights`` a and the cross
    terms ``cross_weights`` e between row i and row p(i) = ``cross_index[i]`` (the same point at its node's own
    time; None: no cross terms); diffusion ``diffusion_weights`` f (default a). Returns the loss and its parts."""
    values, grad_z, _, _ = gradient(potential, z, u, create_graph=create_graph)
    boundary = (boundary_weights * values).sum()
    time_derivative = (time_weights * values).sum()
    kinetic = (kinetic_weights * 0.5 * (grad_z ** 2).sum(-1)).sum()
    if cross_weights is not None and bool((cross_weights != 0).any()):
        kinetic = kinetic + (cross_weights * 0.5 * (grad_z * grad_z[cross_index]).sum(-1)).sum()
    loss = boundary + time_derivative + kinetic
    parts = {"boundary": boundary.detach(), "time_derivative": time_derivative.detach(), "kinetic": kinetic.detach()}
    if noise_variance > 0:
        weights = kinetic_weights if diffusion_weights is None else diffusion_weights
        inside = weights != 0
        lap = laplacian(potential, z[inside], u[inside], method=laplacian_method, n_probes=n_probes,
                        generator=generator, create_graph=create_graph)
        diffusion = (weights[inside] * 0.5 * noise_variance * lap).sum()
        loss = loss + diffusion
        parts["diffusion"] = diffusion.detach()
    return {"loss": loss, **parts}
