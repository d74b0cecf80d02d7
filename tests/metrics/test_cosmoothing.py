"""Tests of neuralign.metrics.cosmoothing: neuron split, co-bps and psth R2 against nlb_tools, the Poisson GLM
read-out, and the scores of a whole co-smoothing evaluation.

nlb_tools is the reference: ``make test`` installs it (``pip install --no-deps nlb-tools``, see the Makefile), and
these tests fail rather than skip without it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nlb_tools.evaluation import bits_per_spike as nlb_bits_per_spike
from nlb_tools.evaluation import eval_psth as nlb_eval_psth
from sklearn.exceptions import NotFittedError

import neuralign.datasets
from neuralign.data.preprocess import smooth_along_time
from neuralign.metrics import PoissonReadout, co_bps, cosmoothing_scores, psth_r2, split_neurons


def random_rates_and_counts(seed: int, shape: tuple[int, int, int] = (24, 15, 7)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rates = rng.gamma(2.0, 0.3, size=shape)
    return rates, rng.poisson(rates).astype(float)


def nlb_conditions(labels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Conditions and, per condition, the indices of its trials: nlb_tools' ``eval_cond_idx``."""
    conditions = np.unique(labels)
    return conditions, [np.flatnonzero(labels == condition) for condition in conditions]


def condition_means(values: np.ndarray, labels: np.ndarray, conditions: np.ndarray) -> np.ndarray:
    """(conditions, time, units) plain means over each condition's trials, computed here independently."""
    return np.stack([values[labels == condition].mean(axis=0) for condition in conditions])


@pytest.fixture(scope="module")
def monkey():
    return neuralign.datasets.load("erdiff_miller_co", session="source")


@pytest.fixture(scope="module")
def maze():
    even, odd = neuralign.datasets.load("nlb_mc_maze_small_tiny")
    return np.concatenate([even.counts, odd.counts]).astype(np.float64)


# ------------------------------------------------------------------------------------------- split_neurons
def test_split_neurons_is_seeded_disjoint_and_complete():
    heldin, heldout = split_neurons(187, 0.25, seed=3)
    assert heldout.size == 47 and heldin.size == 140
    assert np.array_equal(np.sort(np.concatenate([heldin, heldout])), np.arange(187))
    assert np.all(np.diff(heldin) > 0) and np.all(np.diff(heldout) > 0)
    again = split_neurons(187, 0.25, seed=3)
    assert np.array_equal(again[1], heldout)
    assert not np.array_equal(split_neurons(187, 0.25, seed=4)[1], heldout)


@pytest.mark.parametrize("kwargs, error, name", [
    ({"n_units": 1}, ValueError, "n_units"),
    ({"n_units": 10.0}, TypeError, "n_units"),
    ({"n_units": 10, "heldout_fraction": 0.0}, ValueError, "heldout_fraction"),
    ({"n_units": 10, "heldout_fraction": 1.0}, ValueError, "heldout_fraction"),
    ({"n_units": 10, "heldout_fraction": -0.2}, ValueError, "heldout_fraction"),
    ({"n_units": 10, "heldout_fraction": "0.25"}, TypeError, "heldout_fraction"),
    ({"n_units": 3, "heldout_fraction": 0.1}, ValueError, "heldout_fraction"),  # rounds to no held-out neuron
    ({"n_units": 3, "heldout_fraction": 0.9}, ValueError, "heldout_fraction"),  # rounds to no held-in neuron
    ({"n_units": 10, "seed": -1}, ValueError, "seed"),
])
def test_split_neurons_rejects_bad_input(kwargs, error, name):
    with pytest.raises(error, match=name):
        split_neurons(**kwargs)


# ------------------------------------------------------------------------------------- co_bps vs nlb_tools
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_co_bps_matches_nlb_tools_on_random_data(seed):
    rates, counts = random_rates_and_counts(seed)
    expected = nlb_bits_per_spike(rates.copy(), counts.copy())
    assert co_bps(rates, counts) == pytest.approx(expected, rel=1e-9)
    assert co_bps(torch.tensor(rates), torch.tensor(counts)) == pytest.approx(expected, rel=1e-9)


