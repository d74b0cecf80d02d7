"""Co-smoothing (Neural Latents Benchmark, Pei et al. 2021): predict held-out neurons from held-in ones.

Neurons are split into held-in and held-out (:func:`split_neurons`). A method turns the held-in spikes of each
trial into per-bin features (smoothed spikes, latents, factors); Poisson GLM read-outs (:class:`PoissonReadout`)
map the features to the held-out and the held-in neurons' rates, fitted on training trials; on test trials:

    co-bps   = [LL(rates) - LL(null)] / (N_sp ln 2)        over held-out neurons (``spikes.bits_per_spike``)
    vel R2   = R2 of a ridge decoder from the predicted rates of all neurons to behaviour, fitted on training
               trials (``decoding.RidgeDecoder``)
    psth R2  = R2 of condition-averaged predicted rates against empirical PSTHs, per neuron over
               (conditions x time), averaged over neurons (``nlb_tools.evaluation.eval_psth``)

with LL the Poisson log-likelihood and null each held-out neuron's mean count per bin over the evaluated bins.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import PoissonRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from neuralign._checks import as_array, describe, fraction, positive_int
from neuralign.metrics.decoding import (RidgeDecoder, _check_mask, check_penalties, fitted_features, flatten_pair,
                                        flatten_trials)
from neuralign.metrics.spikes import RATE_FLOOR, bits_per_spike

DEFAULT_GLM_ALPHAS: tuple[float, ...] = tuple(float(alpha) for alpha in np.logspace(-3, 2, 6))
# log-rates are clipped here before exp, so a feature far outside the training range cannot overflow to inf
MAX_LOG_RATE = 20.0


def split_neurons(n_units: int, heldout_fraction: float = 0.25, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``n_units`` neurons into held-in and held-out.

    Parameters
    ----------
    n_units : number of neurons (>= 2).
    heldout_fraction : share of the neurons held out, in (0, 1); ``round(heldout_fraction * n_units)`` of them.
    seed : the split is a function of ``seed`` (and ``n_units``, ``heldout_fraction``) alone.

    Returns
    -------
    (heldin, heldout): sorted 1-D int64 index arrays that together cover ``range(n_units)`` once.
    """
    n_units = positive_int("n_units", n_units, minimum=2)
    heldout_fraction = fraction("heldout_fraction", heldout_fraction)
    seed = positive_int("seed", seed, minimum=0)
    n_heldout = int(round(heldout_fraction * n_units))
    if n_heldout < 1 or n_heldout >= n_units:
        raise ValueError(f"heldout_fraction: {heldout_fraction} of {n_units} neurons holds out {n_heldout}, "
                         "which leaves no held-out or no held-in neuron; use more neurons or another fraction.")
    order = np.random.default_rng(seed).permutation(n_units)
    return np.sort(order[n_heldout:]).astype(np.int64), np.sort(order[:n_heldout]).astype(np.int64)


def co_bps(rates: Any, counts: Any, mask: Any = None) -> float:
    """Co-smoothing bits per spike: :func:`~neuralign.metrics.spikes.bits_per_spike` of held-out neurons' rates.

    Parameters
    ----------
    rates : (trials, time, heldout) or (samples, heldout), predicted expected counts per bin of the held-out
        neurons on the evaluated (test) trials, predicted from held-in spikes only.
    counts : same shape, the held-out neurons' observed counts.
    mask : optional boolean (trials, time) selecting the valid bins.

    Returns
    -------
    (LL(rates) - LL(null)) / (held-out spikes * ln 2), the null being each neuron's mean count per bin over the
    evaluated bins: the NLB formula, equal to ``nlb_tools.evaluation.bits_per_spike``.
    """
    return bits_per_spike(rates, counts, mask)


