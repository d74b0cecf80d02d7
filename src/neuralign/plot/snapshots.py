"""Figures of population dynamics from snapshots: clouds over time (observed and predicted), a velocity field as
arrows (optionally over its curl), and a distance (W1, W2) over time per method. Points of more than two
dimensions are drawn in a 2-D projection: ``projection`` (d, 2), default the first two coordinates."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from neuralign._checks import as_array, describe
from neuralign.plot._style import new_axes, pyplot


def _project(name: str, points: Any, projection: Any) -> np.ndarray:
    points = as_array(name, points, ndim=2)
    if projection is None:
        if points.shape[1] < 2:
            raise ValueError(f"{name}: expected points of at least 2 dimensions to draw, got {describe(points)}.")
        return points[:, :2]
    projection = as_array("projection", projection, ndim=2)
    if projection.shape != (points.shape[1], 2):
        raise ValueError(f"projection: expected a ({points.shape[1]}, 2) matrix for {name}'s {points.shape[1]} "
                         f"dimensions, got {describe(projection)}.")
    return points @ projection


def snapshot_clouds(times: Any, clouds: Sequence[Any], *, predicted: Sequence[Any] | None = None,
                    predicted_times: Any = None, projection: Any = None, ax: Any = None,
                    title: str | None = None) -> Any:
    """Observed clouds (filled dots) and predicted clouds (open circles), coloured by time.

    times : (K,) times of ``clouds`` (K arrays (n_k, d)); predicted : optional clouds at ``predicted_times``
    (default ``times``).
    """
    times = as_array("times", times, ndim=1, dtype=np.float64)
    if len(clouds) != len(times):
        raise ValueError(f"clouds: expected one cloud per time ({len(times)}), got {len(clouds)}.")
    predicted = list(predicted or [])
    predicted_times = times if predicted_times is None else as_array("predicted_times", predicted_times, ndim=1,
                                                                     dtype=np.float64)
    if predicted and len(predicted) != len(predicted_times):
        raise ValueError(f"predicted: expected one cloud per predicted time ({len(predicted_times)}), got "
                         f"{len(predicted)}.")
    ax = new_axes(ax)
    cmap = pyplot().get_cmap("viridis")
    low, high = float(min(times.min(), predicted_times.min())), float(max(times.max(), predicted_times.max()))

    def colour(t: float) -> Any:
        return cmap((t - low) / (high - low) if high > low else 0.0)

    for k, (t, cloud) in enumerate(zip(times, clouds)):
        points = _project(f"clouds[{k}]", cloud, projection)
        ax.scatter(points[:, 0], points[:, 1], s=5, alpha=0.5, color=colour(t), label=f"t={t:g}")
    for k, (t, cloud) in enumerate(zip(predicted_times, predicted)):
        points = _project(f"predicted[{k}]", cloud, projection)
        ax.scatter(points[:, 0], points[:, 1], s=14, facecolors="none", edgecolors=[colour(t)], linewidths=0.7,
                   label=f"predicted t={t:g}")
    ax.set_xlabel("dim 1")
    ax.set_ylabel("dim 2")
    ax.legend(frameon=False, fontsize=6, markerscale=2, ncol=2)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def velocity_arrows(points: Any, velocities: Any, *, projection: Any = None, curl: Any = None,
                    extent: Sequence[float] | None = None, curl_limit: float | None = None, ax: Any = None,
                    color: str = "k", title: str | None = None) -> Any:
    """Arrows of ``velocities`` (n, d) at ``points`` (n, d), both projected to 2-D; optionally over a curl map
    ``curl`` (ny, nx) covering ``extent`` (x_min, x_max, y_min, y_max), red positive (anticlockwise), its colour
    scale +-``curl_limit`` (default: the map's largest magnitude; give one value to compare panels)."""
    points = _project("points", points, projection)
    velocities = _project("velocities", velocities, projection)
    if velocities.shape != points.shape:
        raise ValueError(f"velocities: expected one velocity per point ({points.shape[0]}), got {velocities.shape[0]}.")
    ax = new_axes(ax)
    if curl is not None:
        curl = as_array("curl", curl, ndim=2, dtype=np.float64)
        if extent is None or len(extent) != 4:
            raise ValueError(f"extent: expected (x_min, x_max, y_min, y_max) with a curl map, got {extent!r}.")
        bound = max(float(np.abs(curl).max()) if curl_limit is None else float(curl_limit), 1e-9)
        image = ax.imshow(curl, origin="lower", extent=tuple(extent), cmap="RdBu_r", vmin=-bound, vmax=bound,
                          aspect="auto", alpha=0.6)
        ax.figure.colorbar(image, ax=ax, fraction=0.046, label="curl")
    ax.quiver(points[:, 0], points[:, 1], velocities[:, 0], velocities[:, 1], color=color, angles="xy",
              width=0.004)
    ax.set_xlabel("dim 1")
    ax.set_ylabel("dim 2")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def distance_over_time(times: Any, values: Mapping[str, Any], *, floor: Any = None, metric: str = "W1",
                       ax: Any = None, title: str | None = None) -> Any:
    """One line per method of ``values`` (name -> (T,) distances at ``times`` (T,)); ``floor`` (T,) the sampling
    floor, dashed."""
    times = as_array("times", times, ndim=1, dtype=np.float64)
    ax = new_axes(ax)
    for name, series in values.items():
        series = as_array(f"values[{name!r}]", series, ndim=1, dtype=np.float64)
        if series.shape != times.shape:
            raise ValueError(f"values[{name!r}]: expected one value per time ({len(times)}), got {len(series)}.")
        ax.plot(times, series, marker="o", label=name)
    if floor is not None:
        floor = as_array("floor", floor, ndim=1, dtype=np.float64)
        if floor.shape != times.shape:
            raise ValueError(f"floor: expected one value per time ({len(times)}), got {len(floor)}.")
        ax.plot(times, floor, ls="--", marker="x", color="0.4", label="sampling floor")
    ax.set_xlabel("time")
    ax.set_ylabel(metric)
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