def test_co_bps_matches_nlb_tools_on_real_data(maze, monkey):
    for counts in (maze[..., -9:], monkey.counts[..., :60].astype(np.float64)):
        rates = smooth_along_time(counts, 2.0).astype(np.float64) + 1e-3
        expected = nlb_bits_per_spike(rates.copy(), counts.copy())
        assert co_bps(rates, counts) == pytest.approx(expected, rel=1e-9)


def test_co_bps_mask_matches_nlb_tools_nan_bins():
    rates, counts = random_rates_and_counts(5)
    lengths = np.random.default_rng(5).integers(5, counts.shape[1] + 1, size=counts.shape[0])
    mask = np.arange(counts.shape[1])[None, :] < lengths[:, None]
    nan_counts = np.where(mask[..., None], counts, np.nan)  # nlb_tools skips NaN spikes
    expected = nlb_bits_per_spike(rates.copy(), nan_counts)
    assert co_bps(rates, np.where(mask[..., None], counts, -1.0), mask) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("rates, counts, mask, error, name", [
    (np.ones((4, 5, 3)), np.ones((4, 5, 2)), None, ValueError, "counts"),
    (np.ones((4, 5, 3)), np.zeros((4, 5, 3)), None, ValueError, "counts"),  # no spike
    (-np.ones((4, 5, 3)), np.ones((4, 5, 3)), None, ValueError, "rates"),
    (np.ones((4, 5, 3)), np.ones((4, 5, 3)), np.ones((4, 4), bool), ValueError, "mask"),
    (np.ones(3), np.ones(3), None, ValueError, "rates"),
])
def test_co_bps_rejects_bad_input(rates, counts, mask, error, name):
    with pytest.raises(error, match=name):
        co_bps(rates, counts, mask)


# ------------------------------------------------------------------------------------ psth_r2 vs nlb_tools
@pytest.mark.parametrize("seed", [0, 1])
def test_psth_r2_matches_nlb_tools_on_random_data(seed):
    rates, counts = random_rates_and_counts(seed, (40, 12, 6))
    labels = np.random.default_rng(seed).integers(0, 4, size=40)
    conditions, trials = nlb_conditions(labels)
    expected = nlb_eval_psth(condition_means(counts, labels, conditions), rates, trials)
    assert psth_r2(rates, counts, labels) == pytest.approx(expected, rel=1e-9)


def test_psth_r2_matches_nlb_tools_with_reference_trials_on_real_data(monkey):
    train, test = monkey.split(0.25, seed=0)
    rates = test.smooth(1.5).counts.astype(np.float64)
    counts = monkey.counts.astype(np.float64)
    conditions, trials = nlb_conditions(test.labels)
    expected = nlb_eval_psth(condition_means(counts, monkey.labels, conditions), rates, trials)
    assert psth_r2(rates, counts, test.labels, reference_labels=monkey.labels) == pytest.approx(expected, rel=1e-9)


def test_psth_r2_is_one_for_the_empirical_psth_and_ignores_masked_bins():
    _, counts = random_rates_and_counts(3, (30, 10, 5))
    labels = np.arange(30) % 3
    conditions = np.unique(labels)
    perfect = condition_means(counts, labels, conditions)[labels]  # every trial gets its condition's PSTH
    assert psth_r2(perfect, counts, labels) == pytest.approx(1.0)
    mask = np.ones((30, 10), bool)
    mask[:, 7:] = False  # the last bins are padding everywhere: the same as cutting them off
    garbage = np.where(mask[..., None], perfect, np.nan)
    assert psth_r2(garbage, counts, labels, mask) == pytest.approx(psth_r2(perfect[:, :7], counts[:, :7], labels))


