"""Decoding metrics: R2 (%), RMSE, and a ridge decoder from latents (or spikes) to behaviour.

R2 (%) = 100 * sklearn ``r2_score`` over all valid (trial, bin) samples, averaged uniformly over output dims;
RMSE = sqrt of the mean squared error over all valid samples and all dims. Ragged trials are handled with a
boolean ``mask`` of shape (trials, time) that selects the valid bins; values in masked-out bins are ignored
(they may hold anything, NaN included).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from neuralign._checks import as_array, describe, positive_float, positive_int

DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(alpha) for alpha in np.logspace(-3, 4, 8))


def _check_mask(mask: Any, leading_shape: tuple[int, ...], data_name: str) -> np.ndarray:
    """Validate a boolean mask whose shape must equal ``leading_shape`` (the data's shape without its last axis)."""
    mask = as_array("mask", mask, dtype=None, ndim=len(leading_shape), allow_empty=True)
    if mask.dtype != bool:
        raise TypeError(f"mask: expected a boolean array marking the valid bins, got {describe(mask)}; "
                        "convert it with mask.astype(bool).")
    if mask.shape != leading_shape:
        raise ValueError(f"mask: expected shape {leading_shape} to match the leading axes of {data_name}, "
                         f"got {describe(mask)}.")
    return mask


def flatten_trials(x: Any, mask: Any = None, *, name: str = "x", nonnegative: bool = False) -> np.ndarray:
    """Stack the valid (trial, bin) samples of ``x`` into a 2-D array.

    Parameters
    ----------
    x : (trials, time, dims) or (samples, dims) array or tensor.
    mask : optional boolean (trials, time) (or (samples,) for 2-D ``x``): True marks the bins to keep. Values in
        masked-out bins are not checked and never used.
    name : the argument's name in error messages.
    nonnegative : reject negative values among the kept samples.

    Returns
    -------
    (samples, dims) float64 array of the kept samples, finite, in trial-major order.
    """
    array = as_array(name, x, dtype=np.float64, finite=False)
    if array.ndim not in (2, 3):
        raise ValueError(f"{name}: expected 3 dimensions (trials, time, dims) or 2 (samples, dims), "
                         f"got {describe(array)}.")
    checked_name = name
    if mask is not None:
        array = array[_check_mask(mask, array.shape[:-1], name)]
        checked_name = f"{name}[mask]"
    array = array.reshape(-1, array.shape[-1])
    return as_array(checked_name, array, dtype=None, nonnegative=nonnegative)


def flatten_pair(name_a: str, a: Any, name_b: str, b: Any, mask: Any = None, *, same_last: bool = True,
                 nonnegative: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Flatten two arrays that describe the same samples, checking that their shapes agree.

    Parameters
    ----------
    a, b : (trials, time, dims) or (samples, dims); all axes but the last must agree, and the last too when
        ``same_last``. ``name_b`` is the one blamed when they do not.
    mask : optional boolean (trials, time) selecting the valid bins of both.

    Returns
    -------
    ((samples, dims_a), (samples, dims_b)) float64 arrays.
    """
    shape_a = as_array(name_a, a, dtype=None, finite=False).shape
    shape_b = as_array(name_b, b, dtype=None, finite=False).shape
    agree = shape_a == shape_b if same_last else shape_a[:-1] == shape_b[:-1] and len(shape_a) == len(shape_b)
    if not agree:
        what = "the same shape as" if same_last else "the same leading (trial, time) axes as"
        raise ValueError(f"{name_b}: expected {what} {name_a} {shape_a}, got shape {shape_b}.")
    flat_a = flatten_trials(a, mask, name=name_a, nonnegative=nonnegative)
    flat_b = flatten_trials(b, mask, name=name_b, nonnegative=nonnegative)
    return flat_a, flat_b


def r2_percent(y_true: Any, y_pred: Any, mask: Any = None) -> float:
    """Coefficient of determination in percent, over all valid (trial, bin) samples.

    Parameters
    ----------
    y_true, y_pred : (trials, time, dims) or (samples, dims), same shape.
    mask : optional boolean (trials, time) selecting the valid bins.

    Returns
    -------
    100 * sklearn ``r2_score(y_true, y_pred)`` on the flattened samples, averaged uniformly over dims. 100 is a
    perfect prediction, 0 that of the per-dim mean; it can be negative.
    """
    true, pred = flatten_pair("y_true", y_true, "y_pred", y_pred, mask)
    return _r2_percent_flat(true, pred, name="y_true")


def _r2_percent_flat(true: np.ndarray, pred: np.ndarray, *, name: str) -> float:
    """100 * r2_score of already validated (samples, dims) arrays of equal shape."""
    if true.shape[0] < 2:
        raise ValueError(f"{name}: R2 needs at least 2 samples, got {true.shape[0]}; pass more trials or bins.")
    return float(100.0 * r2_score(true, pred, multioutput="uniform_average"))


def rmse(y_true: Any, y_pred: Any, mask: Any = None) -> float:
    """Root mean squared error over all valid samples and all dims.

    Parameters
    ----------
    y_true, y_pred : (trials, time, dims) or (samples, dims), same shape.
    mask : optional boolean (trials, time) selecting the valid bins.
    """
    true, pred = flatten_pair("y_true", y_true, "y_pred", y_pred, mask)
    return float(np.sqrt(np.mean((true - pred) ** 2)))


def stack_lags(features: np.ndarray, lag: int) -> np.ndarray:
    """Append the ``lag`` previous bins of each trial's features: (trials, time, k) -> (trials, time, k * (lag + 1)).

    Block j of the last axis holds the features of bin t - j; bins before the start of the trial are zeros.
    """
    blocks = [features]
    for shift in range(1, lag + 1):
        shifted = np.zeros_like(features)
        shifted[:, shift:] = features[:, :-shift]
        blocks.append(shifted)
    return np.concatenate(blocks, axis=-1)


def check_penalties(alphas: Any, standardize: Any) -> np.ndarray:
    """Validate a regression estimator's ``alphas`` (a 1-D sequence of penalties > 0) and ``standardize`` (a
    bool); return the penalties as a flat float64 array."""
    array = as_array("alphas", alphas, dtype=np.float64)
    if array.ndim > 1:
        raise ValueError(f"alphas: expected a 1-D sequence of penalties, got {describe(array)}.")
    for alpha in array.reshape(-1):
        positive_float("alphas", float(alpha))
    if not isinstance(standardize, (bool, np.bool_)):
        raise TypeError(f"standardize: expected True or False, got {describe(standardize)}.")
    return array.reshape(-1)


def fitted_features(estimator: BaseEstimator, features: Any) -> np.ndarray:
    """Check that ``estimator`` is fitted and that ``features`` is (trials, time, k) with the k seen in its
    ``fit`` (``n_features_in_``); return the features as an array (values unchecked)."""
    check_is_fitted(estimator, ["n_features_in_"])
    array = as_array("features", features, dtype=None, ndim=3, finite=False)
    if array.shape[2] != estimator.n_features_in_:
        raise ValueError(f"features: expected {estimator.n_features_in_} features in the last axis as seen in fit, "
                         f"got shape {array.shape}.")
    return array


class RidgeDecoder(BaseEstimator):
    """Linear (ridge) decoder from features to behaviour, with the penalty chosen by efficient leave-one-out CV.

    Parameters
    ----------
    alphas : candidate ridge penalties (all > 0); the default is a log grid from 1e-3 to 1e4.
    lag : number of past bins of features stacked with the current one (0: the current bin only). Lags never
        cross trial boundaries; bins before a trial's start, and masked-out bins, count as zeros.
    standardize : z-score each stacked feature (statistics of the training bins) before the ridge.

    Attributes (after ``fit``)
    --------------------------
    alpha_ : the chosen penalty. n_features_in_ : k. n_outputs_ : dims. scaler_ : the StandardScaler or None.
    ridge_ : the fitted sklearn RidgeCV.
    """

    def __init__(self, *, alphas: Any = DEFAULT_ALPHAS, lag: int = 0, standardize: bool = True) -> None:
        self.alphas = alphas
        self.lag = lag
        self.standardize = standardize
        self._check_params()

    def _check_params(self) -> tuple[np.ndarray, int]:
        alphas = check_penalties(self.alphas, self.standardize)
        return alphas, positive_int("lag", self.lag, minimum=0)

    def _design(self, features: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """Check the (valid bins of) features and return the lag-stacked design, (trials, time, k * (lag + 1)).

        ``mask`` must already be validated; masked-out bins become zeros so they never leak into lags.
        """
        array = as_array("features", features, dtype=np.float64, ndim=3, finite=mask is None)
        if mask is not None:
            as_array("features[mask]", array[mask], dtype=None)  # finite check on the valid bins only
            array = np.where(mask[..., None], array, 0.0)
        return stack_lags(array, int(self.lag))

    def fit(self, features: Any, behavior: Any, mask: Any = None) -> RidgeDecoder:
        """Fit the decoder.

        Parameters
        ----------
        features : (trials, time, k) array or tensor (latents, rates, ...).
        behavior : (trials, time, dims) array or tensor, same trials and time bins as ``features``.
        mask : optional boolean (trials, time) selecting the bins to train on.
        """
        alphas, _ = self._check_params()
        feats = as_array("features", features, dtype=None, ndim=3, finite=False)
        behav = as_array("behavior", behavior, dtype=None, ndim=3, finite=False)
        if feats.shape[:2] != behav.shape[:2]:
            raise ValueError(f"behavior: expected the same (trials, time) = {feats.shape[:2]} as features, "
                             f"got {behav.shape[:2]} (full shape {behav.shape}).")
        valid = None if mask is None else _check_mask(mask, feats.shape[:2], "features")
        design = self._design(feats, valid)
        x = flatten_trials(design, valid, name="features")
        y = flatten_trials(behav, valid, name="behavior")
        if x.shape[0] < 2:
            raise ValueError(f"features: need at least 2 training bins, got {x.shape[0]}.")
        self.scaler_ = StandardScaler().fit(x) if self.standardize else None
        if self.scaler_ is not None:
            x = self.scaler_.transform(x)
        self.ridge_ = RidgeCV(alphas=alphas).fit(x, y)
        self.alpha_ = float(self.ridge_.alpha_)
        self.n_features_in_ = int(feats.shape[2])
        self.n_outputs_ = int(behav.shape[2])
        return self

    def predict(self, features: Any, mask: Any = None) -> np.ndarray:
        """Decode behaviour.

        Parameters
        ----------
        features : (trials, time, k) with the k seen in ``fit``.
        mask : optional boolean (trials, time); masked-out bins are treated as zeros (outside the trial), and
            the predictions there are meaningless.

        Returns
        -------
        (trials, time, dims) float64 array.
        """
        array = fitted_features(self, features)
        valid = None if mask is None else _check_mask(mask, array.shape[:2], "features")
        design = self._design(array, valid)
        trials, time, width = design.shape
        x = design.reshape(-1, width)
        if self.scaler_ is not None:
            x = self.scaler_.transform(x)
        prediction = np.asarray(self.ridge_.predict(x), dtype=np.float64)
        return prediction.reshape(trials, time, self.n_outputs_)

    def score(self, features: Any, behavior: Any, mask: Any = None) -> float:
        """R2 (%) of the decoded behaviour, see :func:`r2_percent`.

        Parameters
        ----------
        features : (trials, time, k). behavior : (trials, time, dims). mask : optional boolean (trials, time).
        """
        prediction = self.predict(features, mask)
        behav = as_array("behavior", behavior, dtype=None, ndim=3, finite=False)
        if behav.shape != prediction.shape:
            raise ValueError(f"behavior: expected shape {prediction.shape} (the trials and time of features, "
                             f"{self.n_outputs_} dims as seen in fit), got {describe(behav)}.")
        true = flatten_trials(behav, mask, name="behavior")
        pred = flatten_trials(prediction, mask, name="prediction")
        return _r2_percent_flat(true, pred, name="behavior")
