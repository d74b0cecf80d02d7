"""neuralign.diffusion: a diffusion model over whole latent trajectories (batch, time l, latent d).

- ``schedules``: continuous-time VP noise schedules (cosine, linear).
- ``denoiser``: the spatio-temporal transformer eps_theta(z_t, t).
- ``loss``: the denoising loss and ``TrajectoryDiffusion`` (fit, sample).
- ``sampler``: DDIM and ancestral DDPM reverse samplers.
- ``likelihood``: the Hutchinson-Skilling divergence and the score-matching bound on -log p_0 (ERDiff).
"""

from neuralign.diffusion.denoiser import SpatioTemporalDenoiser
from neuralign.diffusion.likelihood import hutchinson_divergence, score_matching_bound
from neuralign.diffusion.loss import TrajectoryDiffusion, denoising_loss
from neuralign.diffusion.schedules import VPSchedule

__all__ = [
           "SpatioTemporalDenoiser",
           "TrajectoryDiffusion",
           "VPSchedule",
           "denoising_loss",
           "hutchinson_divergence",
           "score_matching_bound",
]