@pytest.mark.parametrize("kwargs, error, name", [
    ({"labels": np.zeros(9, int)}, ValueError, "labels"),
    ({"labels": np.zeros(10)}, TypeError, "labels"),
    ({"counts": np.ones((10, 6, 4))}, ValueError, "counts"),
    ({"counts": np.ones((12, 6, 3)), "reference_labels": np.zeros(11, int)}, ValueError, "reference_labels"),
    ({"counts": np.ones((12, 6, 3)), "reference_labels": np.full(12, 7)}, ValueError, "reference_labels"),
    ({"counts": np.ones((12, 5, 3)), "reference_labels": np.zeros(12, int)}, ValueError, "counts"),
    ({"reference_mask": np.ones((10, 6), bool)}, ValueError, "reference_mask"),
    ({"rates": -np.ones((10, 6, 3))}, ValueError, "rates"),
    ({"mask": np.ones((10, 5), bool)}, ValueError, "mask"),
])
def test_psth_r2_rejects_bad_input(kwargs, error, name):
    arguments = {"rates": np.ones((10, 6, 3)), "counts": np.ones((10, 6, 3)), "labels": np.arange(10) % 2, **kwargs}
    with pytest.raises(error, match=name):
        psth_r2(**arguments)


# --------------------------------------------------------------------------------------- PoissonReadout
def simulated_glm(seed: int = 0, trials: int = 40, time: int = 12, n_features: int = 4, units: int = 5):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(trials, time, n_features))
    weights = rng.normal(scale=0.5, size=(n_features, units))
    rates = np.exp(features @ weights - 1.0)
    return features, rates, rng.poisson(rates).astype(float)


def test_readout_recovers_a_poisson_glm():
    features, rates, counts = simulated_glm()
    readout = PoissonReadout().fit(features[:30], counts[:30])
    predicted = readout.predict(features[30:])
    assert predicted.shape == rates[30:].shape
    assert co_bps(predicted, counts[30:]) > 0.8 * co_bps(rates[30:], counts[30:]) > 0
    assert readout.alpha_ in PoissonReadout().alphas


def test_readout_chooses_the_strongest_penalty_for_noise_features():
    rng = np.random.default_rng(1)
    counts = rng.poisson(0.5, size=(30, 10, 3)).astype(float)
    readout = PoissonReadout(alphas=[1e-3, 1e3]).fit(rng.normal(size=(30, 10, 20)), counts)
    assert readout.alpha_ == 1e3


def test_readout_gives_silent_units_the_floor_rate():
    features, _, counts = simulated_glm(units=3)
    counts[..., 1] = 0
    predicted = PoissonReadout(alphas=[1.0]).fit(features, counts).predict(features)
    assert np.allclose(predicted[..., 1], 1e-9) and predicted[..., 0].std() > 0


def test_readout_ignores_masked_bins():
    features, _, counts = simulated_glm(2)
    mask = np.ones(counts.shape[:2], bool)
    mask[::2, 8:] = False
    dirty_features = np.where(mask[..., None], features, np.nan)
    dirty_counts = np.where(mask[..., None], counts, -5.0)
    clean = PoissonReadout().fit(features, np.where(mask[..., None], counts, 0.0), mask)
    dirty = PoissonReadout().fit(dirty_features, dirty_counts, mask)
    assert np.allclose(clean.coef_, dirty.coef_) and clean.alpha_ == dirty.alpha_
    predicted = dirty.predict(dirty_features, mask)
    assert np.all(predicted[~mask] == 0) and np.allclose(predicted[mask], clean.predict(features)[mask])


def test_readout_without_standardisation_keeps_the_features():
    features, _, counts = simulated_glm(3)
    readout = PoissonReadout(standardize=False, alphas=[0.1]).fit(features, counts)
    direct = np.exp(features @ readout.coef_.T + readout.intercept_)
    assert np.allclose(readout.predict(features), direct)


@pytest.mark.parametrize("kwargs, error, name", [
    ({"alphas": [1.0, -1.0]}, ValueError, "alphas"),
    ({"alphas": [[1.0]]}, ValueError, "alphas"),
    ({"n_folds": 1}, ValueError, "n_folds"),
    ({"standardize": "yes"}, TypeError, "standardize"),
    ({"max_iter": 0}, ValueError, "max_iter"),
])
def test_readout_rejects_bad_settings(kwargs, error, name):
    with pytest.raises(error, match=name):
        PoissonReadout(**kwargs)


