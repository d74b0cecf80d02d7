"""Latent recovery: how well inferred latents determine the true ones, up to an affine map.

An affine map z_true ~ A z_inferred + b is fitted by least squares (sklearn LinearRegression) on training trials,
and scored on held-out trials by R2 (a fraction, sklearn ``r2_score``, averaged uniformly over the true latent
dims). 1 means the true latents are an affine function of the inferred ones; 0 or below means no recovery.

``mapping="knn"`` replaces the affine map by a k-nearest-neighbour regression (sklearn KNeighborsRegressor, 25
neighbours, on standardised inferred latents): recovery up to a smooth invertible map rather than an affine one.
A model may find a latent that is a warped copy of the truth (a behaviour-private latent linear in a digit's area,
exp(0.5 z), instead of in z): the affine score caps such a latent at a^2 / (e^(a^2) - 1) = 0.88 for a = 0.5, while
the k-NN score does not penalise the warp.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from neuralign._checks import as_array, describe, fraction, one_of, positive_int
from neuralign.metrics.decoding import flatten_pair


MAPPINGS = ("affine", "knn")


def latent_recovery(inferred_train: Any, true_train: Any, inferred_test: Any, true_test: Any, *,
                    mapping: str = "affine") -> float:
    """Held-out R2 of an affine (or k-NN) map from inferred to true latents.

    Parameters
    ----------
    inferred_train : (trials, time, d) or (samples, d) inferred latents of the training trials.
    true_train : (trials, time, d_true) or (samples, d_true), the same trials and bins.
    inferred_test : (trials', time, d) or (samples', d) inferred latents of held-out trials.
    true_test : (trials', time, d_true) or (samples', d_true).
    mapping : "affine" (least squares) or "knn" (25-nearest-neighbour regression; see the module docstring).

    Returns
    -------
    sklearn ``r2_score`` (fraction, uniform average over the d_true dims) of the map fitted on the training
    pair and applied to the test pair.
    """
    one_of("mapping", mapping, MAPPINGS)
    x_train, y_train = flatten_pair("inferred_train", inferred_train, "true_train", true_train, same_last=False)
    x_test, y_test = flatten_pair("inferred_test", inferred_test, "true_test", true_test, same_last=False)
    if x_test.shape[1] != x_train.shape[1]:
        raise ValueError(f"inferred_test: expected {x_train.shape[1]} latent dims as in inferred_train, "
                         f"got {x_test.shape[1]}.")
    if y_test.shape[1] != y_train.shape[1]:
        raise ValueError(f"true_test: expected {y_train.shape[1]} latent dims as in true_train, "
                         f"got {y_test.shape[1]}.")
    if x_train.shape[0] < 2:
        raise ValueError(f"inferred_train: need at least 2 training samples, got {x_train.shape[0]}.")
    if x_test.shape[0] < 2:
        raise ValueError(f"inferred_test: R2 needs at least 2 test samples, got {x_test.shape[0]}.")
    if mapping == "affine":
        regression = LinearRegression()
    else:
        from sklearn.neighbors import KNeighborsRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        regression = make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=min(25, x_train.shape[0])))
    regression.fit(x_train, y_train)
    return float(r2_score(y_test, regression.predict(x_test), multioutput="uniform_average"))


def latent_recovery_split(inferred: Any, true: Any, *, test_fraction: float = 0.5, seed: int = 0) -> float:
    """Split trials at random into train and test, then call :func:`latent_recovery`.

    Parameters
    ----------
    inferred : (trials, time, d) or (samples, d) inferred latents; with 2-D input each row counts as a trial.
    true : (trials, time, d_true) or (samples, d_true), the same trials and bins.
    test_fraction : share of trials held out, in (0, 1); at least one trial goes to each side.
    seed : seed of the permutation that assigns trials (integer >= 0).

    Returns
    -------
    Held-out R2 (fraction) of the affine map from inferred to true latents.
    """
    test_fraction = fraction("test_fraction", test_fraction)
    seed = positive_int("seed", seed, minimum=0)
    inferred_array = as_array("inferred", inferred, dtype=None, finite=False)
    true_array = as_array("true", true, dtype=None, finite=False)
    flatten_pair("inferred", inferred_array, "true", true_array, same_last=False)  # validates shapes and values
    n_trials = inferred_array.shape[0]
    if n_trials < 2:
        raise ValueError(f"inferred: need at least 2 trials to split, got {describe(inferred_array)}.")
    n_test = min(max(int(round(test_fraction * n_trials)), 1), n_trials - 1)
    order = np.random.default_rng(seed).permutation(n_trials)
    test, train = order[:n_test], order[n_test:]
    return latent_recovery(inferred_array[train], true_array[train], inferred_array[test], true_array[test])
