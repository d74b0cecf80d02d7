"""Denoising score-matching loss and the trajectory diffusion model that trains and samples with it.

With t ~ U(t_min, 1), eps ~ N(0, I) and z_t = mu_t z0 + sigma_t eps (see ``schedules``), the denoiser is
trained with

    L(theta) = E_t E_eps mean_{l, d} (eps - eps_theta(z_t, t))^2,

the noise-prediction form of denoising score matching; the score estimate is s_theta(z, t) = -eps_theta / sigma_t.

``TrajectoryDiffusion`` diffuses scaled latents x0 = z0 / data_scale, with ``data_scale``: (d,) the standard
deviation of each latent dimension over the training trajectories (set by ``fit``; ones before). The caller
passes latents in their own units: nothing else is standardised, ``sample`` returns latents in those units
(x0 * data_scale) and the likelihood bound adds the log-Jacobian of the scaling, so the prior works for
latents of any scale.

``TrajectoryDiffusion.denoise`` uses the prior the other way round: trajectories observed with Gaussian noise of
standard deviation s (in scaled units) are, after scaling by mu_t, distributed like z_t at the time t where
sigma_t / mu_t = s, so one step of Tweedie's formula, x0_hat = (z_t - sigma_t eps_theta(z_t, t)) / mu_t, is their
posterior mean under the learned prior (Efron 2011; the x0 prediction of a diffusion model).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from neuralign._checks import as_array, describe, fraction, one_of, positive_float, positive_int
from neuralign.diffusion import _random
from neuralign.diffusion.denoiser import check_trajectories
from neuralign.diffusion.sampler import SAMPLING_METHODS, sample_reverse
from neuralign.diffusion.schedules import VPSchedule
from neuralign.train import History, TrainConfig, train


def _check_denoiser(denoiser: object) -> nn.Module:
    if not isinstance(denoiser, nn.Module):
        raise TypeError(f"denoiser: expected a torch.nn.Module such as SpatioTemporalDenoiser, "
                        f"got {describe(denoiser)}.")
    for name in ("n_time", "latent_dim"):
        if not isinstance(getattr(denoiser, name, None), int):
            raise TypeError(f"denoiser: expected a module with integer attributes n_time and latent_dim (the "
                            f"trajectory shape it denoises), but {type(denoiser).__name__} has no {name}.")
    return denoiser


def _check_schedule(schedule: object) -> VPSchedule:
    if not isinstance(schedule, VPSchedule):
        raise TypeError(f"schedule: expected a VPSchedule, got {describe(schedule)}.")
    return schedule


def perturb(schedule: VPSchedule, x0: torch.Tensor, t: torch.Tensor,
            eps: torch.Tensor) -> torch.Tensor:
    """z_t = mu_t x0 + sigma_t eps for x0, eps: (batch, l, d) and t: (batch,)."""
    return schedule.mean_coef(t)[:, None, None] * x0 + schedule.std(t)[:, None, None] * eps


def denoising_loss(denoiser: nn.Module, schedule: VPSchedule, z0: torch.Tensor, *, t_min: float = 1e-3,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte-Carlo denoising loss mean (eps - eps_theta(z_t, t))^2, one (t, eps) draw per trajectory.

    Parameters
    ----------
    denoiser : eps_theta(z_t, t) with attributes ``n_time`` and ``latent_dim``.
    schedule : the VP schedule giving mu_t, sigma_t.
    z0 : (batch, l, d) clean trajectories (already in the space being diffused).
    t_min : smallest diffusion time; t ~ U(t_min, 1).
    generator : source of the random t and eps (default: the global torch generator).

    Returns
    -------
    () scalar loss, the mean over batch, time bins and latent dimensions.
    """
    _check_denoiser(denoiser)
    _check_schedule(schedule)
    check_trajectories("z0", z0, denoiser.n_time, denoiser.latent_dim)
    fraction("t_min", t_min)
    _random.check_generator(generator)
    batch = z0.shape[0]
    t = t_min + (1.0 - t_min) * _random.rand((batch,), z0, generator)
    eps = _random.randn(tuple(z0.shape), z0, generator)
    return torch.mean((eps - denoiser(perturb(schedule, z0, t, eps), t)) ** 2)


