"""Scalar potentials s(z, u[, mu]) whose gradient is a velocity field, their derivatives, and the integrator.

- ``PotentialMLP``: s(z, u, mu) = MLP([z, phi(u), mu]) -> scalar, SiLU activations (smooth, so that grad, the
  time derivative and the Laplacian exist), time features phi(u) = (u, sin(pi j u), cos(pi j u))_{j=1..F} on the
  rescaled time u in [0, 1].
- ``gradient``: grad_z s and d_u s by autograd (optionally differentiable again).
- ``laplacian``: Delta_z s exactly (the trace of the Hessian, one backward pass per dimension) or by
  Hutchinson's estimator E_v[v^T H v] with Rademacher probes (``neuralign.diffusion.hutchinson_divergence``).
- ``CloudEnergy``: a permutation-invariant potential energy U(Z) of a whole cloud Z (n, d) (DeepSets with a mean
  field), whose gradient gives each particle's force including the interaction with the others (WLM).
- ``integrate``: dz = f(z, u) du (+ noise_std dW), classical RK4 without noise, Euler-Maruyama with it, a fixed
  step no larger than ``step``, landing exactly on every requested time (``step_sizes``).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from neuralign.diffusion.likelihood import hutchinson_divergence


def smooth_mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of ``sizes`` with SiLU between them (smooth: second derivatives exist)."""
    layers: list[nn.Module] = []
    for index in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[index], sizes[index + 1]))
        if index < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class PotentialMLP(nn.Module):
    """s(z, u, mu): z (n, d), u (n, 1), mu (n, p) or None -> (n,); with ``outputs`` > 1 a field (n, outputs)
    instead of a potential (OT-CFM's velocity v(z, u))."""

    def __init__(self, dim: int, *, hidden_size: int = 64, n_layers: int = 3, n_frequencies: int = 2,
                 n_params: int = 0, outputs: int = 1) -> None:
        super().__init__()
        self.n_frequencies, self.n_params, self.outputs = n_frequencies, n_params, outputs
        self.net = smooth_mlp([dim + 1 + 2 * n_frequencies + n_params] + [hidden_size] * n_layers + [outputs])

    def time_features(self, u: torch.Tensor) -> torch.Tensor:
        """(n, 1) -> (n, 1 + 2F)."""
        j = torch.arange(1, self.n_frequencies + 1, device=u.device, dtype=u.dtype) * math.pi
        return torch.cat([u, torch.sin(j * u), torch.cos(j * u)], dim=-1)

    def forward(self, z: torch.Tensor, u: torch.Tensor, mu: torch.Tensor | None = None) -> torch.Tensor:
        parts = [z, self.time_features(u)]
        if self.n_params:
            parts.append(mu)
        out = self.net(torch.cat(parts, dim=-1))
        return out.squeeze(-1) if self.outputs == 1 else out


class CloudEnergy(nn.Module):
    """U(Z) = sum_i phi([z_i, m(Z)]), m(Z) = mean_j rho(z_j): Z (n, d) -> scalar.

    Invariant to permuting the particles (DeepSets); -grad_{z_i} U is particle i's force: an external part through
    phi's z_i input and a mean-field interaction through m (``embedding_size`` 0 drops it: independent particles).
    U is extensive (a sum over particles), so forces do not depend on n. The output layer starts at a tenth of its
    default scale, so an untrained energy exerts small forces (a rollout starts near free flight)."""

    def __init__(self, dim: int, *, hidden_size: int = 64, n_layers: int = 2, embedding_size: int = 16) -> None:
        super().__init__()
        self.embedding_size = embedding_size
        self.phi = smooth_mlp([dim + embedding_size] + [hidden_size] * n_layers + [1])
        self.rho = smooth_mlp([dim, hidden_size, embedding_size]) if embedding_size else None
        with torch.no_grad():
            self.phi[-1].weight.mul_(0.1)
            self.phi[-1].bias.zero_()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        parts = [z]
        if self.rho is not None:
            parts.append(self.rho(z).mean(0, keepdim=True).expand(len(z), -1))
        return self.phi(torch.cat(parts, dim=-1)).sum()

    def force(self, z: torch.Tensor, *, create_graph: bool) -> torch.Tensor:
        """-grad_Z U: (n, d); differentiable again when ``create_graph`` (training through a rollout)."""
        with torch.enable_grad():
            z = z if z.requires_grad else z.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self(z), z, create_graph=create_graph)
        return -grad


