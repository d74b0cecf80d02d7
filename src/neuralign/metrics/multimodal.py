"""Metrics of multimodal models on arrays: latent classification accuracy, coherence, importance weighting.

    latent accuracy   : a linear classifier (standardised features, multinomial logistic regression) trained on
                        training latents (e.g. posterior means) and scored on held-out latents
    coherence         : the fraction of generated samples that a classifier, trained once on real data, assigns
                        to the intended class (cross-coherence: generated from another modality; joint
                        coherence: two modalities generated together agree)
    IW log-likelihood : log p(x) ≈ log (1/K) sum_k exp(log w_k),  log w_k = log p(x, z_k) - log q(z_k | x)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuralign._checks import as_array


def _flat(name: str, values: Any) -> np.ndarray:
    array = as_array(name, values)
    if array.ndim < 2:
        raise ValueError(f"{name}: expected (samples, features) or (trials, time, dims), got shape {array.shape}.")
    return array.reshape(array.shape[0], -1)


def _labels(name: str, labels: Any, n: int) -> np.ndarray:
    array = np.asarray(labels)
    if array.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) (one label per sample), got {array.shape}.")
    return array


def fit_linear_classifier(features: Any, labels: Any, *, seed: int = 0) -> Any:
    """A standardised multinomial logistic regression fitted on features (samples, ...) and labels (samples,)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = _flat("features", features)
    labels = _labels("labels", labels, features.shape[0])
    if len(np.unique(labels)) < 2:
        raise ValueError("labels: expected at least two classes to train a classifier, got one.")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed)).fit(features, labels)


def latent_accuracy(train_latents: Any, train_labels: Any, test_latents: Any, test_labels: Any, *,
                    seed: int = 0) -> float:
    """Held-out accuracy of a linear classifier of the labels from latents; latents (trials, ...) are flattened.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 50)
    >>> latents = labels[:, None] * 4.0 + rng.standard_normal((100, 2))
    >>> latent_accuracy(latents[::2], labels[::2], latents[1::2], labels[1::2]) > 0.9
    True
    """
    classifier = fit_linear_classifier(train_latents, train_labels, seed=seed)
    test = _flat("test_latents", test_latents)
    if test.shape[1] != _flat("train_latents", train_latents).shape[1]:
        raise ValueError(f"test_latents: expected {classifier[0].n_features_in_} features per trial like "
                         f"train_latents, got {test.shape[1]}.")
    return float(np.mean(classifier.predict(test) == _labels("test_labels", test_labels, test.shape[0])))


def coherence(predicted: Any, intended: Any) -> float:
    """Fraction of samples whose predicted class equals the intended one (cross- or joint coherence)."""
    predicted = np.asarray(predicted)
    if predicted.ndim != 1 or predicted.size == 0:
        raise ValueError(f"predicted: expected a non-empty 1-D array of labels, got shape {predicted.shape}.")
    intended = _labels("intended", intended, predicted.shape[0])
    return float(np.mean(predicted == intended))


def log_mean_exp(log_weights: Any, axis: int = 0) -> np.ndarray:
    """log (1/K) sum_k exp(log_weights_k) along ``axis`` (the importance-weighted log-likelihood), stable."""
    values = as_array("log_weights", log_weights, dtype=np.float64)
    peak = values.max(axis=axis, keepdims=True)
    return np.squeeze(peak, axis) + np.log(np.mean(np.exp(values - peak), axis=axis))
