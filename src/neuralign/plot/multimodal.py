"""Plots of multimodal models: latents coloured by class, image grids, accuracy against ring radius."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from neuralign._checks import as_array
from neuralign.plot._style import condition_colors, new_axes


def latents_by_class(latents: np.ndarray, labels: np.ndarray, *, ax: Any = None, title: str = "") -> Any:
    """Scatter latents (samples, d) or (trials, time, d) on their first two principal axes, coloured by class."""
    latents = as_array("latents", latents)
    flat = latents.reshape(latents.shape[0], -1)
    labels = np.asarray(labels)
    if labels.shape != (flat.shape[0],):
        raise ValueError(f"labels: expected shape ({flat.shape[0]},) (one per sample), got {labels.shape}.")
    centred = flat - flat.mean(0)
    if centred.shape[1] >= 2:
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        projected = centred @ vt[:2].T
    else:
        projected = np.column_stack([centred[:, 0], np.zeros(len(centred))])
    ax = new_axes(ax)
    for label, color in condition_colors(labels).items():
        members = projected[labels == label]
        ax.scatter(members[:, 0], members[:, 1], s=6, color=color, alpha=0.7, label=str(label))
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def image_grid(images: np.ndarray, *, n_columns: int = 10, ax: Any = None, title: str = "") -> Any:
    """Tile square images (n, pixels) or (n, side, side) into one grey-level image (row-major)."""
    images = as_array("images", images)
    n = images.shape[0]
    side = int(round(np.sqrt(images.reshape(n, -1).shape[1])))
    if side * side != images.reshape(n, -1).shape[1]:
        raise ValueError(f"images: expected square images, got {images.reshape(n, -1).shape[1]} pixels each.")
    if not isinstance(n_columns, int) or n_columns < 1:
        raise ValueError(f"n_columns: expected a positive integer, got {n_columns!r}.")
    tiles = images.reshape(n, side, side)
    n_rows = -(-n // n_columns)
    canvas = np.ones((n_rows * (side + 1), n_columns * (side + 1))) * np.nan
    for index, tile in enumerate(tiles):
        row, column = divmod(index, n_columns)
        canvas[row * (side + 1):row * (side + 1) + side, column * (side + 1):column * (side + 1) + side] = tile
    ax = new_axes(ax)
    ax.imshow(canvas, cmap="gray_r", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def accuracy_vs_radius(radii: Sequence[float], accuracies: Mapping[str, Sequence[float]], *, ax: Any = None,
                       reference: Sequence[float] | None = None, ylabel: str = "ring-latent accuracy") -> Any:
    """One line per strategy of accuracy against ring radius; ``reference``: the raw points' linear accuracy."""
    radii = as_array("radii", radii, ndim=1)
    ax = new_axes(ax)
    for name, values in accuracies.items():
        values = as_array(f"accuracies[{name!r}]", values, ndim=1)
        if values.shape != radii.shape:
            raise ValueError(f"accuracies[{name!r}]: expected {radii.shape[0]} values (one per radius), "
                             f"got {values.shape[0]}.")
        ax.plot(radii, values, marker="o", label=name)
    if reference is not None:
        ax.plot(radii, as_array("reference", reference, ndim=1), color="k", linestyle="--", label="raw (linear)")
    ax.set_xlabel("ring radius (cluster std fixed)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax
