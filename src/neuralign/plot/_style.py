"""Shared plotting helpers: a non-interactive backend, condition colours, axes creation."""

from __future__ import annotations

from typing import Any

import numpy as np


def pyplot() -> Any:
    """matplotlib.pyplot with a file backend when no display is set (no import-time side effects)."""
    import os

    import matplotlib

    if not os.environ.get("DISPLAY") and matplotlib.get_backend().lower() not in ("agg", "pdf", "svg"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def condition_colors(labels: np.ndarray) -> dict[int, Any]:
    """One colour per condition, on a cyclic map (reach directions go round a circle)."""
    plt = pyplot()
    unique = np.unique(labels)
    cmap = plt.get_cmap("hsv")
    return {int(c): cmap(i / max(len(unique), 1)) for i, c in enumerate(unique)}


def new_axes(ax: Any, projection: str | None = None) -> Any:
    if ax is not None:
        return ax
    plt = pyplot()
    figure = plt.figure(figsize=(5, 4.5))
    return figure.add_subplot(111, projection=projection)
