"""Figures of two-sample comparisons: the permutation null with the observed MMD^2, a 2-D latent embedding coloured
by group, and a matrix of MMD^2 between groups."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from neuralign._checks import as_array
from neuralign.plot._style import new_axes, pyplot


def null_distribution(null: Any, observed: float, *, p_value: float | None = None, ax: Any = None,
                      title: str | None = None) -> Any:
    """Histogram of the permutation null (n_permutations,) with the observed statistic as a vertical line."""
    null = as_array("null", null, ndim=1)
    ax = new_axes(ax)
    ax.hist(null, bins=min(50, max(10, null.size // 20)), color="0.6", edgecolor="white")
    label = f"observed {observed:.3g}" + (f" (p = {p_value:.3g})" if p_value is not None else "")
    ax.axvline(observed, color="tab:red", lw=2, label=label)
    ax.set_xlabel("MMD$^2$")
    ax.set_ylabel("permutations")
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def embedding(points: Any, groups: Sequence[Any], *, ax: Any = None, title: str | None = None,
              method: str = "") -> Any:
    """Scatter of (samples, 2) embedded latents, one colour per group label in ``groups`` (samples,)."""
    points = as_array("points", points, ndim=2)
    groups = np.asarray(groups)
    if groups.shape[0] != points.shape[0]:
        raise ValueError(f"groups: expected one label per point ({points.shape[0]}), got {groups.shape[0]}.")
    ax = new_axes(ax)
    cmap = pyplot().get_cmap("tab10")
    for index, name in enumerate(dict.fromkeys(groups.tolist())):
        keep = groups == name
        ax.scatter(points[keep, 0], points[keep, 1], s=10, alpha=0.7, color=cmap(index % 10), label=str(name))
    ax.set_xlabel(f"{method} 1".strip())
    ax.set_ylabel(f"{method} 2".strip())
    ax.legend(frameon=False, fontsize=8, markerscale=2)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def mmd_matrix(matrix: Any, names: Sequence[str], *, p_value: Any = None, ax: Any = None,
               title: str | None = None) -> Any:
    """Heatmap of a (groups, groups) MMD^2 matrix; cells with ``p_value`` < 0.01 are marked with a star."""
    matrix = as_array("matrix", matrix, ndim=2, dtype=np.float64)
    if matrix.shape != (len(names), len(names)):
        raise ValueError(f"names: expected {matrix.shape[0]} names for a {matrix.shape} matrix, got {len(names)}.")
    ax = new_axes(ax)
    image = ax.imshow(matrix, cmap="viridis")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, label="MMD$^2$")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    if p_value is not None:
        p_value = as_array("p_value", p_value, ndim=2, dtype=np.float64, finite=False)
        for i, j in zip(*np.nonzero(p_value < 0.01), strict=True):
            ax.text(j, i, "*", ha="center", va="center", color="white", fontsize=12)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