Potential = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # s(z (n, d), u (n, 1)) -> (n,)


def gradient(potential: Potential, z: torch.Tensor, u: torch.Tensor, *,
             create_graph: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(s (n,), grad_z s (n, d), d_u s (n,), z) with z and u made to require gradients (z returned, so the
    Laplacian can differentiate grad_z s again)."""
    with torch.enable_grad():
        z = z if z.requires_grad else z.detach().requires_grad_(True)
        u = u if u.requires_grad else u.detach().requires_grad_(True)
        value = potential(z, u)
        grad_z, grad_u = torch.autograd.grad(value.sum(), (z, u), create_graph=create_graph)
    return value, grad_z, grad_u.squeeze(-1), z


def laplacian(potential: Potential, z: torch.Tensor, u: torch.Tensor, *, method: str = "exact",
              n_probes: int = 1, generator: torch.Generator | None = None,
              create_graph: bool = True) -> torch.Tensor:
    """Delta_z s at each point: (n,). ``method`` "exact" (Hessian trace, d backward passes) or "hutchinson"
    (unbiased, ``n_probes`` Rademacher probes)."""
    if method == "hutchinson":
        def field(points: torch.Tensor) -> torch.Tensor:
            return gradient(potential, points, u, create_graph=True)[1]

        return hutchinson_divergence(field, z, n_probes=n_probes, generator=generator, create_graph=create_graph)
    if method != "exact":
        raise ValueError(f"method: expected 'exact' or 'hutchinson', got {method!r}.")
    with torch.enable_grad():
        _, grad_z, _, z = gradient(potential, z, u, create_graph=True)
        total = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
        for dim in range(z.shape[1]):
            (second,) = torch.autograd.grad(grad_z[:, dim].sum(), z, create_graph=create_graph, retain_graph=True)
            total = total + second[:, dim]
    return total


def integrate(field: Callable[[torch.Tensor, float], torch.Tensor], z: torch.Tensor, u_start: float,
              u_targets: np.ndarray, *, step: float, noise_std: float = 0.0,
              generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """States at each of ``u_targets`` (non-decreasing, >= u_start) of dz = field(z, u) du + noise_std dW."""
    out = []
    u = u_start
    for target, steps in zip(u_targets, step_sizes(u_start, u_targets, step)):
        for h in steps:
            if noise_std > 0:
                noise = torch.randn(z.shape, generator=generator, dtype=z.dtype).to(z.device)
                z = z + h * field(z, u) + noise_std * math.sqrt(h) * noise
            else:
                k1 = field(z, u)
                k2 = field(z + 0.5 * h * k1, u + 0.5 * h)
                k3 = field(z + 0.5 * h * k2, u + 0.5 * h)
                k4 = field(z + h * k3, u + h)
                z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            u = u + h
        u = float(target)
        out.append(z.detach())
    return out


def step_sizes(u_start: float, u_targets: np.ndarray, step: float) -> list[list[float]]:
    """For each target (non-decreasing, >= u_start), the equal steps (each <= ``step``) from the previous landing
    point to it: every requested time is landed on exactly, and the same pieces give the same steps."""
    out, u = [], float(u_start)
    for target in u_targets:
        n_steps = int(math.ceil((target - u) / step - 1e-9))
        out.append([(float(target) - u) / n_steps] * n_steps if n_steps > 0 else [])
        u = float(target)
    return out