class TrajectoryDiffusion(nn.Module):
    """A diffusion model over latent trajectories: denoiser + schedule + per-dimension data scale.

    Parameters
    ----------
    denoiser : eps_theta(z_t, t) with attributes ``n_time`` (l) and ``latent_dim`` (d), e.g. a
        SpatioTemporalDenoiser.
    schedule : the VP noise schedule (default: cosine).
    t_min : smallest diffusion time used by the loss, the sampler and the likelihood bound.

    Examples
    --------
    >>> import numpy as np
    >>> from neuralign.diffusion import SpatioTemporalDenoiser, TrajectoryDiffusion
    >>> latents = np.random.default_rng(0).normal(size=(32, 6, 2)).astype("float32")
    >>> model = TrajectoryDiffusion(SpatioTemporalDenoiser(6, 2, width=8, n_blocks=1))
    >>> model = model.fit(latents, max_epochs=2, device="cpu")
    >>> tuple(model.sample(3, steps=5).shape)
    (3, 6, 2)
    """

    def __init__(self, denoiser: nn.Module, schedule: VPSchedule | None = None, *, t_min: float = 1e-3) -> None:
        super().__init__()
        self.denoiser = _check_denoiser(denoiser)
        self.schedule = _check_schedule(VPSchedule() if schedule is None else schedule)
        self.t_min = fraction("t_min", t_min)
        self.register_buffer("data_scale", torch.ones(denoiser.latent_dim))
        self.history_: History | None = None

    @property
    def n_time(self) -> int:
        return self.denoiser.n_time

    @property
    def latent_dim(self) -> int:
        return self.denoiser.latent_dim

    def to_scaled(self, z0: torch.Tensor) -> torch.Tensor:
        """x0 = z0 / data_scale for z0: (batch, l, d), in z0's dtype and on its device."""
        check_trajectories("z0", z0, self.n_time, self.latent_dim)
        return z0 / self.data_scale.to(z0)

    def loss(self, z0: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Denoising loss (scalar) of trajectories z0: (batch, l, d) in the caller's units."""
        return denoising_loss(self.denoiser, self.schedule, self.to_scaled(z0), t_min=self.t_min,
                              generator=generator)

    def sample(self, n: int, *, generator: torch.Generator | None = None, steps: int = 100,
               method: str = "ddim") -> torch.Tensor:
        """Draw ``n`` trajectories: (n, l, d) in the caller's units, on the model's device and dtype.

        Parameters
        ----------
        n : number of trajectories.
        generator : source of the initial noise (and of the DDPM noise).
        steps : number of reverse steps on a uniform grid of t from 1 to t_min.
        method : ``"ddim"`` (deterministic, eta = 0) or ``"ddpm"`` (ancestral).
        """
        positive_int("n", n)
        positive_int("steps", steps)
        one_of("method", method, SAMPLING_METHODS)
        _random.check_generator(generator)
        reference = self.data_scale
        x_init = _random.randn((n, self.n_time, self.latent_dim), reference, generator)
        with self._eval_mode():
            x0 = sample_reverse(self.denoiser, self.schedule, x_init, steps=steps, t_min=self.t_min,
                                method=method, generator=generator)
        return x0 * reference

    def noise_time(self, noise_level: float) -> float:
        """The diffusion time t at which sigma_t / mu_t equals ``noise_level`` (> 0, in scaled units), i.e.
        alpha_bar(t) = 1 / (1 + noise_level^2), found by bisection; never below ``t_min``."""
        noise_level = positive_float("noise_level", noise_level)
        target = -float(np.log1p(noise_level ** 2))
        low, high = self.t_min, 1.0
        if float(self.schedule.log_alpha_bar(low)) <= target:
            return low
        if float(self.schedule.log_alpha_bar(high)) > target:
            raise ValueError(f"noise_level: expected a level the schedule reaches by t = 1 (sigma_1 / mu_1 = "
                             f"{float(self.schedule.std(1.0) / self.schedule.mean_coef(1.0)):.3g}), got {noise_level}.")
        for _ in range(60):
            middle = 0.5 * (low + high)
            low, high = (middle, high) if float(self.schedule.log_alpha_bar(middle)) > target else (low, middle)
        return 0.5 * (low + high)

    @torch.no_grad()
    def denoise(self, z: torch.Tensor, noise_level: float) -> torch.Tensor:
        """Posterior mean of trajectories ``z``: (batch, l, d), in the caller's units, read as clean trajectories
        plus Gaussian noise of standard deviation ``noise_level`` in scaled units (a fraction of each latent's
        standard deviation over the training trajectories): one Tweedie step at ``noise_time(noise_level)``
        (module docstring). Returns (batch, l, d) in the caller's units, on ``z``'s device (the work runs on the
        prior's)."""
        x = self.to_scaled(z.to(self.data_scale.device))
        t = torch.full((x.shape[0],), self.noise_time(noise_level), dtype=x.dtype, device=x.device)
        mu, sigma = self.schedule.mean_coef(t)[:, None, None], self.schedule.std(t)[:, None, None]
        with self._eval_mode():
            x_t = mu * x
            x0 = (x_t - sigma * self.denoiser(x_t, t)) / mu
        return (x0 * self.data_scale.to(x0)).to(z.device)

    @contextlib.contextmanager
    def _eval_mode(self) -> Iterator[None]:
        """Eval mode (no dropout) inside the block, the previous mode restored after it."""
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)

    def fit(self, latents: np.ndarray | torch.Tensor, *, max_epochs: int = 200, batch_size: int = 64,
            learning_rate: float = 1e-3, seed: int = 0, device: str | None = None, verbose: bool = False,
            val_fraction: float = 0.1, patience: int = 40) -> TrajectoryDiffusion:
        """Fit the denoiser to latent trajectories with the shared training loop.

        Parameters
        ----------
        latents : (trials, l, d) latent trajectories in the caller's units (e.g. posterior means of an LVM).
            ``data_scale`` is set to their per-dimension standard deviation (over trials and time bins).
        max_epochs, batch_size, learning_rate, seed, device, verbose, val_fraction, patience :
            settings of ``neuralign.train.TrainConfig``.

        Returns
        -------
        self, in eval mode, on ``device``, with ``history_`` set. Training starts from the current weights.
        """
        array = as_array("latents", latents, ndim=3, dtype=np.float64)
        if tuple(array.shape[1:]) != (self.n_time, self.latent_dim):
            raise ValueError(f"latents: expected (trials, time, latent) = (trials, {self.n_time}, "
                             f"{self.latent_dim}) to match the denoiser, got {describe(array)}.")
        if array.shape[0] < 2:
            raise ValueError(f"latents: expected at least 2 trajectories to estimate data_scale, got "
                             f"{array.shape[0]}.")
        scale = array.reshape(-1, self.latent_dim).std(axis=0)
        if not (scale > 1e-12).all():
            raise ValueError(f"latents: latent dimensions {np.flatnonzero(scale <= 1e-12).tolist()} are constant "
                             "across trials and time; drop them before fitting the diffusion prior.")
        config = TrainConfig(max_epochs=max_epochs, batch_size=batch_size, learning_rate=learning_rate,
                             seed=seed, device=device, verbose=verbose, val_fraction=val_fraction,
                             patience=patience)
        self.data_scale.copy_(torch.as_tensor(scale, dtype=self.data_scale.dtype))
        dtype = next(self.parameters()).dtype
        sessions = [{"latents": torch.as_tensor(array, dtype=dtype)}]
        self.history_ = train(self, lambda batch: {"loss": self.loss(batch["latents"])}, sessions, config)
        self.eval()
        return self
