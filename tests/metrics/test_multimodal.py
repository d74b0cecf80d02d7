"""Tests of neuralign.metrics.multimodal."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.metrics.multimodal import coherence, latent_accuracy, log_mean_exp


def test_latent_accuracy_separable_vs_random_latents():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 40)
    separable = np.eye(4)[labels] * 5 + rng.standard_normal((160, 4)) * 0.3
    noise = rng.standard_normal((160, 4))
    assert latent_accuracy(separable[::2], labels[::2], separable[1::2], labels[1::2]) > 0.95
    assert latent_accuracy(noise[::2], labels[::2], noise[1::2], labels[1::2]) < 0.5
    # (trials, time, d) inputs are flattened per trial
    assert latent_accuracy(separable[::2, None], labels[::2], separable[1::2, None], labels[1::2]) > 0.95


def test_coherence_and_log_mean_exp():
    assert coherence(np.array([1, 2, 3, 3]), np.array([1, 2, 3, 4])) == 0.75
    weights = np.log(np.array([[1.0, 3.0], [3.0, 5.0]]))
    np.testing.assert_allclose(log_mean_exp(weights, axis=0), np.log([2.0, 4.0]))
    np.testing.assert_allclose(log_mean_exp(np.array([-1000.0, -1000.0])), -1000.0)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="test_labels"):
        latent_accuracy(np.zeros((4, 2)), [0, 1, 0, 1], np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="labels"):
        latent_accuracy(np.zeros((4, 2)), [0, 0, 0, 0], np.zeros((3, 2)), [0, 1, 0])
    with pytest.raises(ValueError, match="intended"):
        coherence(np.array([1, 2]), np.array([1]))
    with pytest.raises(ValueError, match="log_weights"):
        log_mean_exp(np.array([np.nan]))