def _condition_means(name: str, values: np.ndarray, labels: np.ndarray, valid: np.ndarray,
                     conditions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per condition and bin, the mean of ``values`` over the trials valid there.

    Returns ((conditions, time, units) means, NaN where no trial is valid; (conditions, time) bool: any valid).
    """
    means = np.full((len(conditions), values.shape[1], values.shape[2]), np.nan)
    covered = np.zeros((len(conditions), values.shape[1]), dtype=bool)
    for row, condition in enumerate(conditions):
        members = labels == condition
        weights = valid[members].astype(np.float64)  # (members, time)
        n_valid = weights.sum(axis=0)
        covered[row] = n_valid > 0
        summed = np.einsum("mt,mtu->tu", weights, np.where(valid[members][..., None], values[members], 0.0))
        means[row, covered[row]] = summed[covered[row]] / n_valid[covered[row], None]
    if not covered.any():
        raise ValueError(f"{name}: no valid bin in any condition; check the mask.")
    return means, covered


def _check_labels(name: str, labels: Any, n_trials: int, trials_of: str) -> np.ndarray:
    array = as_array(name, labels, dtype=None, ndim=1)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name}: expected integer condition labels, got {describe(array)}.")
    if array.shape[0] != n_trials:
        raise ValueError(f"{name}: expected {n_trials} labels (one per trial of {trials_of}), got {array.shape[0]}.")
    return array


def psth_r2(rates: Any, counts: Any, labels: Any, mask: Any = None, *, reference_labels: Any = None,
            reference_mask: Any = None) -> float:
    """NLB psth R2: condition-averaged predicted rates against the empirical condition-averaged counts (PSTHs).

    Matches ``nlb_tools.evaluation.eval_psth``: per condition of ``labels``, the predicted PSTH is the mean of
    ``rates`` over that condition's trials and the empirical PSTH the mean of ``counts`` over the reference
    trials of that condition; both are stacked over (conditions x time bins) and scored by sklearn's
    ``r2_score`` with its defaults: an R2 per neuron, averaged uniformly over neurons (a neuron whose empirical
    PSTH is constant scores 1 if predicted exactly, else 0). NLB computes its PSTHs from all trials of each
    condition (training and test), Gaussian-smoothed (70 ms); here the caller chooses: by default the reference
    is ``counts`` of the same trials as ``rates``; pass all trials' counts (smoothed or not) with
    ``reference_labels`` to follow NLB.

    Parameters
    ----------
    rates : (trials, time, units) predicted expected counts per bin on the evaluated trials.
    counts : (reference trials, time, units) observed counts (or smoothed counts) giving the empirical PSTHs; the
        same trials as ``rates`` unless ``reference_labels`` is given.
    labels : (trials,) integer condition of each trial of ``rates``.
    mask : optional boolean (trials, time) of ``rates``'s valid bins (ragged trials); each bin's mean is over
        the trials valid there, and bins valid in no trial of a condition are left out (NLB's NaN bins).
    reference_labels : optional (reference trials,) conditions of the trials of ``counts``; every condition of
        ``labels`` must occur among them (reference conditions with no evaluated trial are ignored).
    reference_mask : optional boolean (reference trials, time); defaults to ``mask`` when the reference is the
        evaluated trials, else to all bins valid.

    Returns
    -------
    R2 (a fraction, at most 1; negative when worse than each neuron's mean PSTH value).
    """
    predicted = as_array("rates", rates, dtype=np.float64, ndim=3, finite=False)
    reference = as_array("counts", counts, dtype=np.float64, ndim=3, finite=False)
    labels = _check_labels("labels", labels, predicted.shape[0], "rates")
    valid = np.ones(predicted.shape[:2], bool) if mask is None else _check_mask(mask, predicted.shape[:2], "rates")
    if reference_labels is None:
        if reference.shape != predicted.shape:
            raise ValueError(f"counts: expected the shape of rates {predicted.shape} (the same trials; pass "
                             f"reference_labels to use other trials), got shape {reference.shape}.")
        if reference_mask is not None:
            raise ValueError("reference_mask: only meaningful with reference_labels (other reference trials); "
                             "pass mask for the evaluated trials.")
        reference_labels, reference_valid = labels, valid
    else:
        if reference.shape[1:] != predicted.shape[1:]:
            raise ValueError(f"counts: expected (reference trials, {predicted.shape[1]}, {predicted.shape[2]}), "
                             f"the time bins and units of rates, got shape {reference.shape}.")
        reference_labels = _check_labels("reference_labels", reference_labels, reference.shape[0], "counts")
        reference_valid = np.ones(reference.shape[:2], bool) if reference_mask is None \
            else _check_mask(reference_mask, reference.shape[:2], "counts")
    as_array("rates[mask]", predicted[valid], dtype=None, nonnegative=True)
    as_array("counts[reference_mask]", reference[reference_valid], dtype=None, nonnegative=True)
    conditions = np.unique(labels)
    missing = np.setdiff1d(conditions, reference_labels)
    if missing.size:
        raise ValueError(f"reference_labels: conditions {missing.tolist()} of labels have no reference trial; "
                         "give reference counts for every evaluated condition.")
    predicted_psth, predicted_covered = _condition_means("rates", predicted, labels, valid, conditions)
    empirical_psth, empirical_covered = _condition_means("counts", reference, reference_labels, reference_valid,
                                                         conditions)
    both = predicted_covered & empirical_covered
    if both.sum() < 2:
        raise ValueError(f"labels: psth R2 needs at least 2 (condition, bin) pairs valid in both rates and "
                         f"counts, got {int(both.sum())}.")
    return float(r2_score(empirical_psth[both], predicted_psth[both]))


class PoissonReadout(BaseEstimator):
    """Poisson GLM read-out from per-bin features to spike counts, one sklearn ``PoissonRegressor`` per neuron.

    rate_u = exp(w_u . x' + b_u), x' the features (z-scored when ``standardize``), fitted by penalised maximum
    likelihood (L2 on w_u, in sklearn's scaling: mean half-deviance + alpha / 2 |w_u|^2). One ``alpha`` for all
    neurons, chosen from ``alphas`` by the Poisson log-likelihood on ``n_folds`` folds of whole training trials
    summed over neurons (NLB's baselines tune one alpha per dataset). A neuron without a spike in the training
    bins gets the rate 1e-9 (``spikes.RATE_FLOOR``) everywhere.

    Parameters
    ----------
    alphas : candidate L2 penalties (all > 0); one value skips the cross-validation.
    n_folds : folds of trials for choosing alpha (>= 2).
    standardize : z-score each feature (statistics of the training bins) before the GLM.
    max_iter : iterations of sklearn's Newton-Cholesky solver per fit.
    seed : seeds the assignment of trials to folds.

    Attributes (after ``fit``)
    --------------------------
    alpha_ : the chosen penalty. coef_ : (units, k) weights on the (standardised) features. intercept_ : (units,).
    scaler_ : the fitted StandardScaler (the identity when not ``standardize``). n_features_in_ : k.
    """

    def __init__(self, *, alphas: Any = DEFAULT_GLM_ALPHAS, n_folds: int = 3, standardize: bool = True,
                 max_iter: int = 100, seed: int = 0) -> None:
        self.alphas = alphas
        self.n_folds = n_folds
        self.standardize = standardize
        self.max_iter = max_iter
        self.seed = seed
        self._check_params()

    def _check_params(self) -> np.ndarray:
        alphas = check_penalties(self.alphas, self.standardize)
        positive_int("n_folds", self.n_folds, minimum=2)
        positive_int("max_iter", self.max_iter)
        positive_int("seed", self.seed, minimum=0)
        return np.sort(alphas)[::-1]  # strongest first: each fit warm-starts the next

    def _scaler(self) -> StandardScaler:
        return StandardScaler(with_mean=self.standardize, with_std=self.standardize)

    def _fit_unit(self, x: np.ndarray, y: np.ndarray, alpha: float,
                  model: PoissonRegressor | None = None) -> PoissonRegressor:
        model = model or PoissonRegressor(solver="newton-cholesky", max_iter=self.max_iter, warm_start=True)
        return model.set_params(alpha=alpha).fit(x, y)

    def _choose_alpha(self, x: np.ndarray, y: np.ndarray, trial_of_sample: np.ndarray, alphas: np.ndarray) -> float:
        """The alpha of highest Poisson log-likelihood on held-out folds of trials, summed over folds and units."""
        trials = np.unique(trial_of_sample)
        if trials.size < self.n_folds:
            raise ValueError(f"features: choosing alpha on {self.n_folds} folds of trials needs at least "
                             f"{self.n_folds} trials with valid bins, got {trials.size}; pass fewer n_folds or "
                             "a single alpha.")
        scores = np.zeros(alphas.size)
        for fit_trials, val_trials in KFold(self.n_folds, shuffle=True, random_state=self.seed).split(trials):
            fit_part = np.isin(trial_of_sample, trials[fit_trials])
            val_part = np.isin(trial_of_sample, trials[val_trials])
            scaler = self._scaler().fit(x[fit_part])
            x_fit, x_val = scaler.transform(x[fit_part]), scaler.transform(x[val_part])
            for unit in range(y.shape[1]):
                if not y[fit_part, unit].any():
                    continue  # silent in this fold's training bins: the floor rate whatever alpha
                model = None
                for row, alpha in enumerate(alphas):
                    model = self._fit_unit(x_fit, y[fit_part, unit], alpha, model)
                    log_rate = np.minimum(x_val @ model.coef_ + model.intercept_, MAX_LOG_RATE)
                    scores[row] += np.sum(y[val_part, unit] * log_rate - np.exp(log_rate))
        return float(alphas[np.argmax(scores)])

    def fit(self, features: Any, counts: Any, mask: Any = None) -> PoissonReadout:
        """Fit the read-out.

        Parameters
        ----------
        features : (trials, time, k) features computed from held-in spikes (smoothed spikes, latents, ...).
        counts : (trials, time, units) the spike counts to predict, same trials and time bins.
        mask : optional boolean (trials, time) selecting the bins to train on (ragged trials).
        """
        alphas = self._check_params()
        feats = as_array("features", features, dtype=None, ndim=3, finite=False)
        as_array("counts", counts, dtype=None, ndim=3, finite=False)
        valid = np.ones(feats.shape[:2], bool) if mask is None else _check_mask(mask, feats.shape[:2], "features")
        x, y = flatten_pair("features", feats, "counts", counts, valid, same_last=False)
        as_array("counts[mask]", y, dtype=None, nonnegative=True)
        if x.shape[0] < 2:
            raise ValueError(f"features: need at least 2 training bins, got {x.shape[0]}.")
        if not y.any():
            raise ValueError(f"counts: no spike in the {x.shape[0]} training bins of any of the {y.shape[1]} units; "
                             "a Poisson read-out needs spikes to fit.")
        trial_of_sample = np.broadcast_to(np.arange(feats.shape[0])[:, None], feats.shape[:2])[valid]
        self.alpha_ = float(alphas[0]) if alphas.size == 1 else self._choose_alpha(x, y, trial_of_sample, alphas)
        self.scaler_ = self._scaler().fit(x)
        x = self.scaler_.transform(x)
        self.coef_ = np.zeros((y.shape[1], x.shape[1]))
        self.intercept_ = np.full(y.shape[1], np.log(RATE_FLOOR))
        for unit in range(y.shape[1]):
            if y[:, unit].any():
                model = self._fit_unit(x, y[:, unit], self.alpha_)
                self.coef_[unit], self.intercept_[unit] = model.coef_, model.intercept_
        self.n_features_in_ = int(feats.shape[2])
        return self

    def predict(self, features: Any, mask: Any = None) -> np.ndarray:
        """Predicted rates (expected counts per bin).

        Parameters
        ----------
        features : (trials, time, k) with the k seen in ``fit``.
        mask : optional boolean (trials, time); masked-out bins are not read and get rate 0.

        Returns
        -------
        (trials, time, units) float64.
        """
        feats = fitted_features(self, features)
        valid = np.ones(feats.shape[:2], bool) if mask is None else _check_mask(mask, feats.shape[:2], "features")
        x = self.scaler_.transform(flatten_trials(feats, valid, name="features"))
        rates = np.zeros(feats.shape[:2] + (self.coef_.shape[0],))
        rates[valid] = np.exp(np.minimum(x @ self.coef_.T + self.intercept_, MAX_LOG_RATE))
        return rates


def _check_heldout(heldout: Any, n_units: int) -> np.ndarray:
    index = as_array("heldout", heldout, dtype=None, ndim=1)
    if not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"heldout: expected integer indices of the held-out units, got {describe(index)}.")
    if index.min() < 0 or index.max() >= n_units or np.unique(index).size != index.size:
        raise ValueError(f"heldout: expected distinct indices in [0, {n_units}) (units of the counts), got "
                         f"min {index.min()}, max {index.max()}, {index.size - np.unique(index).size} repeats.")
    if index.size >= n_units:
        raise ValueError(f"heldout: expected fewer than all {n_units} units, so that some stay held-in; got "
                         f"{index.size}.")
    return index


def cosmoothing_scores(train_features: Any, train_counts: Any, test_features: Any, test_counts: Any,
                       heldout: Any, *, train_behavior: Any = None, test_behavior: Any = None,
                       test_labels: Any = None, psth_counts: Any = None, psth_labels: Any = None,
                       psth_mask: Any = None, train_mask: Any = None, test_mask: Any = None,
                       readout: PoissonReadout | None = None) -> dict[str, float]:
    """Co-smoothing scores of features computed from held-in spikes, through Poisson GLM read-outs.

    Two :class:`PoissonReadout` (fresh clones of ``readout``), fitted on the training trials, map the features to
    the held-out neurons' rates and to the held-in neurons' rates (each group with its own cross-validated
    penalty: a neuron's own smoothed spikes may be among the features of a held-in neuron, never of a held-out
    one). On the test trials: co-bps of the held-out rates (:func:`co_bps`); where given, behaviour R2 (%) of a
    ridge decoder from the rates of all neurons (``RidgeDecoder`` fitted on the training trials' predicted
    rates, as NLB's vel R2) and psth R2 of the rates of all neurons (:func:`psth_r2`).

    Parameters
    ----------
    train_features, test_features : (trials, time, k) per-bin features from held-in spikes only.
    train_counts, test_counts : (trials, time, units) counts of all neurons (held-in and held-out).
    heldout : 1-D integer indices of the held-out units among ``units`` (at least one unit left held-in).
    train_behavior, test_behavior : optional (trials, time, dims); both or neither.
    test_labels : optional (test trials,) conditions, for psth R2.
    psth_counts, psth_labels : optional reference trials for the empirical PSTHs (e.g. all trials of the
        session, as NLB): (reference trials, time, units) and (reference trials,); default the test trials.
    psth_mask : optional boolean (reference trials, time) valid bins of ``psth_counts``.
    train_mask, test_mask : optional boolean (trials, time) valid bins.
    readout : the read-outs' settings (default ``PoissonReadout()``).

    Returns
    -------
    {"co_bps": float, "velocity_r2_percent": float (with behaviour), "psth_r2": float (with test_labels)}.
    """
    counts_train = as_array("train_counts", train_counts, dtype=None, ndim=3, finite=False)
    counts_test = as_array("test_counts", test_counts, dtype=None, ndim=3, finite=False)
    if counts_test.shape[2] != counts_train.shape[2]:
        raise ValueError(f"test_counts: expected {counts_train.shape[2]} units like train_counts, got shape "
                         f"{counts_test.shape}.")
    heldout = _check_heldout(heldout, counts_train.shape[2])
    heldin = np.setdiff1d(np.arange(counts_train.shape[2]), heldout)
    if (train_behavior is None) != (test_behavior is None):
        raise ValueError("train_behavior: pass both train_behavior and test_behavior, or neither.")
    if (psth_counts is None) != (psth_labels is None):
        raise ValueError("psth_labels: pass both psth_counts and psth_labels, or neither.")
    if psth_mask is not None and psth_counts is None:
        raise ValueError("psth_mask: only meaningful with psth_counts (other reference trials); the test trials "
                         "use test_mask.")
    if psth_labels is not None and test_labels is None:
        raise ValueError("test_labels: psth R2 needs the conditions of the test trials; pass test_labels.")
    if not isinstance(readout, (PoissonReadout, type(None))):
        raise TypeError(f"readout: expected a PoissonReadout or None, got {describe(readout)}.")
    settings = readout if readout is not None else PoissonReadout()
    fitted = {name: clone(settings).fit(train_features, counts_train[..., units], train_mask)
              for name, units in (("heldout", heldout), ("heldin", heldin))
              if name == "heldout" or train_behavior is not None or test_labels is not None}
    test_heldout = fitted["heldout"].predict(test_features, test_mask)
    scores = {"co_bps": co_bps(test_heldout, counts_test[..., heldout], test_mask)}
    if len(fitted) == 1:
        return scores

    def all_rates(features: Any, mask: Any, heldout_rates: np.ndarray) -> np.ndarray:
        rates = np.empty(heldout_rates.shape[:2] + (counts_train.shape[2],))
        rates[..., heldout] = heldout_rates
        rates[..., heldin] = fitted["heldin"].predict(features, mask)
        return rates

    test_rates = all_rates(test_features, test_mask, test_heldout)
    if train_behavior is not None:
        train_rates = all_rates(train_features, train_mask, fitted["heldout"].predict(train_features, train_mask))
        decoder = RidgeDecoder().fit(train_rates, train_behavior, train_mask)
        scores["velocity_r2_percent"] = decoder.score(test_rates, test_behavior, test_mask)
    if test_labels is not None:
        reference = {} if psth_counts is None else {"reference_labels": psth_labels, "reference_mask": psth_mask}
        scores["psth_r2"] = psth_r2(test_rates, counts_test if psth_counts is None else psth_counts, test_labels,
                                    test_mask, **reference)
    return scores
