"""POISE: the coupled exponential-family prior and posterior of two latents (z, z'), one per modality.

Per latent dimension k (every dimension, and every time bin, is an independent copy; shapes ``(..., d)``)::

    p(z, z')     ∝ N(z; 0, 1) N(z'; 0, 1) exp(T(z)^T G_k T(z')),          T(u) = [u, u^2]
    q(z, z' | x) ∝ p(z, z') exp(lambda^T T(z) + lambda'^T T(z'))           (encoder increments, lambda_2 <= 0)

    T(z)^T G T(z') = g11 z z' + g12 z z'^2 + g21 z^2 z' + g22 z^2 z'^2

Normalisable by construction: g22 = -softplus(r22) < 0, g12 = 0.9 sqrt(2 |g22|) tanh(r12), g21 likewise,
g11 = (1 + 4 |g22|) tanh(r11) (any g11 is normalisable once g22 < 0; |g11| < 1 is needed as g22 -> 0, and the
bound keeps the ridge of a strongly coupled prior, at z = z' = +-sqrt((g11 - 1) / (2 |g22|)) <= sqrt(2), near
the origin; |g11| > 1 lets the coupling be strong, since the conditional variance of z' given z is
1 / (1 + 2 |g22| z^2) rather than 1). Then the precision of z given z', 1 - 2 lambda_2 - 2 (g21 z' + g22 z'^2),
is at least 1 - g21^2 / (2 |g22|) >= 0.19 for every z' (likewise for z' given z), and the z'-marginal decays like
exp(-(1/2 - g12^2 / (4 |g22|)) z'^2). Both conditionals are Gaussian, so each Gibbs step is exact; a missing
modality contributes lambda = 0.

In natural parameters ``(a1, a2, b1, b2)`` = coefficients of z, z^2, z', z'^2 (base -1/2 included in a2, b2),
the log normaliser A = log ∫∫ exp(a1 z + a2 z^2 + b1 z' + b2 z'^2 + T(z)^T G T(z')) is one Gaussian integral
over z (closed form given z') and a 1-D quadrature over z' (:func:`quadrature`), which also gives the exact
moments; KL(q || p) = E_q[lambda^T T(z) + lambda'^T T(z')] - A_q + A_p.

KL gradient estimator used for training (:func:`kl_surrogate`). q and p are exponential families sharing G,
so with Δθ = (lambda, lambda') and s_G = T(z) ⊗ T(z'),

    ∇ KL = E_q[∇_z (Δθ · s(z, z')) ∂z/∂φ] + ∇G · (E_p[s_G] - E_q[s_G])

(the ∇Δθ · E_q[s] terms cancel, and ∇ log Z = E[∇ energy] for both normalisers). The first term is the
pathwise derivative through reparameterised Gibbs sweeps (each step z = mean(z') + std(z') eps is
differentiable in lambda and G); the second uses Gibbs samples of the prior and of the posterior. The
surrogate ``stopgrad(Δθ) · s(z_q) + G · stopgrad(E_p[s_G] - s_G(z_q))`` has exactly this gradient; its value is
not the KL (use :func:`kl_exact` for values). Tests check it against the autograd gradient of the quadrature KL.
Caveat: when |g11| > 1 the prior is bimodal along z = z' and single Gibbs chains mix slowly between the modes;
the prior statistics average many independent chains started from N(0, I).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

_CROSS_BOUND = 0.9  # |g12|, |g21| <= 0.9 sqrt(2 |g22|): conditional precision >= 1 - 0.81 = 0.19
_LINEAR_SLACK = 4.0  # |g11| < 1 + 4 |g22|: the prior's ridge z = z' peaks at |z| <= sqrt(2), inside the grids


class Coupling(NamedTuple):
    """The four coupling coefficients per latent dimension, each (d,)."""

    g11: torch.Tensor
    g12: torch.Tensor
    g21: torch.Tensor
    g22: torch.Tensor

    def stack(self) -> torch.Tensor:
        return torch.stack([self.g11, self.g12, self.g21, self.g22], dim=-1)


class Naturals(NamedTuple):
    """Coefficients of z, z^2, z', z'^2 in the log density (a2, b2 < 0 include the base -1/2); (..., d) each."""

    a1: torch.Tensor
    a2: torch.Tensor
    b1: torch.Tensor
    b2: torch.Tensor


class PoiseCoupling(nn.Module):
    """The learned coupling G of the POISE prior, one 2x2 block per latent dimension.

    Parameters
    ----------
    latent_dim : latent dimensions per modality (d).
    init_g22 : initial value of g22 (< 0).
    init_g11 : initial value of g11, |init_g11| < 1 + 4 |init_g22|; g12 = g21 = 0 at the start. A coupled start
        (default 0.9, prior correlation of z_k and z'_k ~ 0.9) makes the KL reward encoders that put shared
        information in the same dimension k of both latents; from independent latents (0) the dimensions that
        carry it drift apart and cross-generation fails (ring -> digit coherence 0.12 instead of 0.4-0.5).
    """

    def __init__(self, latent_dim: int, init_g22: float = -0.05, init_g11: float = 0.9) -> None:
        super().__init__()
        if not init_g22 < 0:
            raise ValueError(f"init_g22: expected a negative number, got {init_g22!r}.")
        bound = 1.0 + _LINEAR_SLACK * -init_g22
        if not abs(init_g11) < bound:
            raise ValueError(f"init_g11: expected |init_g11| < 1 + 4 |init_g22| = {bound:g}, got {init_g11!r}.")
        raw = torch.zeros(latent_dim, 4)
        raw[:, 0] = math.atanh(init_g11 / bound)
        raw[:, 3] = math.log(math.expm1(-init_g22))  # inverse softplus
        self.raw = nn.Parameter(raw)

    def forward(self) -> Coupling:
        return coupling_from_raw(self.raw)


def coupling_from_raw(raw: torch.Tensor) -> Coupling:
    """raw: (d, 4) unconstrained -> the constrained coefficients (see the module docstring)."""
    c = nn.functional.softplus(raw[:, 3])
    bound = _CROSS_BOUND * torch.sqrt(2.0 * c)
    return Coupling((1.0 + _LINEAR_SLACK * c) * torch.tanh(raw[:, 0]), bound * torch.tanh(raw[:, 1]),
                    bound * torch.tanh(raw[:, 2]), -c)


def naturals(lambda_z: tuple[torch.Tensor, torch.Tensor] | None,
             lambda_zp: tuple[torch.Tensor, torch.Tensor] | None, like: torch.Tensor) -> Naturals:
    """Natural parameters of q from the encoders' increments ((lambda_1, lambda_2), each (..., d); None = missing
    modality, zero increment). ``like`` gives the shape, dtype and device."""
    zero = torch.zeros_like(like)
    a1, a2 = lambda_z if lambda_z is not None else (zero, zero)
    b1, b2 = lambda_zp if lambda_zp is not None else (zero, zero)
    return Naturals(a1, a2 - 0.5, b1, b2 - 0.5)


def prior_naturals(like: torch.Tensor) -> Naturals:
    zero = torch.zeros_like(like)
    return Naturals(zero, zero - 0.5, zero, zero - 0.5)


def expert_increments(mean: torch.Tensor, log_variance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A Gaussian expert N(mean, exp(log_variance)) as natural-parameter increments (mean / var, -1 / (2 var))."""
    precision = torch.exp(-log_variance)
    return mean * precision, -0.5 * precision


