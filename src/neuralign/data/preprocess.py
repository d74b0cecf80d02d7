"""Array-level preprocessing: smoothing, binning spike times, cutting trials out of continuous recordings.

These functions take and return NumPy arrays; ``TrialData`` methods call them.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from neuralign._checks import as_array, positive_float


def smooth_along_time(x: np.ndarray, sigma_bins: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Gaussian-smooth ``x`` along its time axis, trial by trial.

    Parameters
    ----------
    x : (trials, time, channels)
    sigma_bins : standard deviation of the Gaussian kernel in bins (> 0).
    mask : optional (trials, time) boolean; bins outside it are treated as zero and stay zero, and the
        kernel is renormalised by the smoothed mask so ragged trial ends are not pulled toward zero.

    Returns
    -------
    (trials, time, channels) float32
    """
    sigma_bins = positive_float("sigma_bins", sigma_bins)
    x = np.asarray(x, dtype=np.float32)
    if mask is None:
        return gaussian_filter1d(x, sigma_bins, axis=1, mode="nearest").astype(np.float32)
    weights = mask.astype(np.float32)[:, :, None]
    numerator = gaussian_filter1d(x * weights, sigma_bins, axis=1, mode="constant")
    denominator = gaussian_filter1d(weights, sigma_bins, axis=1, mode="constant")
    out = np.where(weights > 0, numerator / np.maximum(denominator, 1e-8), 0.0)
    return out.astype(np.float32)


def bin_spike_times(spike_times: list[np.ndarray], edges: np.ndarray) -> np.ndarray:
    """Count spikes of each unit in consecutive bins.

    Parameters
    ----------
    spike_times : one 1-D array of spike times (seconds) per unit.
    edges : (bins + 1,) increasing bin edges in seconds.

    Returns
    -------
    (bins, units) float32 counts.
    """
    edges = as_array("edges", edges, ndim=1, dtype=np.float64)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges: expected at least 2 strictly increasing bin edges, got {edges.size} edges.")
    counts = np.zeros((edges.size - 1, len(spike_times)), dtype=np.float32)
    for unit, times in enumerate(spike_times):
        counts[:, unit] = np.histogram(np.asarray(times, dtype=np.float64), bins=edges)[0]
    return counts


def cut_windows(series: np.ndarray, start_bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Cut equal-length windows out of a continuous ``series`` (time, channels).

    Parameters
    ----------
    series : (time, channels)
    start_bins : (windows,) first bin of each window; each window must lie inside the series.
    n_bins : window length in bins.

    Returns
    -------
    (windows, n_bins, channels)
    """
    start_bins = np.asarray(start_bins, dtype=np.int64)
    index = start_bins[:, None] + np.arange(n_bins)[None, :]
    return series[index]
