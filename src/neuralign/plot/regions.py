"""Plots of latents across regions or layers: 2-D views, displacement arrows, per-class displacement bars,
similarity matrices and similarity against the alignment weight. Each function takes ``ax=None`` and returns
the axes it drew on."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from neuralign._checks import as_array, describe
from neuralign.plot._style import new_axes, pyplot


def _label_colors(labels: np.ndarray | None, n: int) -> tuple[np.ndarray, Any]:
    plt = pyplot()
    if labels is None:
        return np.zeros(n), plt.get_cmap("Greys")
    return np.asarray(labels), plt.get_cmap("tab10" if len(np.unique(labels)) <= 10 else "hsv")


def latent_view(view: Any, labels: Any = None, *, ax: Any = None, title: str = "", size: float = 6.0) -> Any:
    """Scatter of a 2-D view (samples, 2), coloured by class."""
    view = as_array("view", view, ndim=2)
    if view.shape[1] != 2:
        raise ValueError(f"view: expected (samples, 2) points, got {describe(view)}; use analysis.aligned_views.")
    ax = new_axes(ax)
    colours, cmap = _label_colors(None if labels is None else as_array("labels", labels, ndim=1, dtype=None),
                                  len(view))
    ax.scatter(view[:, 0], view[:, 1], c=colours, cmap=cmap, s=size, linewidths=0)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def displacement_arrows(start: Any, end: Any, labels: Any = None, *, ax: Any = None, max_arrows: int = 300,
                        seed: int = 0, title: str = "") -> Any:
    """Arrows from each sample's 2-D position in one region (``start``) to the next (``end``), coloured by class."""
    start = as_array("start", start, ndim=2)
    end = as_array("end", end, ndim=2)
    if start.shape != end.shape or start.shape[1] != 2:
        raise ValueError(f"end: expected (samples, 2) like start {start.shape}, got {describe(end)}.")
    ax = new_axes(ax)
    index = np.random.default_rng(seed).permutation(len(start))[:max_arrows]
    colours, cmap = _label_colors(None if labels is None else np.asarray(labels), len(start))
    delta = end - start
    norm = pyplot().Normalize(colours.min(), max(colours.max(), colours.min() + 1))
    ax.quiver(start[index, 0], start[index, 1], delta[index, 0], delta[index, 1], color=cmap(norm(colours[index])),
              angles="xy", scale_units="xy", scale=1.0, width=0.004, alpha=0.8)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def class_displacement_bars(per_class: Any, pairs: Sequence[str], classes: Sequence[Any], *, ax: Any = None,
                            title: str = "") -> Any:
    """Grouped bars: mean displacement (n_pairs, n_classes) per class, one colour per transition."""
    per_class = as_array("per_class", per_class, ndim=2)
    if per_class.shape != (len(pairs), len(classes)):
        raise ValueError(f"per_class: expected shape (len(pairs), len(classes)) = ({len(pairs)}, {len(classes)}), "
                         f"got {describe(per_class)}.")
    ax = new_axes(ax)
    width = 0.8 / len(pairs)
    positions = np.arange(len(classes))
    for index, pair in enumerate(pairs):
        ax.bar(positions + (index - (len(pairs) - 1) / 2) * width, per_class[index], width, label=pair)
    ax.set_xticks(positions)
    ax.set_xticklabels([str(c) for c in classes])
    ax.set_xlabel("class")
    ax.set_ylabel("mean displacement")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return ax


def similarity_heatmap(matrix: Any, names: Sequence[str], *, ax: Any = None, title: str = "") -> Any:
    """A (K, K) similarity matrix with its values written in the cells."""
    matrix = as_array("matrix", matrix, ndim=2)
    if matrix.shape != (len(names), len(names)):
        raise ValueError(f"matrix: expected ({len(names)}, {len(names)}) for {len(names)} names, got "
                         f"{describe(matrix)}.")
    ax = new_axes(ax)
    ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] < 0.6 else "black")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, fontsize=7)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=7)
    ax.set_title(title)
    return ax


def similarity_vs_lambda(lambdas: Sequence[float], curves: Mapping[str, Sequence[float]], *, ax: Any = None,
                         ylabel: str = "similarity", title: str = "") -> Any:
    """One line per curve (e.g. "layer1 vs layer3") of a value against lambda (symlog x axis: lambda = 0 shows)."""
    lambdas = as_array("lambdas", lambdas, ndim=1)
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError(f"curves: expected a dict name -> values (one per lambda), got {describe(curves)}.")
    ax = new_axes(ax)
    for name, values in curves.items():
        values = as_array(f"curves[{name!r}]", values, ndim=1)
        if len(values) != len(lambdas):
            raise ValueError(f"curves[{name!r}]: expected {len(lambdas)} values (one per lambda), got {len(values)}.")
        ax.plot(lambdas, values, marker="o", label=name)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("lambda")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return ax


def region_panels(views: Mapping[str, Any], labels: Any = None, *, title: str = "") -> Any:
    """A figure with one 2-D view per region (top row) and displacement arrows between consecutive regions
    (bottom row). Returns the figure."""
    plt = pyplot()
    names = list(views)
    figure, axes = plt.subplots(2, len(names), figsize=(3.0 * len(names), 6.0), squeeze=False)
    for index, name in enumerate(names):
        latent_view(views[name], labels, ax=axes[0, index], title=name)
        if index + 1 < len(names):
            displacement_arrows(views[name], views[names[index + 1]], labels, ax=axes[1, index],
                                title=f"{name} -> {names[index + 1]}")
        else:
            axes[1, index].axis("off")
    figure.suptitle(title)
    figure.tight_layout()
    return figure