# ------------------------------------------------------------------------------------------- conditionals
def conditional_z(nat: Naturals, g: Coupling, zp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of z given z' (Gaussian)."""
    c1 = nat.a1 + g.g11 * zp + g.g12 * zp ** 2
    c2 = nat.a2 + g.g21 * zp + g.g22 * zp ** 2
    variance = -0.5 / c2
    return c1 * variance, variance


def conditional_zp(nat: Naturals, g: Coupling, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of z' given z (Gaussian)."""
    c1 = nat.b1 + g.g11 * z + g.g21 * z ** 2
    c2 = nat.b2 + g.g12 * z + g.g22 * z ** 2
    variance = -0.5 / c2
    return c1 * variance, variance


def _normal(mean: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return torch.randn_like(mean)
    return torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)


def _sweep(nat: Naturals, g: Coupling, zp: torch.Tensor,
           generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One Gibbs sweep: z | z', then z' | z (reparameterised)."""
    mean, variance = conditional_z(nat, g, zp)
    z = mean + variance.sqrt() * _normal(mean, generator)
    mean, variance = conditional_zp(nat, g, z)
    return z, mean + variance.sqrt() * _normal(mean, generator)


def _start(nat: Naturals, generator: torch.Generator | None) -> torch.Tensor:
    """z' from its distribution without coupling, the chains' starting point."""
    mean, variance = -nat.b1 / (2 * nat.b2), -0.5 / nat.b2
    return mean + variance.sqrt() * _normal(mean, generator)


def gibbs(nat: Naturals, g: Coupling, n_steps: int, *, generator: torch.Generator | None = None,
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparameterised alternating Gibbs sweeps; returns one sample (z, z'), each shaped like ``nat.a1``.

    z' starts from its distribution without coupling; each sweep draws z | z' then z' | z. Gradients flow
    through every step (pathwise derivative)."""
    zp = _start(nat, generator)
    z = zp
    for _ in range(max(int(n_steps), 1)):
        z, zp = _sweep(nat, g, zp, generator)
    return z, zp


@torch.no_grad()
def gibbs_trace(nat: Naturals, g: Coupling, n_steps: int, *, generator: torch.Generator | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Every sweep's (z, z') of :func:`gibbs`'s chains, each (n_steps, *nat.a1.shape), for mixing diagnostics."""
    zp = _start(nat, generator)
    trace_z, trace_zp = [], []
    for _ in range(positive_steps(n_steps)):
        z, zp = _sweep(nat, g, zp, generator)
        trace_z.append(z)
        trace_zp.append(zp)
    return torch.stack(trace_z), torch.stack(trace_zp)


def positive_steps(n_steps: int) -> int:
    """``n_steps`` checked: an integer >= 2 (a chain to trace)."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 2:
        raise ValueError(f"n_steps: expected an integer >= 2 (sweeps to trace), got {n_steps!r}.")
    return n_steps


def effective_sample_size_per_step(trace: torch.Tensor) -> torch.Tensor:
    """Effective sample size per step of each chain of ``trace`` (steps, ...): every trailing index is one chain.

    tau = -1 + 2 sum_{m=0}^{M} (rho_{2m} + rho_{2m+1}), Geyer's initial positive sequence (M: the last m before
    a pair sum turns non-positive), rho_k the chain's autocorrelation at lag k; returns 1 / tau, shape (...).
    1 for independent draws, near 0 for a chain that barely moves."""
    steps = positive_steps(trace.shape[0])
    centred = trace - trace.mean(0, keepdim=True)
    spectrum = torch.fft.rfft(centred, n=2 * steps, dim=0)
    autocovariance = torch.fft.irfft(spectrum * spectrum.conj(), n=2 * steps, dim=0)[:steps]
    rho = autocovariance / autocovariance[:1].clamp_min(1e-30)
    n_pairs = steps // 2
    pairs = rho[:2 * n_pairs].reshape(n_pairs, 2, *rho.shape[1:]).sum(1)  # rho_0 + rho_1, rho_2 + rho_3, ...
    keep = torch.cumprod((pairs > 0).to(trace.dtype), dim=0)
    tau = -1 + 2 * (pairs * keep).sum(0)
    return 1.0 / tau.clamp_min(1.0 / steps)


def sufficient_coupling(z: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
    """s_G = [z z', z z'^2, z^2 z', z^2 z'^2], (..., d, 4)."""
    return torch.stack([z * zp, z * zp ** 2, z ** 2 * zp, z ** 2 * zp ** 2], dim=-1)


def log_density_unnormalised(nat: Naturals, g: Coupling, z: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
    """a1 z + a2 z^2 + b1 z' + b2 z'^2 + T(z)^T G T(z'), elementwise."""
    coupling = (sufficient_coupling(z, zp) * g.stack()).sum(-1)
    return nat.a1 * z + nat.a2 * z ** 2 + nat.b1 * zp + nat.b2 * zp ** 2 + coupling


# --------------------------------------------------------------------------------------------- quadrature
class Moments(NamedTuple):
    """Log normaliser and moments, each shaped like the natural parameters."""

    log_normalizer: torch.Tensor
    mean_z: torch.Tensor
    second_z: torch.Tensor
    mean_zp: torch.Tensor
    second_zp: torch.Tensor


def _grid(centre: torch.Tensor, half_width: torch.Tensor, n_points: int) -> torch.Tensor:
    steps = torch.linspace(-1.0, 1.0, n_points, dtype=centre.dtype, device=centre.device)
    return centre.unsqueeze(-1) + half_width.unsqueeze(-1) * steps


def quadrature(nat: Naturals, g: Coupling, *, samples_zp: torch.Tensor | None = None,
               n_points: int = 161) -> Moments:
    """Log normaliser and moments by integrating z in closed form and z' on a merged non-uniform grid.

    The grid joins a wide fixed range [-10, 10], the uncoupled z' factor's mean +- 12 std, and, when given,
    the range of ``samples_zp`` (..., d, S) (e.g. Gibbs samples) +- 12 conditional std; trapezoid weights.
    Differentiable in ``nat`` and ``g`` (the grid itself is not)."""
    with torch.no_grad():
        uncoupled_mean, uncoupled_std = -nat.b1 / (2 * nat.b2), torch.sqrt(-0.5 / nat.b2)
        grids = [_grid(torch.zeros_like(nat.a1), torch.full_like(nat.a1, 10.0), n_points),
                 _grid(uncoupled_mean, 12 * uncoupled_std, n_points)]
        if samples_zp is not None:
            low, high = samples_zp.min(-1).values, samples_zp.max(-1).values
            z_given = conditional_z(Naturals(*(p.detach().unsqueeze(-1) for p in nat)),
                                    Coupling(*(c.detach().unsqueeze(-1) for c in g)), samples_zp)[0]
            _, variance = conditional_zp(Naturals(*(p.detach().unsqueeze(-1) for p in nat)),
                                         Coupling(*(c.detach().unsqueeze(-1) for c in g)), z_given)
            spread = 12 * variance.sqrt().max(-1).values
            grids.append(_grid((low + high) / 2, (high - low) / 2 + spread, n_points))
        points = torch.cat(grids, dim=-1).sort(dim=-1).values
        gaps = points[..., 1:] - points[..., :-1]
        weights = torch.zeros_like(points)
        weights[..., 1:] += gaps / 2
        weights[..., :-1] += gaps / 2
        log_weights = torch.log(weights.clamp_min(1e-30))
    expand = lambda t: t.unsqueeze(-1)  # noqa: E731
    c1 = expand(nat.a1) + expand(g.g11) * points + expand(g.g12) * points ** 2
    c2 = expand(nat.a2) + expand(g.g21) * points + expand(g.g22) * points ** 2
    log_h = (expand(nat.b1) * points + expand(nat.b2) * points ** 2
             + 0.5 * torch.log(math.pi / -c2) - c1 ** 2 / (4 * c2))
    log_terms = log_h + log_weights
    log_normalizer = torch.logsumexp(log_terms, dim=-1)
    probability = torch.softmax(log_terms, dim=-1)
    z_mean, z_variance = -c1 / (2 * c2), -0.5 / c2
    return Moments(log_normalizer, (probability * z_mean).sum(-1), (probability * (z_mean ** 2 + z_variance)).sum(-1),
                   (probability * points).sum(-1), (probability * points ** 2).sum(-1))


def prior_log_normalizer(g: Coupling, *, n_points: int = 161) -> torch.Tensor:
    """A_p per latent dimension, (d,)."""
    return quadrature(prior_naturals(g.g11), g, n_points=n_points).log_normalizer


def kl_exact(nat: Naturals, g: Coupling, *, samples_zp: torch.Tensor | None = None,
             prior_log_z: torch.Tensor | None = None) -> torch.Tensor:
    """KL(q || p) per element (shaped like ``nat.a1``), by quadrature; differentiable."""
    moments = quadrature(nat, g, samples_zp=samples_zp)
    if prior_log_z is None:
        prior_log_z = prior_log_normalizer(g)
    lambda_terms = (nat.a1 * moments.mean_z + (nat.a2 + 0.5) * moments.second_z
                    + nat.b1 * moments.mean_zp + (nat.b2 + 0.5) * moments.second_zp)
    return lambda_terms - moments.log_normalizer + prior_log_z


@torch.no_grad()
def prior_coupling_statistics(g: Coupling, *, n_chains: int = 512, n_steps: int = 20,
                              generator: torch.Generator | None = None) -> torch.Tensor:
    """E_p[s_G] per latent dimension, (d, 4), from ``n_chains`` Gibbs chains of the prior."""
    like = g.g11.detach().expand(n_chains, -1)
    detached = Coupling(*(c.detach() for c in g))
    z, zp = gibbs(prior_naturals(like), detached, n_steps, generator=generator)
    return sufficient_coupling(z, zp).mean(0)


def kl_surrogate(nat: Naturals, g: Coupling, z: torch.Tensor, zp: torch.Tensor,
                 prior_statistics: torch.Tensor) -> torch.Tensor:
    """Per element surrogate whose gradient is the KL gradient (module docstring); z, zp: reparameterised
    Gibbs samples of q; prior_statistics: E_p[s_G], (d, 4). Its value is not the KL."""
    lambda_terms = (nat.a1.detach() * z + (nat.a2.detach() + 0.5) * z ** 2
                    + nat.b1.detach() * zp + (nat.b2.detach() + 0.5) * zp ** 2)
    difference = prior_statistics.detach() - sufficient_coupling(z, zp).detach()
    return lambda_terms + (difference * g.stack()).sum(-1)


def kl_gradient_check(nat: Naturals, g: Coupling, *, gibbs_steps: int, n_draws: int = 16,
                      generator: torch.Generator | None = None) -> dict[str, float]:
    """How well the training estimator's gradient (:func:`kl_surrogate` on reparameterised Gibbs samples, prior
    statistics from fresh chains) matches the exact gradient of the summed KL (autograd through the quadrature),
    at the given natural parameters and coupling (detached copies are differentiated).

    Returns the cosine similarity and the relative error ||estimate - exact|| / ||exact|| of the gradient with
    respect to G (summed over the elements, as training sees it), to the naturals summed over the elements (the
    gradient of a shift shared by every element: little Monte Carlo noise, so it shows bias), and to each element's
    naturals (one draw per element is noisy; the mean of ``n_draws`` draws shrinks the noise as 1 / sqrt(n_draws)
    when the estimator is unbiased), each for the mean of ``n_draws`` draws and for a single draw."""
    positive_steps(n_draws)
    leaves_nat = Naturals(*(p.detach().clone().requires_grad_(True) for p in nat))
    leaves_g = Coupling(*(c.detach().clone().requires_grad_(True) for c in g))
    parameters = [*leaves_nat, *leaves_g]

    def gradient(value: torch.Tensor) -> dict[str, torch.Tensor]:
        grads = torch.autograd.grad(value, parameters)
        return {"naturals": torch.cat([x.reshape(-1) for x in grads[:4]]),
                "summed naturals": torch.stack([x.sum() for x in grads[:4]]),
                "G": torch.cat([x.reshape(-1) for x in grads[4:]])}

    exact = gradient(kl_exact(leaves_nat, leaves_g).sum())
    draws = []
    for _ in range(n_draws):
        z, zp = gibbs(leaves_nat, leaves_g, gibbs_steps, generator=generator)
        statistics = prior_coupling_statistics(leaves_g, n_steps=2 * gibbs_steps + 10, generator=generator)
        draws.append(gradient(kl_surrogate(leaves_nat, leaves_g, z, zp, statistics).sum()))
    out = {}
    for part, truth in exact.items():
        for label, estimate in (("mean of draws", torch.stack([d[part] for d in draws]).mean(0)),
                                ("one draw", draws[0][part])):
            cosine = torch.nn.functional.cosine_similarity(estimate, truth, dim=0)
            out[f"{part} cosine ({label})"] = float(cosine)
            out[f"{part} relative error ({label})"] = float((estimate - truth).norm() / truth.norm().clamp_min(1e-30))
    return out
