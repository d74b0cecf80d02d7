"""Latent trajectories coloured by condition."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuralign._checks import as_array
from neuralign.plot._style import condition_colors, new_axes


def principal_axes(latents: np.ndarray, n_components: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Mean and principal axes (n_components, d) of latents (trials, time, d), for a shared projection."""
    latents = as_array("latents", latents, ndim=3)
    flat = latents.reshape(-1, latents.shape[2])
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    axes = vt[:n_components]
    if axes.shape[0] < n_components:  # pad when d < n_components
        axes = np.vstack([axes, np.zeros((n_components - axes.shape[0], flat.shape[1]))])
    return mean, axes


def latent_trajectories(latents: np.ndarray, labels: np.ndarray, *, ax: Any = None, dims: int = 3,
                        projection: tuple[np.ndarray, np.ndarray] | None = None, title: str = "",
                        show_trials: bool = True) -> Any:
    """Plot latent trajectories, thin per trial and thick per condition mean, projected on principal axes.

    Parameters
    ----------
    latents : (trials, time, d)
    labels : (trials,) condition of each trial (colour).
    ax : axes to draw on (a 3-D axes when dims=3); a new figure when None.
    dims : 2 or 3 plotted dimensions.
    projection : (mean, axes) from :func:`principal_axes`, to show several sets in the same frame.
    """
    latents = as_array("latents", latents, ndim=3)
    labels = np.asarray(labels)
    if labels.shape != (latents.shape[0],):
        raise ValueError(f"labels: expected shape ({latents.shape[0]},) (one per trial), got {labels.shape}.")
    if dims not in (2, 3):
        raise ValueError(f"dims: expected 2 or 3, got {dims!r}.")
    mean, axes = projection if projection is not None else principal_axes(latents, dims)
    projected = (latents - mean) @ axes[:dims].T
    ax = new_axes(ax, "3d" if dims == 3 else None)
    colors = condition_colors(labels)
    for condition, color in colors.items():
        members = projected[labels == condition]
        if show_trials:
            for trial in members:
                ax.plot(*trial.T, color=color, alpha=0.15, linewidth=0.7)
        average = members.mean(0)
        ax.plot(*average.T, color=color, linewidth=2.5, label=str(condition))
        ax.scatter(*average[0], color=color, s=12, marker="o")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    if dims == 3:
        ax.set_zlabel("PC 3")
    if title:
        ax.set_title(title)
    return ax
