"""Plotting: each function takes arrays and ``ax=None`` and returns the axes it drew on."""

from neuralign.plot.alignment import candidate_scores
from neuralign.plot.latents import latent_trajectories, principal_axes
from neuralign.plot.behavior import decoded_paths, decoded_traces
from neuralign.plot.regions import (class_displacement_bars, displacement_arrows, latent_view, region_panels,
                                    similarity_heatmap, similarity_vs_lambda)
from neuralign.plot.mmd import embedding, mmd_matrix, null_distribution
from neuralign.plot.recovery import latent_fit
from neuralign.plot.snapshots import distance_over_time, snapshot_clouds, velocity_arrows

__all__ = ["candidate_scores", "latent_trajectories", "principal_axes", "decoded_paths", "decoded_traces",
           "class_displacement_bars", "displacement_arrows", "latent_view", "region_panels", "similarity_heatmap",
           "similarity_vs_lambda", "embedding", "mmd_matrix", "null_distribution", "latent_fit",
           "distance_over_time", "snapshot_clouds", "velocity_arrows"]
