"""Figures of a sweep (``neuralign.sweep``): the selection metric over epochs per trial, and PBT's lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neuralign.plot._style import pyplot


def metric_over_time(curves: dict[str, tuple[list[float], list[float]]], metric: str, *, ax: Any = None,
                     title: str | None = None) -> Any:
    """One line per trial: ``curves[trial] = (epochs, values)`` in report order; the line breaks where the epoch
    does not advance (a trial restarted from an earlier checkpoint, or its final report of the kept weights)."""
    plt = pyplot()
    ax = ax if ax is not None else plt.subplots(figsize=(7, 4))[1]
    for trial, (epochs, values) in curves.items():
        x, y = np.asarray(epochs, dtype=float), np.asarray(values, dtype=float)
        breaks = np.flatnonzero(np.diff(x) <= 0) + 1
        ax.plot(np.insert(x, breaks, np.nan), np.insert(y, breaks, np.nan), marker=".", markersize=3, linewidth=1,
                label=trial)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} per trial")
    if len(curves) <= 12:
        ax.legend(fontsize=7, ncol=2)
    return ax


def pbt_lineage(curves: dict[str, tuple[list[float], list[float]]], events: list[tuple[str, str, int]],
                metric: str, *, ax: Any = None) -> Any:
    """``metric_over_time`` with PBT's exploit steps: an arrow from the copied trial's point (its epoch) to the
    trial that took its weights and settings."""
    ax = metric_over_time(curves, metric, ax=ax, title=f"{metric}: PBT lineage (arrows: weights copied)")
    colors = {line.get_label(): line.get_color() for line in ax.get_lines()}
    for target, source, epoch in events:
        epochs, values = curves.get(source, ([], []))
        if not epochs:
            continue
        index = int(np.argmin(np.abs(np.asarray(epochs, dtype=float) - epoch)))
        ax.annotate("", xy=(epochs[index], values[index]), xytext=(epochs[index] - 0.5, values[index]),
                    arrowprops={"arrowstyle": "->", "color": colors.get(target, "black"), "lw": 1.5})
        ax.plot([epochs[index]], [values[index]], marker="o", color=colors.get(target, "black"), markersize=6,
                fillstyle="none")
    return ax


def save_sweep_figures(curves: dict[str, tuple[list[float], list[float]]], events: list[tuple[str, str, int]],
                       metric: str, out: Path) -> None:
    """``metric_over_time.png`` and, when PBT exploited, ``pbt_lineage.png`` in ``out``."""
    from neuralign._atomic import atomic_path

    plt = pyplot()
    figures = [("metric_over_time.png", lambda ax: metric_over_time(curves, metric, ax=ax))]
    if events:
        figures.append(("pbt_lineage.png", lambda ax: pbt_lineage(curves, events, metric, ax=ax)))
    for name, draw in figures:
        figure, ax = plt.subplots(figsize=(8, 4.5))
        draw(ax)
        figure.tight_layout()
        with atomic_path(out / name) as temporary:
            figure.savefig(temporary, dpi=110, format="png")
        plt.close(figure)
