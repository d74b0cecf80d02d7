"""Tests of neuralign.data.paired (ring_digits, paired_digits, neural_behavior, split_modalities)."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.data.datasets import load
from neuralign.data.paired import neural_behavior, split_modalities
from neuralign.data.trialdata import TrialData


def test_ring_digits_pairs_each_digit_with_a_point_of_its_class_cluster():
    data = load("ring_digits", radius=2.0, std=0.05, n_per_class=10, seed=1)
    ring, digit = data["ring"], data["digit"]
    assert ring.counts.shape == (80, 1, 2) and digit.counts.shape == (80, 1, 64)
    np.testing.assert_array_equal(ring.labels, digit.labels)
    assert set(ring.labels) == set(range(1, 9)) and 0 <= digit.counts.min() and digit.counts.max() <= 1
    angles = 2 * np.pi * (ring.labels - 1) / 8
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    assert np.abs(ring.counts[:, 0] - centres).max() < 0.05 * 5


def test_paired_digits_second_view_is_another_transposed_image_of_the_class():
    data = load("paired_digits", n_per_class=5, seed=0)
    first, second = data["digit"].counts[:, 0], data["transposed"].counts[:, 0]
    untransposed = second.reshape(-1, 8, 8).transpose(0, 2, 1).reshape(-1, 64)
    assert not np.allclose(first, untransposed)  # a different image ...
    for index in range(len(first)):  # ... that is one of the same class's images
        same_class = first[data["digit"].labels == data["digit"].labels[index]]
        assert np.isclose(same_class, untransposed[index]).all(axis=1).any()


def test_neural_behavior_and_split_modalities():
    session = load("synthetic_reach", n_trials=24, n_time=6, n_units=5, seed=0)
    data = neural_behavior(session)
    assert data["velocity"].signal == "continuous"
    np.testing.assert_array_equal(data["velocity"].counts, session.behavior)
    train, test = split_modalities(data, 0.25, seed=0)
    assert train["spikes"].n_trials == 18 and test["velocity"].n_trials == 6
    np.testing.assert_array_equal(test["spikes"].labels, test["velocity"].labels)
    with pytest.raises(ValueError, match="behavior"):
        neural_behavior(TrialData(np.zeros((2, 3, 4))))
    with pytest.raises(ValueError, match="radius"):
        load("ring_digits", radius=-1.0)
