"""Warnings, not errors, for data that a model will fit but probably not as meant.

:func:`warn_about_counts` is called by the Poisson sequence models (SeqVAE, LFADS) on every session they fit:

- non-integer counts: a Poisson likelihood expects spike counts; rates (spikes/s), smoothed or time-normalised
  counts are fitted, but the log-likelihood is then not a probability of the data;
- more than 1000 counts in a bin: rarely spike counts of one unit (rates in spikes/s? summed units? a bin far
  too wide?);
- more latent dimensions than units: the extra dimensions cannot be identified from the counts.
"""

from __future__ import annotations

import warnings

import numpy as np

from neuralign.data.trialdata import TrialData

MAX_COUNT_PER_BIN = 1000


def warn_about_counts(name: str, data: TrialData, *, model: str, latent_dim: int | None = None) -> list[str]:
    """Warn about suspicious counts in ``data`` (module docstring); returns the messages (empty when none).

    Parameters
    ----------
    name : the argument's name for messages, e.g. ``"data[0]"``.
    data : the session; only its valid bins (``data.mask``) are looked at.
    model : the model's name for messages.
    latent_dim : the model's latent dimensions, compared with ``data.n_units`` (None: not compared).
    """
    counts = data.counts[data.mask]
    messages = []
    fractional = counts != np.round(counts)
    if fractional.any():
        examples = ", ".join(f"{value:.4g}" for value in np.unique(counts[fractional])[:3])
        messages.append(
            f"{name}: {fractional.mean():.1%} of the counts are not integers (e.g. {examples}), but {model} models "
            f"them as Poisson spike counts. Rates in spikes/s should be multiplied by bin_size ({data.bin_size:g} "
            "s); smoothed or time-normalised counts are fitted, but the log-likelihood is then not a probability "
            "of the data.")
    largest = float(counts.max()) if counts.size else 0.0
    if largest > MAX_COUNT_PER_BIN:
        n_large = int((counts > MAX_COUNT_PER_BIN).sum())
        messages.append(
            f"{name}: {n_large} bin(s) hold more than {MAX_COUNT_PER_BIN} counts (largest {largest:g}); spike counts "
            f"of one unit in a {data.bin_size:g} s bin are rarely this high. Are these rates (spikes/s), summed "
            "units, or raw signal values? Check the data before reading the fit.")
    if latent_dim is not None and latent_dim > data.n_units:
        messages.append(
            f"latent_dim: {model} has {latent_dim} latent dimensions but {name} has {data.n_units} units; latents "
            f"beyond the unit count cannot be identified from the counts. Use latent_dim <= {data.n_units}.")
    for message in messages:
        warnings.warn(message, UserWarning, stacklevel=3)
    return messages
