"""Tests of neuralign.analysis.regions: displacement, per-class means, aligned 2-D views, latent-dim choice."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.analysis.regions import (aligned_views, choose_latent_dims, displacement, displacements,
                                        shared_space)


@pytest.fixture(scope="module")
def z() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((200, 2))


def test_displacement_of_a_shift_and_of_identical_sets(z):
    np.testing.assert_allclose(displacement(z, z + np.array([3.0, 4.0])), 5.0)
    np.testing.assert_allclose(displacement(z, z), 0.0)


def test_different_dimensions_go_through_cca(z):
    wide = np.concatenate([z, np.random.default_rng(1).standard_normal((200, 3))], 1)
    a, b = shared_space(z, wide)
    assert a.shape == b.shape == (200, 2)
    assert displacement(z, wide).shape == (200,)
    a, b = shared_space(z, 2 * z, project="cca")
    np.testing.assert_allclose(np.abs(np.corrcoef(a[:, 0], b[:, 0])[0, 1]), 1.0, atol=1e-6)


def test_per_class_means_follow_the_labels(z):
    labels = np.repeat([0, 1], 100)
    moved = z.copy()
    moved[labels == 1] += np.array([0.0, 2.0])
    result = displacements({"a": z, "b": moved, "c": moved}, labels)
    assert result.pairs == ["a->b", "b->c"]
    np.testing.assert_allclose(result.per_class, [[0.0, 2.0], [0.0, 0.0]], atol=1e-12)
    assert result.as_dict()["classes"] == [0, 1]
    assert displacements({"a": z, "b": z}).per_class.size == 0


def test_aligned_views_undo_rotations(z):
    theta = 1.1
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    three_d = np.concatenate([z * [3.0, 1.0], np.zeros((200, 1))], 1)
    views = aligned_views({"a": z * [3.0, 1.0], "b": (z * [3.0, 1.0]) @ rotation * 2.0, "c": three_d})
    assert all(v.shape == (200, 2) for v in views.values())
    np.testing.assert_allclose(views["b"], views["a"], atol=1e-8)
    np.testing.assert_allclose(views["c"], views["a"], atol=1e-8)


def test_choose_latent_dims_returns_the_largest_when_the_threshold_is_not_reached(z):
    choice = choose_latent_dims({"r": z}, threshold=0.999, candidates=(2, 1), max_epochs=2, hidden_size=8,
                                n_hidden_layers=1, batch_size=64)
    assert choice.dims == {"r": 2} and choice.reached == {"r": False} and set(choice.explained["r"]) == {1, 2}


def test_choose_latent_dims_falls_back_to_the_best_dim_when_asked(z):
    choice = choose_latent_dims({"r": z}, threshold=0.999, candidates=(1, 2, 3), max_epochs=2, hidden_size=8,
                                n_hidden_layers=1, batch_size=64, fallback="best")
    explained = choice.explained["r"]
    assert choice.dims == {"r": max(explained, key=explained.get)} and choice.reached == {"r": False}
    with pytest.raises(ValueError, match="fallback"):
        choose_latent_dims({"r": z}, fallback="smallest")


@pytest.mark.slow
def test_choose_latent_dims_stops_at_the_threshold():
    rng = np.random.default_rng(2)
    latent = rng.standard_normal((240, 2))
    x = latent @ rng.standard_normal((2, 10)) + 0.05 * rng.standard_normal((240, 10))
    choice = choose_latent_dims({"r": x}, threshold=0.8, candidates=(1, 2, 3), max_epochs=60, hidden_size=32,
                                n_hidden_layers=1, batch_size=64)
    assert choice.dims == {"r": 2} and choice.reached == {"r": True}
    assert set(choice.explained["r"]) == {1, 2} and choice.explained["r"][1] < 0.8 <= choice.explained["r"][2]


@pytest.mark.parametrize("call, match", [
    (lambda z: displacement(z, z[:, :1], project="none"), "project"),
    (lambda z: displacement(z, z, project="pca"), "project"),
    (lambda z: displacements({"a": z}), "latents"),
    (lambda z: displacements({"a": z, "b": z[:10]}), "latents"),
    (lambda z: displacements({"a": z, "b": z}, np.zeros(3)), "labels"),
    (lambda z: choose_latent_dims({"a": z}, threshold=1.5), "threshold"),
    (lambda z: choose_latent_dims({"a": z}, candidates=[]), "candidates"),
])
def test_bad_inputs_name_the_argument(z, call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(z)
