"""Figures of ``neuralign bench snapshots`` (first seed): W1 against the held-out time per method and system,
observed and predicted clouds per system, and the rotating cloud's true field against AM's with their curl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neuralign._atomic import atomic_path
from neuralign.metrics import curl_2d


def _save(figure: Any, path: Path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, bbox_inches="tight")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def field_on_grid(field: Any, t: float, extent: tuple[float, float, float, float],
                  size: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid points (size^2, 2), velocities (size^2, 2) of ``field(points, t)``, and the grid axes (size,) x 2."""
    grid_x, grid_y = np.linspace(extent[0], extent[1], size), np.linspace(extent[2], extent[3], size)
    mesh_x, mesh_y = np.meshgrid(grid_x, grid_y)
    points = np.stack([mesh_x.ravel(), mesh_y.ravel()], axis=1).astype(np.float32)
    return points, np.asarray(field(points, t), dtype=np.float64), grid_x, grid_y


def rotation_figure(system: Any, model: Any, path: Path) -> None:
    """True rotation field and a fitted method's field at the middle time, with their curl maps."""
    from neuralign.plot import velocity_arrows
    from neuralign.plot._style import pyplot

    plt = pyplot()
    t = float(np.median(system.times))
    reach = float(np.abs(np.concatenate(system.clouds)).max()) * 1.05
    extent = (-reach, reach, -reach, reach)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, (label, field) in zip(axes, (("true field", system.velocity), ("AM field", model.velocity))):
        points, velocity, grid_x, grid_y = field_on_grid(field, t, extent)
        shape = (len(grid_y), len(grid_x))
        curl = curl_2d(grid_x, grid_y, velocity[:, 0].reshape(shape), velocity[:, 1].reshape(shape))
        velocity_arrows(points, velocity, curl=curl, extent=extent, curl_limit=2 * system.meta["omega"], ax=ax,
                        title=f"{label} at t={t:g}: mean curl {curl.mean():.2f}")
        cloud = system.clouds[int(np.argmin(np.abs(system.times - t)))]
        ax.scatter(cloud[:, 0], cloud[:, 1], s=2, color="0.3", alpha=0.3)
    figure.suptitle("A rigid rotation has curl 2 omega everywhere; a gradient field has none", fontsize=10)
    _save(figure, path)
    plt.close(figure)


def save_figures(figures: dict[str, Any], out: Path) -> None:
    from neuralign.plot import distance_over_time, snapshot_clouds
    from neuralign.plot._style import pyplot

    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    curves, systems = figures["curves"], figures.get("systems", {})
    figure, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), squeeze=False)
    for ax, (name, per_method) in zip(axes[0], curves.items()):
        floor = per_method.get("sampling floor")
        methods = {method: entries for method, entries in per_method.items() if method != "sampling floor"}
        times = [entry[0] for entry in next(iter(methods.values()))]
        distance_over_time(times, {method: [entry[1] for entry in entries] for method, entries in methods.items()},
                           floor=None if floor is None else [entry[1] for entry in floor], metric="W1 (held out)",
                           ax=ax, title=name)
    figure.tight_layout()
    _save(figure, out / "w1_vs_time.png")
    plt.close(figure)
    for name, per_method in curves.items():
        system = systems.get(name)
        methods = [method for method in per_method if method != "sampling floor"]
        if system is None or not methods:
            continue
        figure, axes = plt.subplots(1, len(methods), figsize=(4.6 * len(methods), 4.2), squeeze=False)
        for ax, method in zip(axes[0], methods):
            entries = per_method[method]
            snapshot_clouds(system.times, system.clouds, predicted=[entry[2] for entry in entries],
                            predicted_times=[entry[0] for entry in entries], ax=ax,
                            title=f"{name}: {method}, held-out marginals predicted")
        figure.tight_layout()
        _save(figure, out / f"clouds_{_slug(name)}.png")
        plt.close(figure)
    rotation = systems.get("rotating cloud")
    model = figures["models"].get("rotating cloud/am")
    if rotation is not None and model is not None:
        rotation_figure(rotation, model, out / "rotation_curl.png")
