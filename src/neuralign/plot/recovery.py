"""True latents against their estimates (inferred latents mapped onto the true ones), trial by trial."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from neuralign._checks import as_array
from neuralign.plot._style import new_axes, pyplot


def latent_fit(true: np.ndarray, estimate: np.ndarray, *, trials: Sequence[int] | None = None, ax: Any = None,
               title: str = "") -> Any:
    """Plot true latents (solid) and their estimates (dashed) for a few trials laid end to end in time.

    Parameters
    ----------
    true : (trials, time, k) ground-truth latents.
    estimate : (trials, time, k) estimates in the same coordinates (e.g. inferred latents passed through the
        affine map fitted by latent recovery).
    trials : which trials to show (default the first three).
    ax : axes to draw on; a new figure when None.
    """
    true = as_array("true", true, ndim=3)
    estimate = as_array("estimate", estimate, ndim=3)
    if estimate.shape != true.shape:
        raise ValueError(f"estimate: expected shape {true.shape} to match true, got {estimate.shape}.")
    chosen = list(range(min(3, true.shape[0]))) if trials is None else [int(t) for t in trials]
    if not chosen or min(chosen) < 0 or max(chosen) >= true.shape[0]:
        raise ValueError(f"trials: expected indices in [0, {true.shape[0]}), got {list(chosen)}.")
    ax = new_axes(ax)
    colors = pyplot().get_cmap("tab10")
    n_time = true.shape[1]
    for position, trial in enumerate(chosen):
        t = np.arange(n_time) + position * (n_time + 2)
        for k in range(true.shape[2]):
            ax.plot(t, true[trial, :, k], color=colors(k % 10), linewidth=1.8,
                    label=f"true {k + 1}" if position == 0 else None)
            ax.plot(t, estimate[trial, :, k], color=colors(k % 10), linewidth=1.4, linestyle="--",
                    label=f"inferred {k + 1}" if position == 0 else None)
        if position:
            ax.axvline(t[0] - 1.0, color="0.7", linewidth=0.8)
    ax.set_xlabel("time bin (trials laid end to end)")
    ax.set_ylabel("latent")
    ax.legend(fontsize=7, ncol=2, frameon=False)
    if title:
        ax.set_title(title)
    return ax
