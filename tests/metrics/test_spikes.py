"""Tests of neuralign.metrics.spikes: poisson_log_likelihood and bits_per_spike (NLB definition)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import poisson

from neuralign.metrics import bits_per_spike, poisson_log_likelihood


@pytest.fixture
def simulated() -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts from rates that vary over time and neurons: (trials, time, units)."""
    rng = np.random.default_rng(0)
    time = np.arange(30)
    phases = rng.uniform(0, 2 * np.pi, size=8)
    rates = 0.5 + 0.45 * np.sin(2 * np.pi * time[:, None] / 30 + phases[None, :])  # (time, units)
    rates = np.broadcast_to(rates, (20, 30, 8)).copy()
    counts = rng.poisson(rates).astype(float)
    return rates, counts


def nlb_bits_per_spike(rates: np.ndarray, counts: np.ndarray) -> float:
    """The NLB reference code (nlb_tools.evaluation.bits_per_spike), restated."""
    def neg_log_likelihood(r: np.ndarray, y: np.ndarray) -> float:
        r = r.copy()
        r[r == 0] = 1e-9
        return float(np.nansum(r - y * np.log(r)))
    null = np.tile(np.nanmean(counts, axis=(0, 1), keepdims=True), (counts.shape[0], counts.shape[1], 1))
    return (neg_log_likelihood(null, counts) - neg_log_likelihood(rates, counts)) / np.nansum(counts) / np.log(2)


def test_poisson_log_likelihood_matches_scipy(simulated):
    rates, counts = simulated
    expected = poisson.logpmf(counts, rates).sum()
    assert poisson_log_likelihood(rates, counts) == pytest.approx(expected, rel=1e-10)
    assert poisson_log_likelihood(torch.tensor(rates), torch.tensor(counts)) == pytest.approx(expected, rel=1e-10)


def test_poisson_log_likelihood_clamps_zero_rates():
    counts = np.array([[0.0, 1.0]])
    rates = np.array([[0.0, 0.0]])
    assert poisson_log_likelihood(rates, counts) == pytest.approx(np.log(1e-9) - 1e-9 - 1e-9)
    tiny = np.array([[1e-12]])  # below the floor: clamped up to 1e-9, not shifted by it
    assert poisson_log_likelihood(tiny, np.ones((1, 1))) == pytest.approx(np.log(1e-9) - 1e-9, rel=1e-9)


def test_null_model_gives_exactly_zero(simulated):
    _, counts = simulated
    null = np.broadcast_to(counts.mean(axis=(0, 1)), counts.shape)
    assert bits_per_spike(null, counts) == pytest.approx(0.0, abs=1e-12)


def test_true_rates_beat_null_and_bad_model_loses(simulated):
    rates, counts = simulated
    good = bits_per_spike(rates, counts)
    assert good > 0.05
    assert good == pytest.approx(nlb_bits_per_spike(rates, counts), rel=1e-9)
    anti = np.roll(rates, 15, axis=1)  # half a period out of phase
    assert bits_per_spike(anti, counts) < 0
    assert bits_per_spike(rates * 5, counts) < 0


def test_bits_per_spike_flat_input_matches(simulated):
    rates, counts = simulated
    flat = bits_per_spike(rates.reshape(-1, 8), counts.reshape(-1, 8))
    assert flat == pytest.approx(bits_per_spike(rates, counts), rel=1e-12)


def test_mask_ignores_padding_and_sets_null(simulated):
    rates, counts = simulated
    lengths = np.random.default_rng(2).integers(10, 31, size=20)
    mask = np.arange(30)[None, :] < lengths[:, None]
    expected = bits_per_spike(rates[mask], counts[mask])
    padded_rates, padded_counts = rates.copy(), counts.copy()
    padded_rates[~mask] = -5.0
    padded_counts[~mask] = np.nan
    assert bits_per_spike(padded_rates, padded_counts, mask) == pytest.approx(expected, rel=1e-12)
    expected_ll = poisson_log_likelihood(rates[mask], counts[mask])
    assert poisson_log_likelihood(padded_rates, padded_counts, mask) == pytest.approx(expected_ll, rel=1e-12)
    null_valid = np.broadcast_to(counts[mask].mean(axis=0), counts.shape)
    assert bits_per_spike(null_valid, padded_counts, mask) == pytest.approx(0.0, abs=1e-12)


def test_no_spikes_raises():
    with pytest.raises(ValueError, match="counts: bits per spike needs at least one spike"):
        bits_per_spike(np.ones((2, 3, 4)), np.zeros((2, 3, 4)))


@pytest.mark.parametrize("function", [bits_per_spike, poisson_log_likelihood])
def test_spike_metric_bad_inputs(function, simulated):
    rates, counts = simulated
    with pytest.raises(ValueError, match="rates: expected non-negative"):
        function(rates - 1.0, counts)
    with pytest.raises(ValueError, match="counts: expected non-negative"):
        function(rates, -counts - 1)
    bad = rates.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="rates.*finite"):
        function(bad, counts)
    bad_counts = counts.copy()
    bad_counts[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="counts.*finite"):
        function(rates, bad_counts)
    with pytest.raises(ValueError, match="counts: expected the same shape as rates"):
        function(rates, counts[..., :5])
    with pytest.raises(ValueError, match="rates: expected 3 dimensions"):
        function(rates[0, 0], counts[0, 0])
    with pytest.raises(ValueError, match="rates: expected a non-empty"):
        function(np.zeros((0, 3, 2)), np.zeros((0, 3, 2)))
    with pytest.raises(ValueError, match="mask: expected shape"):
        function(rates, counts, np.ones((20, 29), dtype=bool))
    with pytest.raises(TypeError, match="mask: expected a boolean"):
        function(rates, counts, np.ones((20, 30), dtype=int))
