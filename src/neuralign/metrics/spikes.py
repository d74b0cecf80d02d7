"""Spike-prediction metrics: Poisson log-likelihood and bits per spike (Neural Latents Benchmark definition).

For predicted rates r (expected counts per bin) and observed counts y, summed over every valid entry:

    LL(r)          = sum[ y log r - r - log y! ]
    bits per spike = (LL(r) - LL(r_null)) / (sum(y) * ln 2)

where the null model predicts, for each neuron, its mean count per bin over all evaluated trials and bins.
Rates are clamped at ``RATE_FLOOR`` (1e-9) before the log, as the NLB code does for zero rates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import gammaln

from neuralign.metrics.decoding import flatten_pair

RATE_FLOOR = 1e-9


def _poisson_ll_flat(rates: np.ndarray, counts: np.ndarray) -> float:
    """Summed Poisson log-likelihood of validated (samples, units) arrays."""
    rates = np.maximum(rates, RATE_FLOOR)
    return float(np.sum(counts * np.log(rates) - rates - gammaln(counts + 1.0)))


def poisson_log_likelihood(rates: Any, counts: Any, mask: Any = None) -> float:
    """Poisson log-likelihood of ``counts`` under ``rates``, summed over all valid entries.

    Parameters
    ----------
    rates : (trials, time, units) or (samples, units), non-negative expected counts per bin.
    counts : same shape as ``rates``, non-negative spike counts.
    mask : optional boolean (trials, time) selecting the valid bins.

    Returns
    -------
    sum of ``counts * log(rates) - rates - gammaln(counts + 1)`` (natural log), rates clamped at 1e-9.
    """
    flat_rates, flat_counts = flatten_pair("rates", rates, "counts", counts, mask, nonnegative=True)
    return _poisson_ll_flat(flat_rates, flat_counts)


def bits_per_spike(rates: Any, counts: Any, mask: Any = None) -> float:
    """Bits per spike of predicted rates over a per-neuron constant-rate null model (NLB definition).

    Parameters
    ----------
    rates : (trials, time, units) or (samples, units), non-negative expected counts per bin (same units as
        ``counts``, not spikes per second).
    counts : same shape as ``rates``, non-negative spike counts.
    mask : optional boolean (trials, time) selecting the valid bins; the null rates are the means over them.

    Returns
    -------
    (LL(rates) - LL(null)) / (total spikes * ln 2). 0 for the null model itself, > 0 when the rates explain the
    counts better than each neuron's mean rate, < 0 when worse.
    """
    flat_rates, flat_counts = flatten_pair("rates", rates, "counts", counts, mask, nonnegative=True)
    total_spikes = float(flat_counts.sum())
    if total_spikes <= 0:
        raise ValueError(f"counts: bits per spike needs at least one spike, got none in {flat_counts.shape[0]} "
                         "evaluated bins; evaluate on more trials or neurons that fire.")
    null_rates = np.broadcast_to(flat_counts.mean(axis=0, keepdims=True), flat_counts.shape)
    gain = _poisson_ll_flat(flat_rates, flat_counts) - _poisson_ll_flat(null_rates, flat_counts)
    return float(gain / (total_spikes * np.log(2.0)))


def heldout_entries_bits_per_spike(rates: Any, counts: Any, held: Any) -> float:
    """Bits per spike on held-out entries of the data matrix (sample validation, AutoLFADS).

    Parameters
    ----------
    rates : (trials, time, units), expected counts per bin, predicted from inputs in which the ``held`` entries
        were hidden.
    counts : same shape, the spike counts.
    held : boolean, same shape: the entries scored. Each unit's null rate is its mean count over its own held
        entries (units without a held entry are left out).

    Returns
    -------
    (LL(rates) - LL(null)) / (held spikes * ln 2), summed over the held entries.
    """
    rates, counts = np.asarray(rates, dtype=float), np.asarray(counts, dtype=float)
    held = np.asarray(held)
    if held.dtype != bool or held.shape != counts.shape or rates.shape != counts.shape:
        raise ValueError(f"held: expected a boolean array shaped like counts {counts.shape} (and rates), got "
                         f"{held.dtype} {held.shape} (rates {rates.shape}).")
    totals, entries = (counts * held).sum(axis=(0, 1)), held.sum(axis=(0, 1))
    null = np.broadcast_to(totals / np.maximum(entries, 1), counts.shape)
    spikes = float(counts[held].sum())
    if spikes <= 0:
        raise ValueError("counts: bits per spike needs at least one held-out spike, got none; hold out more "
                         "entries or use data with more spikes.")
    gain = _poisson_ll_flat(rates[held], counts[held]) - _poisson_ll_flat(null[held], counts[held])
    return float(gain / (spikes * np.log(2.0)))