@pytest.mark.parametrize("features, counts, error, name", [
    (np.ones((6, 5)), np.ones((6, 5, 2)), ValueError, "features"),
    (np.ones((6, 5, 3)), np.ones((6, 4, 2)), ValueError, "counts"),
    (np.ones((6, 5, 3)), -np.ones((6, 5, 2)), ValueError, "counts"),
    (np.ones((6, 5, 3)), np.zeros((6, 5, 2)), ValueError, "counts"),  # no spikes
    (np.ones((2, 5, 3)), np.ones((2, 5, 2)), ValueError, "features"),  # fewer trials than folds
])
def test_readout_fit_rejects_bad_input(features, counts, error, name):
    with pytest.raises(error, match=name):
        PoissonReadout().fit(features, counts)


def test_readout_predict_checks_features():
    features, _, counts = simulated_glm()
    with pytest.raises(NotFittedError):
        PoissonReadout().predict(features)
    readout = PoissonReadout(alphas=[1.0]).fit(features, counts)
    with pytest.raises(ValueError, match="features"):
        readout.predict(features[..., :2])


# ------------------------------------------------------------------------------------ cosmoothing_scores
@pytest.fixture(scope="module")
def session():
    """Simulated session: 5 latent-driven held-in features, 8 units of which 3 held out, labels and behaviour."""
    rng = np.random.default_rng(7)
    labels = np.arange(36) % 3
    latents = np.sin(np.linspace(0, np.pi, 12))[None, :, None] * (labels[:, None, None] - 1.0) \
        + 0.3 * rng.normal(size=(36, 12, 1))
    rates = np.exp(latents @ rng.normal(size=(1, 8)) - 1.0)
    counts = rng.poisson(rates).astype(float)
    return {"features": latents + 0.1 * rng.normal(size=latents.shape), "counts": counts, "labels": labels,
            "behavior": np.concatenate([latents, -latents], axis=2), "heldout": np.array([1, 4, 6])}


def test_cosmoothing_scores_reports_each_metric(session):
    train, test = slice(0, 27), slice(27, 36)
    features, counts = session["features"], session["counts"]
    scores = cosmoothing_scores(features[train], counts[train], features[test], counts[test], session["heldout"],
                                train_behavior=session["behavior"][train], test_behavior=session["behavior"][test],
                                test_labels=session["labels"][test], psth_counts=counts,
                                psth_labels=session["labels"], psth_mask=np.ones(counts.shape[:2], bool))
    assert set(scores) == {"co_bps", "velocity_r2_percent", "psth_r2"}
    assert scores["co_bps"] > 0 and scores["velocity_r2_percent"] > 50 and scores["psth_r2"] > 0
    readout = PoissonReadout().fit(features[train], counts[train][..., session["heldout"]])
    direct = co_bps(readout.predict(features[test]), counts[test][..., session["heldout"]])
    only = cosmoothing_scores(features[train], counts[train], features[test], counts[test], session["heldout"])
    assert only == {"co_bps": pytest.approx(direct)}


@pytest.mark.parametrize("kwargs, error, name", [
    ({"heldout": np.array([0, 8])}, ValueError, "heldout"),
    ({"heldout": np.array([1, 1])}, ValueError, "heldout"),
    ({"heldout": np.arange(8)}, ValueError, "heldout"),
    ({"heldout": np.array([1.0, 2.0])}, TypeError, "heldout"),
    ({"train_behavior": np.zeros((27, 12, 2))}, ValueError, "train_behavior"),
    ({"psth_counts": np.ones((36, 12, 8))}, ValueError, "psth_labels"),
    ({"psth_counts": np.ones((36, 12, 8)), "psth_labels": np.zeros(36, int)}, ValueError, "test_labels"),
    ({"psth_mask": np.ones((36, 12), bool)}, ValueError, "psth_mask"),
    ({"test_labels": np.zeros(5, int)}, ValueError, "labels"),
    ({"readout": "glm"}, TypeError, "readout"),
    ({"test_counts": np.ones((9, 12, 7))}, ValueError, "test_counts"),
])
def test_cosmoothing_scores_rejects_bad_input(session, kwargs, error, name):
    features, counts = session["features"], session["counts"]
    arguments = {"train_features": features[:27], "train_counts": counts[:27], "test_features": features[27:],
                 "test_counts": counts[27:], "heldout": session["heldout"], **kwargs}
    with pytest.raises(error, match=name):
        cosmoothing_scores(**arguments)
