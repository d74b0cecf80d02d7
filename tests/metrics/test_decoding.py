"""Tests of neuralign.metrics.decoding: r2_percent, rmse, flatten_trials, RidgeDecoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score

from neuralign.metrics import RidgeDecoder, flatten_trials, r2_percent, rmse


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=(6, 10, 2)) * np.array([1.0, 5.0])
    y_pred = y_true + rng.normal(scale=0.5, size=y_true.shape)
    return y_true, y_pred


def ragged_mask(trials: int, time: int, seed: int = 1) -> np.ndarray:
    lengths = np.random.default_rng(seed).integers(time // 2, time + 1, size=trials)
    return np.arange(time)[None, :] < lengths[:, None]


# --- r2_percent and rmse -------------------------------------------------------------------------------------

def test_r2_percent_equals_sklearn_on_flattened_samples(pair):
    y_true, y_pred = pair
    expected = 100 * r2_score(y_true.reshape(-1, 2), y_pred.reshape(-1, 2))
    assert r2_percent(y_true, y_pred) == pytest.approx(expected, rel=1e-12)
    # uniform average over dims, not variance-weighted: the two dims have very different scales
    per_dim = [r2_score(y_true[..., j].ravel(), y_pred[..., j].ravel()) for j in range(2)]
    assert r2_percent(y_true, y_pred) == pytest.approx(100 * np.mean(per_dim), rel=1e-12)
    assert r2_percent(y_true.reshape(-1, 2), y_pred.reshape(-1, 2)) == pytest.approx(expected, rel=1e-12)


def test_r2_percent_perfect_and_mean_prediction(pair):
    y_true, _ = pair
    assert r2_percent(y_true, y_true) == pytest.approx(100.0)
    mean_prediction = np.broadcast_to(y_true.reshape(-1, 2).mean(axis=0), y_true.shape)
    assert r2_percent(y_true, mean_prediction) == pytest.approx(0.0, abs=1e-10)
    assert r2_percent(y_true, -y_true) < 0


def test_r2_percent_accepts_torch_tensors(pair):
    y_true, y_pred = pair
    value = r2_percent(torch.tensor(y_true), torch.tensor(y_pred))
    assert value == pytest.approx(r2_percent(y_true, y_pred), rel=1e-12)


def test_masked_bins_are_ignored(pair):
    y_true, y_pred = pair
    mask = ragged_mask(*y_true.shape[:2])
    expected_r2 = 100 * r2_score(y_true[mask], y_pred[mask])
    expected_rmse = np.sqrt(np.mean((y_true[mask] - y_pred[mask]) ** 2))
    garbage_true, garbage_pred = y_true.copy(), y_pred.copy()
    garbage_true[~mask] = 1e6
    garbage_pred[~mask] = np.nan
    assert r2_percent(garbage_true, garbage_pred, mask) == pytest.approx(expected_r2, rel=1e-12)
    assert rmse(garbage_true, garbage_pred, mask) == pytest.approx(expected_rmse, rel=1e-12)
    assert r2_percent(y_true, y_pred, mask) != pytest.approx(r2_percent(y_true, y_pred), rel=1e-6)


def test_rmse_known_value():
    y_true = np.zeros((2, 3, 2))
    y_pred = np.zeros((2, 3, 2))
    y_pred[0, 0, 0] = 3.0
    y_pred[1, 2, 1] = 4.0  # mean squared error = (9 + 16) / 12
    assert rmse(y_true, y_pred) == pytest.approx(np.sqrt(25 / 12))
    assert rmse(y_true, y_true) == 0.0


def test_flatten_trials_shapes_and_order():
    x = np.arange(24, dtype=float).reshape(2, 4, 3)
    np.testing.assert_array_equal(flatten_trials(x), x.reshape(8, 3))
    mask = np.array([[True, True, False, False], [True, True, True, False]])
    np.testing.assert_array_equal(flatten_trials(x, mask), np.concatenate([x[0, :2], x[1, :3]]))
    np.testing.assert_array_equal(flatten_trials(x.reshape(8, 3)), x.reshape(8, 3))


@pytest.mark.parametrize("function", [r2_percent, rmse])
def test_decoding_metric_bad_inputs(function, pair):
    y_true, y_pred = pair
    bad = y_pred.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="y_pred.*finite"):
        function(y_true, bad)
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="y_pred.*finite"):
        function(y_true, bad)
    with pytest.raises(ValueError, match="y_pred: expected the same shape"):
        function(y_true, y_pred[:, :5])
    with pytest.raises(ValueError, match="y_true: expected 3 dimensions"):
        function(y_true[0, 0], y_pred[0, 0])
    with pytest.raises(ValueError, match="y_true: expected 3 dimensions"):
        function(y_true[None], y_pred[None])
    with pytest.raises(ValueError, match="y_true: expected a non-empty"):
        function(np.zeros((0, 10, 2)), np.zeros((0, 10, 2)))
    with pytest.raises(ValueError, match="mask: expected shape"):
        function(y_true, y_pred, np.ones((6, 9), dtype=bool))
    with pytest.raises(ValueError, match="mask: expected 2 dimensions"):
        function(y_true, y_pred, np.ones(60, dtype=bool))
    with pytest.raises(TypeError, match="mask: expected a boolean"):
        function(y_true, y_pred, np.ones((6, 10)))
    with pytest.raises(ValueError, match=r"y_true\[mask\]: expected a non-empty"):
        function(y_true, y_pred, np.zeros((6, 10), dtype=bool))
    with pytest.raises(TypeError, match="y_true: expected an array"):
        function(None, y_pred)


def test_r2_percent_needs_two_samples():
    with pytest.raises(ValueError, match="y_true: R2 needs at least 2 samples"):
        r2_percent(np.ones((1, 2)), np.ones((1, 2)))


# --- RidgeDecoder ----------------------------------------------------------------------------------------------

def linear_data(seed: int = 0, trials: int = 20, time: int = 15, k: int = 5, dims: int = 2, delay: int = 0):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(trials, time, k))
    weights = rng.normal(size=(k, dims))
    delayed = np.zeros_like(features)
    delayed[:, delay:] = features[:, : time - delay]
    behavior = delayed @ weights + 1.5 + 0.1 * rng.normal(size=(trials, time, dims))
    return features, behavior


def test_ridge_decoder_recovers_linear_map():
    features, behavior = linear_data()
    decoder = RidgeDecoder().fit(features[:15], behavior[:15])
    prediction = decoder.predict(features[15:])
    assert prediction.shape == (5, 15, 2)
    assert decoder.score(features[15:], behavior[15:]) > 90
    assert decoder.score(features[15:], behavior[15:]) == pytest.approx(r2_percent(behavior[15:], prediction))
    assert decoder.n_features_in_ == 5 and decoder.n_outputs_ == 2
    assert decoder.alpha_ in RidgeDecoder().alphas


def test_ridge_decoder_lag_stacking():
    features, behavior = linear_data(delay=2)
    no_lag = RidgeDecoder(lag=0).fit(features[:15], behavior[:15])
    with_lag = RidgeDecoder(lag=2).fit(features[:15], behavior[:15])
    assert no_lag.score(features[15:], behavior[15:]) < 20
    assert with_lag.score(features[15:], behavior[15:]) > 90


def test_ridge_decoder_lags_do_not_cross_trials():
    features = np.zeros((2, 3, 1))
    features[0, -1, 0] = 1.0  # last bin of trial 0 must not appear as a lag of trial 1's first bin
    behavior = np.random.default_rng(0).normal(size=(2, 3, 1))
    decoder = RidgeDecoder(lag=1, standardize=False).fit(features, behavior)
    prediction = decoder.predict(features)
    assert prediction[1, 0, 0] == pytest.approx(decoder.ridge_.intercept_[0])


@pytest.mark.parametrize("garbage", [np.nan, 1e3])
def test_ridge_decoder_mask_ignores_padding(garbage):
    features, behavior = linear_data(seed=3)
    mask = np.random.default_rng(4).random((20, 15)) > 0.2  # holes anywhere, not only at the end
    padded_features, padded_behavior = features.copy(), behavior.copy()
    padded_features[~mask] = garbage  # must neither be used nor leak into the lags of valid bins
    padded_behavior[~mask] = 1e6
    clean = RidgeDecoder(lag=1).fit(np.where(mask[..., None], features, 0.0), behavior, mask)
    padded = RidgeDecoder(lag=1).fit(padded_features, padded_behavior, mask)
    np.testing.assert_allclose(padded.ridge_.coef_, clean.ridge_.coef_)
    assert padded.score(padded_features, padded_behavior, mask) > 90


def test_ridge_decoder_is_an_sklearn_estimator():
    decoder = RidgeDecoder(lag=1, standardize=False)
    assert clone(decoder).get_params() == decoder.get_params()
    with pytest.raises(TypeError):
        RidgeDecoder(0.1)  # keyword-only


def test_ridge_decoder_predict_before_fit():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        RidgeDecoder().predict(np.zeros((2, 3, 4)))


def test_ridge_decoder_bad_inputs():
    features, behavior = linear_data()
    with pytest.raises(ValueError, match=r"behavior: expected the same \(trials, time\)"):
        RidgeDecoder().fit(features, behavior[:10])
    with pytest.raises(ValueError, match=r"behavior: expected the same \(trials, time\)"):
        RidgeDecoder().fit(features, behavior[:, :10])
    with pytest.raises(ValueError, match="features: expected 3 dimensions"):
        RidgeDecoder().fit(features[0], behavior[0])
    with pytest.raises(ValueError, match="behavior: expected 3 dimensions"):
        RidgeDecoder().fit(features, behavior[..., 0])
    bad = features.copy()
    bad[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="features.*finite"):
        RidgeDecoder().fit(bad, behavior)
    bad_behavior = behavior.copy()
    bad_behavior[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="behavior.*finite"):
        RidgeDecoder().fit(features, bad_behavior)
    with pytest.raises(ValueError, match="features: expected a non-empty"):
        RidgeDecoder().fit(np.zeros((0, 15, 5)), np.zeros((0, 15, 2)))
    with pytest.raises(ValueError, match="mask: expected shape"):
        RidgeDecoder().fit(features, behavior, np.ones((20, 14), dtype=bool))
    decoder = RidgeDecoder().fit(features, behavior)
    with pytest.raises(ValueError, match="features: expected 5 features"):
        decoder.predict(features[..., :4])
    with pytest.raises(ValueError, match="features.*finite"):
        decoder.predict(bad)
    with pytest.raises(ValueError, match="behavior: expected shape"):
        decoder.score(features, behavior[..., :1])


@pytest.mark.parametrize("params, error, message", [
    ({"lag": -1}, ValueError, "lag: expected an integer >= 0"),
    ({"lag": 1.5}, TypeError, "lag: expected an integer"),
    ({"alphas": (1.0, -1.0)}, ValueError, "alphas: expected a finite number > 0"),
    ({"alphas": ()}, ValueError, "alphas: expected a non-empty"),
    ({"alphas": (1.0, np.nan)}, ValueError, "alphas: expected finite"),
    ({"standardize": "yes"}, TypeError, "standardize: expected True or False"),
])
def test_ridge_decoder_bad_params(params, error, message):
    with pytest.raises(error, match=message):
        RidgeDecoder(**params)
