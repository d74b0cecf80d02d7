"""True against decoded behaviour."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuralign._checks import as_array
from neuralign.plot._style import condition_colors, new_axes


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y_true = as_array("y_true", y_true, ndim=3)
    y_pred = as_array("y_pred", y_pred, ndim=3)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_pred: expected the shape of y_true {y_true.shape}, got {y_pred.shape}.")
    return y_true, y_pred


def decoded_paths(velocity_true: np.ndarray, velocity_pred: np.ndarray, labels: np.ndarray, *, ax: Any = None,
                  title: str = "") -> Any:
    """Hand paths integrated from true (thin dashed) and decoded (solid) 2-D velocity, per condition mean.

    velocity_true, velocity_pred : (trials, time, 2); labels : (trials,).
    """
    velocity_true, velocity_pred = _pair(velocity_true, velocity_pred)
    labels = np.asarray(labels)
    if labels.shape != (velocity_true.shape[0],):
        raise ValueError(f"labels: expected shape ({velocity_true.shape[0]},), got {labels.shape}.")
    ax = new_axes(ax)
    for condition, color in condition_colors(labels).items():
        members = labels == condition
        true_path = np.cumsum(velocity_true[members], axis=1).mean(0)
        pred_path = np.cumsum(velocity_pred[members], axis=1).mean(0)
        ax.plot(true_path[:, 0], true_path[:, 1], "--", color=color, linewidth=1.2)
        ax.plot(pred_path[:, 0], pred_path[:, 1], "-", color=color, linewidth=2.2)
    ax.plot([], [], "k--", label="true")
    ax.plot([], [], "k-", label="decoded")
    ax.legend(loc="best", fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (integrated velocity)")
    ax.set_ylabel("y")
    if title:
        ax.set_title(title)
    return ax


def decoded_traces(y_true: np.ndarray, y_pred: np.ndarray, *, dim: int = 0, n_trials: int = 6, ax: Any = None,
                   title: str = "") -> Any:
    """A few trials of one behaviour dimension, true (grey) and decoded (colour), laid end to end."""
    y_true, y_pred = _pair(y_true, y_pred)
    if not 0 <= dim < y_true.shape[2]:
        raise ValueError(f"dim: expected an index in [0, {y_true.shape[2]}), got {dim}.")
    ax = new_axes(ax)
    n_trials = min(n_trials, y_true.shape[0])
    t = np.arange(n_trials * y_true.shape[1])
    ax.plot(t, y_true[:n_trials, :, dim].ravel(), color="0.5", linewidth=2, label="true")
    ax.plot(t, y_pred[:n_trials, :, dim].ravel(), color="C3", linewidth=1.2, label="decoded")
    for k in range(1, n_trials):
        ax.axvline(k * y_true.shape[1] - 0.5, color="0.85", linewidth=0.8)
    ax.set_xlabel("time bin (trials laid end to end)")
    ax.set_ylabel(f"behaviour dim {dim}")
    ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title)
    return ax
