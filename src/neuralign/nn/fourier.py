"""Gaussian-process priors over latent trajectories: a Fourier-domain RBF GP (diagonal, O(F) per latent) and
the time-domain RBF GP it replaces (full covariance, O(T^3) per latent).

Each latent k is a GP over time bins t = 0 .. T-1 with an RBF kernel of variance rho_k and length scale l_k
(in bins): K_k(t, t') = rho_k exp(-(t - t')^2 / (2 l_k^2)).

Fourier form (Aoi & Pillow 2017; Keeley et al. 2020; Gondur et al. 2023 MM-GPVAE). Put the T bins on a circle
of length n_circle = T + padding, padding a few maximal length scales, so the kernel is (nearly) circulant and
the real DFT diagonalises it. With the real orthonormal DFT basis B (F x T), rows cos / sin(w_f t) (w_f =
2 pi f / n_circle, the DC row 1 / sqrt(n_circle)), a latent is z(t) = sum_f B[f, t] a_f with independent

    a_f ~ N(0, c_f),   c_f = sqrt(2 pi) rho l exp(-w_f^2 l^2 / 2)      (the RBF spectral density).

Frequencies whose c_f falls below ``condition_threshold`` times c_0 at the shortest current length scale are
pruned, so F ~ 2 n_circle sqrt(2 ln(1/threshold)) / (2 pi l) + 1 coefficients per latent. For a diagonal
Gaussian posterior q(a_f) = N(m_f, v_f) the KL is closed form,

    KL(q || p) = 1/2 sum_f [(v_f + m_f^2) / c_f - 1 - log(v_f / c_f)],

and costs O(F) per latent and trial. The time-domain prior (``TimeDomainGPPrior``) scores a diagonal Gaussian
over the T bins themselves against N(0, K + jitter I): 1/2 [tr(K^-1 V) + m^T K^-1 m - T + log|K| - log|V|],
which needs a Cholesky factor of K per latent at every step: O(T^3).

Both priors expose the same three methods: ``frame(n_time)`` (the basis mapping coefficients to time bins, or
None for the identity, and the diagonal of the prior precision used to build posteriors), ``kl(mean,
variance, frame)`` and ``sample``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from neuralign._checks import fraction, positive_float, positive_int


@dataclass
class GPFrame:
    """What a GP prior provides for one trial length.

    basis : (F, T) coefficients -> time bins (z = basis^T a), or None when the coefficients are the time bins.
    prior_precision : (latent_dim, F) the diagonal of the prior precision in coefficient space (exact for the
        Fourier prior; diag(K^-1) for the time-domain prior, the precision a mean-field posterior starts from).
    n_time : T.
    cache : prior-specific quantities reused by ``kl`` (spectrum, Cholesky factors).
    """

    basis: torch.Tensor | None
    prior_precision: torch.Tensor
    n_time: int
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def n_coefficients(self) -> int:
        return self.n_time if self.basis is None else int(self.basis.shape[0])

    def to_time(self, coefficients: torch.Tensor) -> torch.Tensor:
        """(trials, d, F) coefficients -> (trials, T, d) trajectories."""
        if self.basis is None:
            return coefficients.transpose(1, 2)
        return torch.einsum("ndf,ft->ntd", coefficients, self.basis)

    def variance_to_time(self, variance: torch.Tensor) -> torch.Tensor:
        """(trials, d, F) independent coefficient variances -> (trials, T, d) marginal variances per bin."""
        if self.basis is None:
            return variance.transpose(1, 2)
        return torch.einsum("ndf,ft->ntd", variance, self.basis ** 2)

    def project_experts(self, mean: torch.Tensor, precision: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-bin Gaussian pseudo-observations -> diagonal Gaussian experts over the coefficients.

        mean, precision : (trials, T, d) pseudo-observation z(t) ~ N(mean_t, 1 / precision_t) of each bin.
        Returns (precision_weighted_mean, precision), each (trials, d, F): the diagonal of the pseudo-likelihood's
        natural parameters in coefficient space, eta_f = sum_t B[f, t] w_t mu_t and lambda_f = sum_t B[f, t]^2 w_t.
        """
        if self.basis is None:
            return (precision * mean).transpose(1, 2), precision.transpose(1, 2)
        natural = torch.einsum("ntd,ft->ndf", precision * mean, self.basis)
        return natural, torch.einsum("ntd,ft->ndf", precision, self.basis ** 2)


