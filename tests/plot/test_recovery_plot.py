"""Tests of neuralign.plot.recovery.latent_fit."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.plot import latent_fit
from neuralign.plot._style import pyplot


def test_draws_true_and_estimate_for_each_trial_and_dim():
    true = np.random.default_rng(0).standard_normal((4, 10, 2))
    ax = latent_fit(true, true + 0.1, trials=[0, 2], title="blocks")
    assert len(ax.lines) == 2 * 2 * 2 + 1  # (true, estimate) x dims x trials + one separator
    assert ax.get_title() == "blocks"
    pyplot().close(ax.figure)


def test_uses_the_given_axes():
    plt = pyplot()
    figure, ax = plt.subplots()
    true = np.zeros((2, 5, 1))
    assert latent_fit(true, true, ax=ax) is ax
    plt.close(figure)


@pytest.mark.parametrize("estimate, trials, name", [
    (np.zeros((2, 5, 2)), None, "estimate"), (np.zeros((2, 5, 1)), [3], "trials"),
    (np.zeros((2, 5)), None, "estimate"),
])
def test_bad_inputs_are_named(estimate, trials, name):
    with pytest.raises(ValueError, match=name):
        latent_fit(np.zeros((2, 5, 1)), estimate, trials=trials)
