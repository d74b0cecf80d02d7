"""Warnings for suspicious counts: non-integer counts for a Poisson model, > 1000 per bin, latents > units."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuralign.data.quality import warn_about_counts
from neuralign.data.trialdata import TrialData


def counts(values: np.ndarray) -> TrialData:
    return TrialData(counts=values, bin_size=0.02)


def test_clean_spike_counts_give_no_warning():
    data = counts(np.random.default_rng(0).poisson(2.0, (6, 5, 4)).astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_about_counts("data", data, model="SeqVAE", latent_dim=4) == []


def test_non_integer_counts_are_named_with_examples_and_the_rate_fix():
    values = np.random.default_rng(0).poisson(2.0, (6, 5, 4)).astype(float)
    values[0, 0, :2] = [0.5, 1.25]
    with pytest.warns(UserWarning, match=r"data\[0\]: 1.7% of the counts are not integers \(e.g. 0.5, 1.25\), but "
                                         r"LFADS models them as Poisson spike counts. Rates in spikes/s should be "
                                         r"multiplied by bin_size \(0.02 s\)"):
        warn_about_counts("data[0]", counts(values), model="LFADS")


def test_more_than_1000_counts_in_a_bin():
    values = np.ones((3, 4, 2))
    values[1, 2, 0] = 4000.0
    with pytest.warns(UserWarning, match=r"data: 1 bin\(s\) hold more than 1000 counts \(largest 4000\)"):
        warn_about_counts("data", counts(values), model="SeqVAE")


def test_padding_bins_of_ragged_trials_are_not_looked_at():
    values = np.ones((2, 4, 2))
    values[0, 3] = 0.5  # past trial 0's length
    data = TrialData(counts=values, lengths=np.array([3, 4]), bin_size=0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_about_counts("data", data, model="SeqVAE")


def test_more_latents_than_units_warns_when_fitting():
    from neuralign.models import SeqVAE

    data = counts(np.random.default_rng(0).poisson(2.0, (8, 5, 3)).astype(float))
    with pytest.warns(UserWarning, match="latent_dim: SeqVAE has 5 latent dimensions but data\\[0\\] has 3 units; "
                                         "latents beyond the unit count cannot be identified"):
        SeqVAE(latent_dim=5, hidden_size=4, read_in_dim=4, max_epochs=1, kl_warmup_epochs=0, verbose=False).fit(data)