def rbf_spectral_density(omega: torch.Tensor, length_scale: torch.Tensor, variance: torch.Tensor, *,
                         floor: float = 1e-12) -> torch.Tensor:
    """c(w) = sqrt(2 pi) rho l exp(-w^2 l^2 / 2): omega (F,), length_scale and variance (d,) -> (d, F).

    The exponent is floored at log(floor) (relative to c(0)) so a latent with a long length scale never
    gets a zero (underflowed) prior variance at frequencies kept for a shorter one."""
    scale, rho = length_scale[:, None], variance[:, None]
    exponent = (-0.5 * (omega[None, :] * scale) ** 2).clamp(min=math.log(floor))
    return math.sqrt(2 * math.pi) * rho * scale * torch.exp(exponent)


def real_fourier_basis(n_time: int, n_circle: int, n_frequencies: int, *, device: Any = None,
                       dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of the real orthonormal DFT on a circle of ``n_circle`` points, restricted to the first ``n_time``.

    Parameters
    ----------
    n_time : T, bins kept (the trial).
    n_circle : length of the circular domain (>= n_time).
    n_frequencies : integer frequencies 0 .. n_frequencies - 1 are kept (each f > 0 gives a cos and a sin row,
        except the Nyquist frequency n_circle / 2, which has only a cos row).

    Returns
    -------
    basis (F, T) and the angular frequency of each row, omega (F,).
    """
    n_time, n_circle = positive_int("n_time", n_time), positive_int("n_circle", n_circle)
    if n_circle < n_time:
        raise ValueError(f"n_circle: expected at least n_time = {n_time}, got {n_circle}.")
    n_frequencies = min(positive_int("n_frequencies", n_frequencies), n_circle // 2 + 1)
    t = torch.arange(n_time, dtype=torch.float64)
    rows, omegas = [torch.full((n_time,), 1.0 / math.sqrt(n_circle), dtype=torch.float64)], [0.0]
    for f in range(1, n_frequencies):
        omega = 2 * math.pi * f / n_circle
        if 2 * f == n_circle:
            rows.append(torch.cos(omega * t) / math.sqrt(n_circle))
            omegas.append(omega)
            continue
        rows += [math.sqrt(2.0 / n_circle) * torch.cos(omega * t), math.sqrt(2.0 / n_circle) * torch.sin(omega * t)]
        omegas += [omega, omega]
    basis = torch.stack(rows).to(device=device, dtype=dtype)
    return basis, torch.tensor(omegas, device=device, dtype=dtype)


class _RBFHyperparameters(nn.Module):
    """Per-latent RBF length scale in [min, max] bins (a sigmoid of a free parameter) and log variance."""

    def __init__(self, latent_dim: int, length_scale_init: float | list[float], min_length_scale: float,
                 max_length_scale: float, learn_variance: bool) -> None:
        super().__init__()
        self.latent_dim = positive_int("latent_dim", latent_dim)
        self.min_length_scale = positive_float("min_length_scale", min_length_scale)
        self.max_length_scale = positive_float("max_length_scale", max_length_scale)
        if self.max_length_scale <= self.min_length_scale:
            raise ValueError(f"max_length_scale: expected more than min_length_scale = {min_length_scale}, "
                             f"got {max_length_scale}.")
        inits = length_scale_init if isinstance(length_scale_init, (list, tuple)) else [length_scale_init] * latent_dim
        if len(inits) != latent_dim:
            raise ValueError(f"length_scale_init: expected one value or {latent_dim} (one per latent), "
                             f"got {len(inits)}.")
        span = self.max_length_scale - self.min_length_scale
        raw = []
        for value in inits:
            value = positive_float("length_scale_init", value)
            if not self.min_length_scale < value < self.max_length_scale:
                raise ValueError(f"length_scale_init: expected values strictly between min_length_scale "
                                 f"({min_length_scale}) and max_length_scale ({max_length_scale}), got {value}.")
            share = (value - self.min_length_scale) / span
            raw.append(math.log(share / (1 - share)))
        self.raw_length_scale = nn.Parameter(torch.tensor(raw))
        self.log_variance = nn.Parameter(torch.zeros(latent_dim), requires_grad=learn_variance)

    @property
    def length_scale(self) -> torch.Tensor:
        """(latent_dim,) length scales in bins."""
        span = self.max_length_scale - self.min_length_scale
        return self.min_length_scale + span * torch.sigmoid(self.raw_length_scale)

    @property
    def variance(self) -> torch.Tensor:
        """(latent_dim,) marginal variances rho."""
        return torch.exp(self.log_variance.clamp(-8.0, 8.0))


class FourierGPPrior(_RBFHyperparameters):
    """RBF GP prior per latent, diagonal in a pruned real Fourier basis (see the module docstring).

    Parameters
    ----------
    latent_dim : number of latents, each with its own length scale and variance.
    length_scale_init : initial length scale(s) in bins (one value or one per latent).
    min_length_scale, max_length_scale : bounds of the learned length scales (bins).
    padding_scales : the circle is ``T + ceil(padding_scales * max_length_scale)`` long, so the two ends of a
        trial are at least that far apart around the circle.
    condition_threshold : frequencies with c_f < threshold * c_0 at the shortest current length scale are pruned.
    learn_variance : learn the marginal variance rho (else fixed at 1).
    """

    def __init__(self, latent_dim: int, *, length_scale_init: float | list[float] = 5.0,
                 min_length_scale: float = 1.0, max_length_scale: float = 30.0, padding_scales: float = 2.0,
                 condition_threshold: float = 1e-6, learn_variance: bool = True) -> None:
        super().__init__(latent_dim, length_scale_init, min_length_scale, max_length_scale, learn_variance)
        self.padding_scales = positive_float("padding_scales", padding_scales)
        self.condition_threshold = fraction("condition_threshold", condition_threshold)
        self._bases: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def circle_length(self, n_time: int) -> int:
        """Length of the circular domain for trials of ``n_time`` bins."""
        return n_time + int(math.ceil(self.padding_scales * self.max_length_scale))

    def n_frequencies(self, n_time: int, length_scale: float) -> int:
        """Integer frequencies kept: those with exp(-w^2 l^2 / 2) >= condition_threshold."""
        n_circle = self.circle_length(n_time)
        omega_max = math.sqrt(2 * math.log(1 / self.condition_threshold)) / length_scale
        return min(int(math.floor(omega_max * n_circle / (2 * math.pi))) + 1, n_circle // 2 + 1)

    def frame(self, n_time: int, *, device: Any = None, dtype: torch.dtype | None = None) -> GPFrame:
        """Basis (F, T) for the current shortest length scale, the spectrum c (d, F) and its inverse."""
        positive_int("n_time", n_time)
        device = self.raw_length_scale.device if device is None else device
        dtype = self.raw_length_scale.dtype if dtype is None else dtype
        shortest = float(self.length_scale.detach().min())
        key = (n_time, self.n_frequencies(n_time, shortest), str(device), dtype)
        if key not in self._bases:
            if len(self._bases) > 32:
                self._bases.clear()
            self._bases[key] = real_fourier_basis(n_time, self.circle_length(n_time), key[1], device=device,
                                                  dtype=dtype)
        basis, omega = self._bases[key]
        spectrum = rbf_spectral_density(omega, self.length_scale.to(dtype), self.variance.to(dtype))
        return GPFrame(basis=basis, prior_precision=1.0 / spectrum, n_time=n_time, cache={"spectrum": spectrum})

    def kl(self, mean: torch.Tensor, variance: torch.Tensor, frame: GPFrame) -> torch.Tensor:
        """KL(N(mean, diag variance) || prior): mean, variance (trials, d, F) -> (trials,)."""
        spectrum = frame.cache["spectrum"]
        values = 0.5 * ((variance + mean ** 2) / spectrum - 1.0 - torch.log(variance) + torch.log(spectrum))
        return values.sum(dim=(1, 2))

    def sample(self, n_trials: int, n_time: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws from the prior, (n_trials, n_time, latent_dim)."""
        with torch.no_grad():
            frame = self.frame(n_time)
            noise = torch.randn(n_trials, *frame.cache["spectrum"].shape, generator=generator)
            return frame.to_time(noise.to(frame.basis) * frame.cache["spectrum"].sqrt())


class TimeDomainGPPrior(_RBFHyperparameters):
    """The same RBF GP prior in the time domain: full T x T covariance per latent, O(T^3) per step.

    Parameters are those of :class:`FourierGPPrior` without the Fourier ones, plus ``jitter``: relative
    diagonal noise added to K (the RBF Gram matrix is numerically singular without it).
    """

    def __init__(self, latent_dim: int, *, length_scale_init: float | list[float] = 5.0,
                 min_length_scale: float = 1.0, max_length_scale: float = 30.0, jitter: float = 1e-3,
                 learn_variance: bool = True) -> None:
        super().__init__(latent_dim, length_scale_init, min_length_scale, max_length_scale, learn_variance)
        self.jitter = positive_float("jitter", jitter)

    def covariance(self, n_time: int, *, device: Any = None, dtype: torch.dtype | None = None) -> torch.Tensor:
        """(d, T, T) RBF Gram matrices plus jitter * rho on the diagonal."""
        device = self.raw_length_scale.device if device is None else device
        dtype = self.raw_length_scale.dtype if dtype is None else dtype
        t = torch.arange(n_time, device=device, dtype=dtype)
        squared = (t[:, None] - t[None, :]) ** 2
        scale, rho = self.length_scale.to(dtype)[:, None, None], self.variance.to(dtype)[:, None, None]
        eye = torch.eye(n_time, device=device, dtype=dtype)
        return rho * (torch.exp(-0.5 * squared / scale ** 2) + self.jitter * eye)

    def frame(self, n_time: int, *, device: Any = None, dtype: torch.dtype | None = None) -> GPFrame:
        """Identity basis; the Cholesky factor of K and diag(K^-1) (d, T)."""
        positive_int("n_time", n_time)
        cholesky = torch.linalg.cholesky(self.covariance(n_time, device=device, dtype=dtype))
        inverse = torch.cholesky_inverse(cholesky)
        return GPFrame(basis=None, prior_precision=torch.diagonal(inverse, dim1=-2, dim2=-1), n_time=n_time,
                       cache={"cholesky": cholesky, "inverse": inverse})

    def kl(self, mean: torch.Tensor, variance: torch.Tensor, frame: GPFrame) -> torch.Tensor:
        """KL(N(mean, diag variance) || N(0, K)): mean, variance (trials, d, T) -> (trials,)."""
        cholesky, inverse = frame.cache["cholesky"], frame.cache["inverse"]
        trace = (variance * torch.diagonal(inverse, dim1=-2, dim2=-1)).sum(dim=(1, 2))
        whitened = torch.linalg.solve_triangular(cholesky, mean.transpose(0, 1).transpose(1, 2), upper=False)
        quadratic = (whitened ** 2).sum(dim=(0, 1))
        log_det = 2 * torch.log(torch.diagonal(cholesky, dim1=-2, dim2=-1)).sum()
        n_values = mean.shape[1] * mean.shape[2]
        return 0.5 * (trace + quadratic - n_values + log_det - torch.log(variance).sum(dim=(1, 2)))

    def sample(self, n_trials: int, n_time: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws from the prior, (n_trials, n_time, latent_dim)."""
        with torch.no_grad():
            cholesky = torch.linalg.cholesky(self.covariance(n_time))
            noise = torch.randn(self.latent_dim, n_time, n_trials, generator=generator).to(cholesky)
            return (cholesky @ noise).permute(2, 1, 0)


GP_PRIORS = {"fourier": FourierGPPrior, "time": TimeDomainGPPrior}
