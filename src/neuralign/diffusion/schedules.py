"""Variance-preserving (VP) noise schedules in continuous time.

The forward process perturbs clean latents ``z0`` into

    z_t = mu_t z0 + sigma_t eps,   eps ~ N(0, I),   mu_t = sqrt(alpha_bar(t)),   sigma_t = sqrt(1 - alpha_bar(t)),

for t in [t_min, 1]. It is the marginal of the VP SDE (Song et al. 2021)

    dz = -beta(t) z / 2 dt + g(t) dW,   g(t)^2 = beta(t) = -d log alpha_bar(t) / dt.

Kinds:

- ``"linear"``: beta(t) = beta_min + t (beta_max - beta_min), so
  alpha_bar(t) = exp(-(beta_min t + (beta_max - beta_min) t^2 / 2)).
- ``"cosine"`` (Nichol & Dhariwal 2021): alpha_bar(t) = cos^2(theta(t)) / cos^2(theta(0)) with
  theta(t) = (t + s) / (1 + s) * pi / 2, whose beta(t) = pi / (1 + s) * tan(theta(t)) diverges at t = 1. As the
  discrete schedule clips beta_t at 0.999, beta(t) is clipped at ``beta_max`` from the time t_c it reaches it:
  log alpha_bar(t) = log alpha_bar(t_c) - beta_max (t - t_c) for t > t_c. beta stays finite and consistent with
  alpha_bar, and alpha_bar(1) > 0 (about 3e-3 with the defaults).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neuralign._checks import one_of, positive_float

SCHEDULE_KINDS = ("cosine", "linear")


class VPSchedule(nn.Module):
    """A continuous-time VP schedule; every method takes t: (...) and returns a tensor of the same shape.

    Parameters
    ----------
    kind : ``"cosine"`` or ``"linear"``.
    s : offset of the cosine schedule.
    beta_min, beta_max : beta(0) and beta(1) of the linear schedule; ``beta_max`` is also the ceiling at which
        the cosine schedule's beta(t) is clipped.

    Times are meant to lie in [0, 1]; results follow ``t``'s device and dtype.
    """

    def __init__(self, kind: str = "cosine", *, s: float = 0.008, beta_min: float = 0.1,
                 beta_max: float = 20.0) -> None:
        super().__init__()
        self.kind = one_of("kind", kind, SCHEDULE_KINDS)
        self.s = positive_float("s", s)
        self.beta_min = positive_float("beta_min", beta_min)
        self.beta_max = positive_float("beta_max", beta_max)
        if self.beta_max <= self.beta_min:
            raise ValueError(f"beta_max: expected a number > beta_min ({self.beta_min}), got {self.beta_max}.")
        # cosine: time at which pi / (1 + s) tan(theta(t)) reaches beta_max
        theta_clip = math.atan(self.beta_max * (1 + self.s) / math.pi)
        self.t_clip = theta_clip * 2 / math.pi * (1 + self.s) - self.s
        self._log_cos_theta0 = math.log(math.cos(self.s / (1 + self.s) * math.pi / 2))

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, s={self.s}, beta_min={self.beta_min}, beta_max={self.beta_max}"

    @staticmethod
    def _as_time(t: torch.Tensor | float) -> torch.Tensor:
        t = torch.as_tensor(t)
        return t if t.is_floating_point() else t.to(torch.get_default_dtype())

    def _theta(self, t: torch.Tensor) -> torch.Tensor:
        return (t + self.s) / (1 + self.s) * (math.pi / 2)

    def log_alpha_bar(self, t: torch.Tensor | float) -> torch.Tensor:
        """log alpha_bar(t) = -int_0^t beta(u) du."""
        t = self._as_time(t)
        if self.kind == "linear":
            return -(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t ** 2)
        t_unclipped = torch.clamp(t, max=self.t_clip)
        log_alpha = 2 * (torch.log(torch.cos(self._theta(t_unclipped))) - self._log_cos_theta0)
        # clamp: rounding can make log alpha_bar(0) a hair above 0, and sigma_0 = sqrt(-expm1(.)) NaN
        return torch.clamp(log_alpha, max=0.0) - self.beta_max * torch.relu(t - self.t_clip)

    def alpha_bar(self, t: torch.Tensor | float) -> torch.Tensor:
        """alpha_bar(t) = mu_t^2, decreasing from 1 at t = 0."""
        return torch.exp(self.log_alpha_bar(t))

    def mean_coef(self, t: torch.Tensor | float) -> torch.Tensor:
        """mu_t = sqrt(alpha_bar(t))."""
        return torch.exp(0.5 * self.log_alpha_bar(t))

    def std(self, t: torch.Tensor | float) -> torch.Tensor:
        """sigma_t = sqrt(1 - alpha_bar(t)) (computed with expm1, accurate near t = 0)."""
        return torch.sqrt(-torch.expm1(self.log_alpha_bar(t)))

    def beta(self, t: torch.Tensor | float) -> torch.Tensor:
        """beta(t) = -d log alpha_bar / dt (analytic)."""
        t = self._as_time(t)
        if self.kind == "linear":
            return self.beta_min + t * (self.beta_max - self.beta_min)
        raw = math.pi / (1 + self.s) * torch.tan(self._theta(torch.clamp(t, max=self.t_clip)))
        return torch.where(t < self.t_clip, raw, torch.full_like(raw, self.beta_max))

    def g2(self, t: torch.Tensor | float) -> torch.Tensor:
        """g(t)^2, the squared diffusion coefficient of the VP SDE; equal to beta(t)."""
        return self.beta(t)

    def drift(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The VP SDE drift f(z, t) = -beta(t) z / 2.

        Parameters
        ----------
        z : (batch, ...) state.
        t : (batch,) times.
        """
        beta = self.beta(t).to(z).reshape(-1, *([1] * (z.ndim - 1)))
        return -0.5 * beta * z
