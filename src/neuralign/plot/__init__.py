"""Plotting: each function takes arrays and ``ax=None`` and returns the axes it drew on."""

from neuralign.plot.latents import latent_trajectories, principal_axes
from neuralign.plot.behavior import decoded_paths, decoded_traces

__all__ = ["latent_trajectories", "principal_axes", "decoded_paths", "decoded_traces"]
