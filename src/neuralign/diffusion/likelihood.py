"""Hutchinson-Skilling divergence estimate and the score-matching bound on -log p_0 used by ERDiff alignment.

Divergence (Hutchinson 1990, Skilling 1989): for fn: R^D -> R^D and Rademacher probes v in {-1, +1}^D,

    div fn(z) = tr(d fn / d z) = E_v[v^T (d fn / d z) v],

with v^T J computed as a vector-Jacobian product (one backward pass per probe; differentiable again when
``create_graph``).

Bound (Song, Durkan, Murray & Ermon 2021, Theorem 1, per data point, VP SDE dz = f dt + g dW with
f(z, t) = -beta(t) z / 2, g(t)^2 = beta(t)): with t ~ U(t_min, 1), eps ~ N(0, I), z_t = mu_t x0 + sigma_t eps,
the model score s_theta = -eps_theta(z_t, t) / sigma_t and grad log p_0t(z_t | x0) = -eps / sigma_t,

    -log p_0(x0) <= E[-log pi(z_1)] + (1 - t_min) / 2 * E_t E_eps[ g^2 ||s_theta - grad log p_0t||^2
                                                                 - g^2 ||grad log p_0t||^2 - 2 div f(z_t, t) ]
                  = E[-log pi(z_1)] + (1 - t_min) / 2 * E_t E_eps[ beta / sigma^2 (||eps - eps_theta||^2 - ||eps||^2)
                                                                 - 2 div f(z_t, t) ],

with pi = N(0, I) and z_1 = mu_1 x0 + sigma_1 eps'; the factor (1 - t_min) undoes the density of t. With
the forward SDE drift (``drift="sde"``) div f = -beta(t) l d / 2 exactly: it is constant in z, so it adds a
constant and no gradient (it is still computed with the Hutchinson estimator, which is exact for it), and the
bound is tight when eps_theta is the exact noise predictor and p_1 = pi. The diffusion runs on
x0 = z0 / data_scale; the bound on the density of z0 adds the log-Jacobian l * sum_i log data_scale_i.

``drift="probability_flow"`` replaces f by the probability-flow ODE drift f~ = f - g^2 s_theta / 2, so
-2 div f~ = -2 div f - beta / sigma * div eps_theta, estimated through the denoiser. Caution: this is not
Song et al.'s bound; it equals the ``"sde"`` value plus 1/2 int g^2 E[div s_theta(z_t)] dt. Averaged over the
data, with an exact score, E[div s] = -E||s||^2, so the extra term is -1/2 int g^2 E||s||^2 dt < 0 and the
result lies below -log p_0: for unit-variance Gaussian data it is (l d / 2) log(alpha_bar(t_min) /
alpha_bar(1)) nats lower (60 nats for l d = 12 with the linear schedule, 34 with the cosine one; see tests).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from neuralign._checks import describe, one_of, positive_int
from neuralign.diffusion import _random
from neuralign.diffusion.loss import TrajectoryDiffusion, perturb

DRIFTS = ("probability_flow", "sde")


def hutchinson_divergence(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, *, n_probes: int = 1,
                          generator: torch.Generator | None = None, create_graph: bool = True) -> torch.Tensor:
    """Hutchinson-Skilling estimate of the divergence of ``fn`` at ``z`` with Rademacher probes.

    Parameters
    ----------
    fn : maps z: (batch, ...) to a tensor of the same shape; entries of different batch rows must not interact
        (each row's divergence is estimated separately).
    z : (batch, ...) points; if it does not require gradients a detached copy that does is used.
    n_probes : number of probes averaged per row.
    generator : source of the probes (default: the global torch generator).
    create_graph : keep the graph of the vector-Jacobian products so the estimate can be differentiated
        (w.r.t. z's ancestors or fn's parameters).

    Returns
    -------
    (batch,) the mean over probes of v^T (d fn / d z) v, with the non-batch axes flattened.
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable mapping z to a tensor of z's shape, got {describe(fn)}.")
    if not isinstance(z, torch.Tensor) or not z.is_floating_point() or z.ndim < 1:
        raise TypeError(f"z: expected a floating-point torch.Tensor of shape (batch, ...), got {describe(z)}.")
    positive_int("n_probes", n_probes)
    _random.check_generator(generator)
    with torch.enable_grad():
        if not z.requires_grad:
            z = z.detach().requires_grad_(True)
        out = fn(z)
        if not isinstance(out, torch.Tensor) or out.shape != z.shape:
            raise ValueError(f"fn: expected an output of z's shape {tuple(z.shape)}, got {describe(out)}.")
        total = torch.zeros(z.shape[0], device=z.device, dtype=z.dtype)
        for probe in range(n_probes):
            v = _random.rademacher(tuple(z.shape), z, generator)
            if not out.requires_grad:  # fn does not depend on z
                continue
            (vjp,) = torch.autograd.grad(out, z, grad_outputs=v, create_graph=create_graph, allow_unused=True,
                                         retain_graph=create_graph or probe < n_probes - 1)
            if vjp is not None:
                total = total + (vjp * v).reshape(z.shape[0], -1).sum(dim=1)
    return total / n_probes


def score_matching_bound(diffusion: TrajectoryDiffusion, z0: torch.Tensor, *, n_t: int = 1, n_probes: int = 1,
                         drift: str = "sde",
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte-Carlo estimate of the score-matching bound on -log p_0(z0), one value per trajectory.

    Parameters
    ----------
    diffusion : a fitted TrajectoryDiffusion; put it in eval mode (dropout makes the bound noisy) and freeze
        its parameters when only z0's producer is trained.
    z0 : (batch, l, d) trajectories in the caller's units; gradients flow back to it.
    n_t : number of (t, eps) draws averaged per trajectory.
    n_probes : Hutchinson probes per draw.
    drift : ``"sde"`` (Song et al.'s bound; divergence term constant) or ``"probability_flow"`` (the ODE drift;
        divergence through the denoiser; not an upper bound, see the module docstring).
    generator : source of t, eps and the probes (default: the global torch generator).

    Returns
    -------
    (batch,) estimates in nats; their expectation bounds -log p_0(z0) from above for ``drift="sde"``.
    """
    if not isinstance(diffusion, TrajectoryDiffusion):
        raise TypeError(f"diffusion: expected a TrajectoryDiffusion, got {describe(diffusion)}.")
    x0 = diffusion.to_scaled(z0)
    positive_int("n_t", n_t)
    positive_int("n_probes", n_probes)
    one_of("drift", drift, DRIFTS)
    _random.check_generator(generator)
    schedule, denoiser, t_min = diffusion.schedule, diffusion.denoiser, diffusion.t_min
    batch, n_dims = x0.shape[0], x0.shape[1] * x0.shape[2]
    grad_enabled = torch.is_grad_enabled()

    x = x0.repeat(n_t, 1, 1)  # row k * batch + b is draw k of trajectory b
    t = t_min + (1.0 - t_min) * _random.rand((x.shape[0],), x, generator)
    eps = _random.randn(tuple(x.shape), x, generator)
    z_t = perturb(schedule, x, t, eps)
    beta = schedule.beta(t)
    sigma = schedule.std(t)
    predicted: dict[str, torch.Tensor] = {}

    def probability_flow_drift(z: torch.Tensor) -> torch.Tensor:
        predicted["eps"] = denoiser(z, t)  # also reused by the score-matching term
        return schedule.drift(z, t) + (0.5 * beta / sigma)[:, None, None] * predicted["eps"]

    if drift == "sde":
        divergence = hutchinson_divergence(lambda z: schedule.drift(z, t), z_t, n_probes=n_probes,
                                           generator=generator, create_graph=grad_enabled)
        predicted["eps"] = denoiser(z_t, t)
    else:
        divergence = hutchinson_divergence(probability_flow_drift, z_t, n_probes=n_probes, generator=generator,
                                           create_graph=grad_enabled)
    squared_error = ((eps - predicted["eps"]) ** 2).reshape(x.shape[0], -1).sum(dim=1)
    squared_noise = (eps ** 2).reshape(x.shape[0], -1).sum(dim=1)
    integrand = beta / sigma ** 2 * (squared_error - squared_noise) - 2.0 * divergence
    diffusion_term = 0.5 * (1.0 - t_min) * integrand

    t_end = torch.ones((), device=x.device, dtype=x.dtype)
    z_end = schedule.mean_coef(t_end) * x + schedule.std(t_end) * _random.randn(tuple(x.shape), x, generator)
    prior_term = 0.5 * (z_end ** 2).reshape(x.shape[0], -1).sum(dim=1) + 0.5 * n_dims * math.log(2 * math.pi)

    bound = (diffusion_term + prior_term).reshape(n_t, batch).mean(dim=0)
    bound = bound + x0.shape[1] * torch.log(diffusion.data_scale.to(x0)).sum()
    return bound if grad_enabled else bound.detach()
